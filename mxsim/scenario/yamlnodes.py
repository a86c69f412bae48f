"""YAML read as nodes that remember their lines, so every scenario error can point at one.

`yaml.safe_load` throws line numbers away and keeps the last of two equal keys; the
composer keeps both. `parse_document` composes with the SafeLoader, rejects duplicate
keys anywhere in the document, and hands back a `Node`; the loader reads values through
the typed accessors below, which raise `ScenarioError` naming the file and line.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterator
from dataclasses import dataclass

import yaml
import yaml.constructor

from mxsim.errors import ScenarioError

_TAG = "tag:yaml.org,2002:"
_NULL = _TAG + "null"
_BOOL = _TAG + "bool"
_INT = _TAG + "int"
_FLOAT = _TAG + "float"
_MERGE = _TAG + "merge"
_LITERAL = "|"


def parse_document(text: str, file: str) -> Node:
    """The document's root node. An empty document is an error: a scenario needs `mxsim: 1`."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, file) from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise ScenarioError(f"cannot read the file: {exc.reason}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(_one_line(f"YAML error: {exc}"), file=file, line=None) from None
    if root is None:
        raise ScenarioError(
            "the file is empty; a scenario starts with `mxsim: 1`", file=file, line=1
        )
    _check_keys_unique(root, file, set())
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


def _check_keys_unique(node: yaml.Node, file: str, seen: set[int]) -> None:
    # Aliases make the tree a graph (even a cyclic one); visit each node once.
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        for key, value in node.value:
            name = _key_text(key, file)
            line = key.start_mark.line + 1
            if name in first_line:
                first = first_line[name]
                raise ScenarioError(
                    f"duplicate key `{name}` (first at line {first}, again at line {line})",
                    file=file,
                    line=line,
                )
            first_line[name] = line
            _check_keys_unique(value, file, seen)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_keys_unique(item, file, seen)


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


def describe(node: yaml.Node) -> str:
    """How a value reads in an error message: 'a list', 'null', 'the number 3'."""
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == _NULL:
        return "nothing (null)"
    if node.tag == _BOOL:
        return f"the boolean {node.value}"
    if node.tag in (_INT, _FLOAT):
        return f"the number {node.value}"
    return f"{node.value!r}"


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
        return yaml.constructor.SafeConstructor().construct_object(self.raw)

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
                raise entry.error(
                    f"unknown key `{entry.key}` in {what}; {did_you_mean(entry.key, allowed)}"
                )


def did_you_mean(word: str, choices: Collection[str]) -> str:
    """'did you mean `x`?' for the closest choice, or the list of choices when none is close."""
    by_lower = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    if close:
        return f"did you mean `{by_lower[close[0]]}`?"
    if not choices:
        return "there is nothing to choose from"
    return "expected one of: " + ", ".join(sorted(choices))
