"""YAML read as nodes that remember their lines, so every scenario error can point at one.

`yaml.safe_load` throws line numbers away and keeps the last of two equal keys. Here a
small composer builds the node tree from the parser's events (libyaml's when PyYAML has
it) and checks as it goes, so a hostile file fails at the line that is wrong rather than
after the whole file is built: no duplicate keys, plain keys only, the top-level keys
the caller allows, nesting at most `MAX_NESTING` deep, and no YAML tags beyond the plain
values. `parse_document` hands back a `Node`; the loader reads values through the typed
accessors below, which raise `ScenarioError` naming the file and line.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Protocol, cast

import yaml
import yaml.composer
import yaml.constructor
import yaml.resolver

from mxsim.errors import ScenarioError, shown
from mxsim.scenario.limits import MAX_NESTING

_TAG = "tag:yaml.org,2002:"
_NULL = _TAG + "null"
_BOOL = _TAG + "bool"
_INT = _TAG + "int"
_FLOAT = _TAG + "float"
_MERGE = _TAG + "merge"
_LITERAL = "|"
# Tags a file may write out (`!!str 1`): the plain values of YAML's core schema. Others
# name constructors (`!!python/name:`, `!!timestamp`, `!!binary`) the format has no use for.
_WRITABLE_TAGS = frozenset(_TAG + kind for kind in ("null", "bool", "int", "float", "str", "seq", "map"))
_NO_TAG = (None, "!")
_BAD_VALUE = (yaml.YAMLError, ArithmeticError, AttributeError, TypeError, ValueError)


class _Events(Protocol):
    """A YAML parser seen as the event stream it produces (PyYAML's or libyaml's)."""

    def check_event(self, *choices: type[yaml.Event]) -> bool: ...
    def peek_event(self) -> yaml.Event: ...
    def get_event(self) -> yaml.Event: ...
    def dispose(self) -> None: ...


def parse_document(text: str, file: str, top_keys: Collection[str] | None = None) -> Node:
    """The document's root node. An empty document is an error: a scenario needs `mxsim: 1`.

    With `top_keys`, a key of the root mapping outside them stops the reading at its line.
    """
    # libyaml's parser reads 1 MiB in about a second, PyYAML's own in about six.
    parser = yaml.CSafeLoader(text) if yaml.__with_libyaml__ else yaml.SafeLoader(text)
    events = cast(_Events, parser)
    try:
        root = _Composer(events, file, top_keys).document()
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, file) from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise ScenarioError(f"cannot read the file: {exc.reason}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(_one_line(f"YAML error: {exc}"), file=file, line=None) from None
    finally:
        events.dispose()
    if root is None:
        raise ScenarioError(
            "the file is empty; a scenario starts with `mxsim: 1`", file=file, line=1
        )
    return Node(root, file)


def _syntax_error(exc: yaml.MarkedYAMLError, file: str) -> ScenarioError:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    problem = exc.problem or "malformed YAML"
    context = (
        f" ({exc.context} at line {exc.context_mark.line + 1})"
        if (exc.context and exc.context_mark is not None)
        else ""
    )
    return ScenarioError(_one_line(f"YAML syntax error: {problem}{context}"), file=file, line=line)


def _one_line(message: str) -> str:
    return " ".join(message.split())


class _Composer:
    """Events -> nodes, as PyYAML's composer, with the checks above made on the way.

    An anchor is known once its node is complete, so an alias cannot point into the node
    that holds it: the tree is acyclic, and each node is built once.
    """

    def __init__(self, events: _Events, file: str, top_keys: Collection[str] | None) -> None:
        self.events = events
        self.file = file
        self.top_keys = top_keys
        self.resolver = yaml.resolver.Resolver()
        self.anchors: dict[str, yaml.Node] = {}

    def document(self) -> yaml.Node | None:
        self.events.get_event()  # the stream's start
        if self.events.check_event(yaml.StreamEndEvent):
            return None
        self.events.get_event()  # the document's start
        root = self.node(0)
        self.events.get_event()  # the document's end
        if not self.events.check_event(yaml.StreamEndEvent):
            extra = self.events.get_event()
            raise yaml.composer.ComposerError(
                "expected a single document in the stream", root.start_mark,
                "but found another document", _mark(extra.start_mark),
            )
        return root

    def error(self, event: yaml.Event, message: str) -> ScenarioError:
        line = event.start_mark.line + 1 if event.start_mark is not None else None
        return ScenarioError(message, file=self.file, line=line)

    def node(self, depth: int) -> yaml.Node:
        event = self.events.get_event()
        if isinstance(event, yaml.AliasEvent):
            known = self.anchors.get(str(event.anchor))
            if known is None:
                raise self.error(
                    event,
                    f"unknown alias `*{shown(str(event.anchor))}` (an alias names an anchor "
                    "whose value ends before it)",
                )
            return known
        assert isinstance(event, yaml.ScalarEvent | yaml.CollectionStartEvent)
        if event.tag not in _NO_TAG and event.tag not in _WRITABLE_TAGS:
            raise self.error(
                event,
                f"unsupported YAML tag `{shown(str(event.tag).replace(_TAG, '!!', 1))}`; "
                "a scenario holds plain "
                "strings, numbers, booleans, lists and mappings",
            )
        node: yaml.Node
        if isinstance(event, yaml.ScalarEvent):
            tag = event.tag if event.tag not in _NO_TAG else None
            tag = tag or self.resolve(yaml.ScalarNode, event.value, event.implicit)
            node = yaml.ScalarNode(
                tag, event.value, _mark(event.start_mark), _mark(event.end_mark), style=event.style
            )
        else:
            if depth >= MAX_NESTING:
                raise self.error(event, f"the YAML nests more than {MAX_NESTING} levels deep")
            node = self.collection(event, depth)
        if event.anchor is not None:
            self.anchors[event.anchor] = node
        return node

    def collection(self, start: yaml.CollectionStartEvent, depth: int) -> yaml.Node:
        kind = yaml.MappingNode if isinstance(start, yaml.MappingStartEvent) else yaml.SequenceNode
        tag = start.tag if start.tag not in _NO_TAG else None
        tag = tag or self.resolve(kind, None, start.implicit)
        first = _mark(start.start_mark)
        if kind is yaml.SequenceNode:
            items: list[yaml.Node] = []
            while not self.events.check_event(yaml.SequenceEndEvent):
                items.append(self.node(depth + 1))
            last = _mark(self.events.get_event().end_mark)
            return yaml.SequenceNode(tag, items, first, last, flow_style=start.flow_style)
        pairs: list[tuple[yaml.Node, yaml.Node]] = []
        first_line: dict[str, int] = {}
        while not self.events.check_event(yaml.MappingEndEvent):
            key = self.node(depth + 1)
            self.check_key(key, first_line, top=depth == 0)
            pairs.append((key, self.node(depth + 1)))
        last = _mark(self.events.get_event().end_mark)
        return yaml.MappingNode(tag, pairs, first, last, flow_style=start.flow_style)

    def resolve(self, kind: type[yaml.Node], value: str | None, implicit: object) -> str:
        return str(self.resolver.resolve(kind, value, implicit))  # type: ignore[no-untyped-call]

    def check_key(self, key: yaml.Node, first_line: dict[str, int], *, top: bool) -> None:
        name = _key_text(key, self.file)
        line = key.start_mark.line + 1
        if name in first_line:
            raise ScenarioError(
                f"duplicate key `{shown(name)}` (first at line {first_line[name]}, again at line {line})",
                file=self.file,
                line=line,
            )
        first_line[name] = line
        if top and self.top_keys is not None and name not in self.top_keys:
            raise ScenarioError(unknown_key(name, "the scenario", self.top_keys), file=self.file, line=line)


def _mark(mark: object) -> yaml.error.Mark | None:
    # libyaml's marks carry the same line and column as PyYAML's; the stubs keep them apart.
    return cast("yaml.error.Mark | None", mark)


def _key_text(key: yaml.Node, file: str) -> str:
    line = key.start_mark.line + 1
    if key.tag == _MERGE:
        raise ScenarioError(
            "YAML merge keys (`<<`) are not supported; write the keys out", file=file, line=line
        )
    if not isinstance(key, yaml.ScalarNode) or key.tag == _NULL:
        raise ScenarioError(
            "expected a plain key (a name, an address or a word)", file=file, line=line
        )
    return str(key.value)


def unknown_key(key: str, what: str, allowed: Collection[str]) -> str:
    return f"unknown key `{shown(key)}` in {what}; {did_you_mean(key, allowed)}"


def describe(node: yaml.Node) -> str:
    """How a value reads in an error message: 'a list', 'null', 'the number 3'."""
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == _NULL:
        return "nothing (null)"
    if node.tag == _BOOL:
        return f"the boolean {shown(str(node.value))}"
    if node.tag in (_INT, _FLOAT):
        return f"the number {shown(str(node.value))}"
    return f"'{shown(str(node.value))}'"


@dataclass(frozen=True, slots=True)
class Node:
    """One YAML value and where it stands (1-based line)."""

    raw: yaml.Node
    file: str

    @property
    def line(self) -> int:
        return int(self.raw.start_mark.line) + 1

    @property
    def is_null(self) -> bool:
        return isinstance(self.raw, yaml.ScalarNode) and self.raw.tag == _NULL

    @property
    def is_scalar(self) -> bool:
        return isinstance(self.raw, yaml.ScalarNode) and not self.is_null

    @property
    def is_mapping(self) -> bool:
        return isinstance(self.raw, yaml.MappingNode)

    @property
    def is_sequence(self) -> bool:
        return isinstance(self.raw, yaml.SequenceNode)

    @property
    def is_literal_block(self) -> bool:
        """A `|` block scalar: its text starts on the line after this node's line."""
        return isinstance(self.raw, yaml.ScalarNode) and self.raw.style == _LITERAL

    @property
    def value(self) -> object:
        """The Python value YAML's safe schema gives a scalar (None for null)."""
        if not isinstance(self.raw, yaml.ScalarNode):
            raise self.error(f"expected a single value, got {describe(self.raw)}")
        try:
            return yaml.constructor.SafeConstructor().construct_object(self.raw)
        except _BAD_VALUE:
            kind = str(self.raw.tag).removeprefix(_TAG)
            raise self.error(f"`{shown(str(self.raw.value))}` is not a valid {kind}") from None

    def error(self, message: str) -> ScenarioError:
        return ScenarioError(message, file=self.file, line=self.line)

    def describe(self) -> str:
        return describe(self.raw)

    def text(self, what: str) -> str:
        """A scalar's text as written (so `no` stays 'no' and `1:20` is not a number)."""
        if not self.is_scalar:
            raise self.error(f"expected {what}, got {self.describe()}")
        return str(self.raw.value)

    def texts(self, what: str) -> list[tuple[str, Node]]:
        """A list of scalars, or one scalar standing for a list of one."""
        if self.is_scalar:
            return [(self.text(what), self)]
        if not self.is_sequence:
            raise self.error(f"expected a list of {what}, got {self.describe()}")
        items = self.items(f"a list of {what}")
        return [(item.text(f"a list of {what}"), item) for item in items]

    def boolean(self, what: str) -> bool:
        if isinstance(self.raw, yaml.ScalarNode) and self.raw.tag == _BOOL:
            return bool(self.value)
        raise self.error(f"expected true or false for {what}, got {self.describe()}")

    def number(self, what: str) -> float:
        if isinstance(self.raw, yaml.ScalarNode) and self.raw.tag in (_INT, _FLOAT):
            value = self.value
            assert isinstance(value, int | float)
            return float(value)
        raise self.error(f"expected a number for {what}, got {self.describe()}")

    def items(self, what: str) -> list[Node]:
        if not isinstance(self.raw, yaml.SequenceNode):
            raise self.error(f"expected {what}, got {self.describe()}")
        return [Node(item, self.file) for item in self.raw.value]

    def mapping(self, what: str, allowed: Collection[str] | None = None) -> Mapping:
        """This node as a mapping; with `allowed`, any other key is an error with a hint."""
        if not isinstance(self.raw, yaml.MappingNode):
            raise self.error(f"expected a mapping for {what}, got {self.describe()}")
        entries = tuple(
            Entry(str(key.value), int(key.start_mark.line) + 1, Node(value, self.file))
            for key, value in self.raw.value
        )
        mapping = Mapping(self, entries)
        if allowed is not None:
            mapping.check_keys(allowed, what)
        return mapping


@dataclass(frozen=True, slots=True)
class Entry:
    """A mapping key (with its own line) and its value."""

    key: str
    line: int
    value: Node

    def error(self, message: str) -> ScenarioError:
        """An error about the key itself, reported at the key's line."""
        return ScenarioError(message, file=self.value.file, line=self.line)


@dataclass(frozen=True, slots=True)
class Mapping:
    node: Node
    entries: tuple[Entry, ...]

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, key: str) -> Entry | None:
        for entry in self.entries:
            if entry.key == key:
                return entry
        return None

    def check_keys(self, allowed: Collection[str], what: str) -> None:
        for entry in self.entries:
            if entry.key not in allowed:
                raise entry.error(unknown_key(entry.key, what, allowed))


def did_you_mean(word: str, choices: Collection[str]) -> str:
    """'did you mean `x`?' for the closest choice, or the list of choices when none is close."""
    by_lower = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    if close:
        return f"did you mean `{by_lower[close[0]]}`?"
    if not choices:
        return "there is nothing to choose from"
    return "expected one of: " + ", ".join(sorted(choices))
