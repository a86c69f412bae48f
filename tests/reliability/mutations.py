"""Structure-aware mutations of the bundled scenarios.

A bundled scenario is parsed to a YAML tree; a few operations change the tree (drop,
duplicate or rename keys, swap values for values of another type or odd shape, rewrite
zone text and zone origins, plant YAML tags, aliases and deep nesting), the tree is written
back as YAML, and a last, rarer pass damages the bytes (non-UTF-8, NUL, CR, truncation).
What the file says is kept in `Mutant.ops`, readable, for reports and replay.

Tags, aliases, duplicate keys and deep nesting cannot be written by a YAML dumper: the tree
holds a placeholder word there, replaced in the written text by the raw YAML.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from typing import Any

import yaml

from tests.reliability.choice import Chooser, coin, pick
from tests.reliability.values import LABEL63, odd_name, odd_scalar, odd_value

SCENARIO_FILE = "scenario.yaml"
# A file outside the scenario's folder that no error message may ever quote.
CANARY = "mxsim-canary-3f9c1e"
OUTSIDE = "../outside/secret.txt"
MAX_BYTES = 2_000_000  # a scenario file a person could send; the loader's limits are checked below it

RAW_SNIPPETS: tuple[tuple[str, str], ...] = (
    ("!!python/name:os.system ''", "tag !!python/name"),
    ("!!python/object/apply:os.system ['true']", "tag !!python/object/apply"),
    ("!!int x", "tag !!int on a word"),
    ("!!float x", "tag !!float on a word"),
    ("!!timestamp x", "tag !!timestamp on a word"),
    ("!!binary '@@@'", "tag !!binary, bad base64"),
    ("!!set {a, b}", "tag !!set"),
    ("!!omap [a: 1]", "tag !!omap"),
    ("!custom x", "local tag"),
    ("*nowhere", "undefined alias"),
    ("&loop [*loop]", "self-referencing anchor"),
    ("[" * 500, "500 open brackets"),
    ("{" * 500, "500 open braces"),
    ("[" * 200 + "]" * 200, "200 nested lists"),
    ("'unterminated", "unterminated quote"),
    ('"\\x"', "bad escape"),
    ("? [a, b]\n  : c", "complex key"),
    ("|\n  x\n-", "broken block scalar"),
    ("{a: 1, a: 2}", "duplicate keys in a flow mapping"),
    ("2001-02-03", "date"),
    ("0o777", "octal"),
    ("1_000", "underscored number"),
    ("~", "tilde null"),
)


@dataclass
class Mutant:
    """One mutated scenario: the file's bytes, the files beside it, and what was done."""

    base: str
    ops: list[str] = field(default_factory=list)
    text: bytes = b""
    extra: dict[str, bytes] = field(default_factory=dict)  # relative path -> content

    def describe(self) -> str:
        return f"{self.base}: " + "; ".join(self.ops)


@cache
def bundled() -> dict[str, str]:
    folder = files("mxsim").joinpath("scenarios")
    return {
        entry.name.removesuffix(".yaml"): entry.read_text(encoding="utf-8")
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".yaml")
    }


@cache
def _tree(name: str) -> Any:
    return yaml.safe_load(bundled()[name])


# -- walking the tree ---------------------------------------------------------------------

Place = tuple[Any, Any, tuple[str, ...]]  # container, key or index, path from the top


def _places(tree: Any) -> list[Place]:
    found: list[Place] = []
    stack: list[tuple[Any, tuple[str, ...]]] = [(tree, ())]
    seen: set[int] = set()
    while stack and len(found) < 5000:
        node, path = stack.pop()
        if id(node) in seen:  # an alias: the same object again
            continue
        seen.add(id(node))
        items = list(node.items()) if isinstance(node, dict) else list(enumerate(node)) if isinstance(
            node, list) else []
        for key, value in items:
            where = (*path, str(key))
            found.append((node, key, where))
            if isinstance(value, dict | list):
                stack.append((value, where))
    return found


def _zone_texts(places: list[Place]) -> list[Place]:
    """Places that hold zone text: values under `zones` and backends' `answer`."""
    return [p for p in places if isinstance(p[0][p[1]], str) and len(p[2]) >= 2
            and p[2][-2] in ("zones", "answer")]


def _named_keys(places: list[Place]) -> list[Place]:
    """Keys that are names: zone origins, server and host names, answer owners, pins."""
    return [p for p in places if isinstance(p[0], dict) and len(p[2]) >= 2
            and p[2][-2] in ("zones", "servers", "hosts", "answer", "pin")]


def _show(path: tuple[str, ...]) -> str:
    """A path for a report: long keys cut, control characters escaped (a report goes to a terminal)."""
    def one(part: str) -> str:
        shown = part if part.isprintable() else repr(part)[1:-1]
        return shown if len(shown) <= 40 else f"{shown[:20]}...({len(part)} chars)"

    return "/".join(one(part) for part in path)


class _Raw:
    """Placeholders for text a YAML dumper cannot write."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}

    def word(self, text: str) -> str:
        key = f"RAWPLACEHOLDER{len(self.texts)}X"
        self.texts[key] = text
        return key

    def apply(self, text: str) -> str:
        for key, raw in self.texts.items():
            text = text.replace(key, raw)
        return text


# -- operations ---------------------------------------------------------------------------


def _typo(key: str, chooser: Chooser) -> tuple[str, str]:
    return pick(chooser, (
        (key + "s", "plural"), (key.upper(), "upper case"), (key.replace("_", "-"), "hyphen for underscore"),
        (key[:-1], "last letter dropped"), (key + " ", "trailing space"), ("", "empty"),
        (key.replace("a", "а"), "Cyrillic a"),
    ))


def _drop(place: Place, chooser: Chooser, raw: _Raw, mutant: Mutant) -> None:
    container, key, path = place
    del container[key]
    mutant.ops.append(f"drop {_show(path)}")


def _duplicate(place: Place, chooser: Chooser, raw: _Raw, mutant: Mutant) -> None:
    container, key, path = place
    if isinstance(container, list):
        small = not isinstance(container[key], dict | list) and len(str(container[key])) < 300
        count = pick(chooser, (1, 100, 3000) if small else (1, 10))
        for _ in range(count):
            container.append(copy.deepcopy(container[key]))
        mutant.ops.append(f"duplicate {_show(path)} x{count}")
        return
    # A duplicate mapping key: the dumper cannot write one, the placeholder can.
    container[raw.word(yaml.safe_dump(str(key), default_style='"').strip().removesuffix("...").strip())] = (
        copy.deepcopy(container[key]))
    mutant.ops.append(f"duplicate key {_show(path)}")


def _rename(place: Place, chooser: Chooser, raw: _Raw, mutant: Mutant) -> None:
    container, key, path = place
    if not isinstance(container, dict):
        return _retype(place, chooser, raw, mutant)
    value = container.pop(key)
    if coin(chooser, 3):
        new_key: Any = pick(chooser, (1, True, None, 1.5, raw.word("[a, b]")))
        why = f"non-string key {new_key!r}"
    else:
        new_key, why = _typo(str(key), chooser)
    container[new_key] = value
    mutant.ops.append(f"rename {_show(path)} ({why})")
    return None


def _retype(place: Place, chooser: Chooser, raw: _Raw, mutant: Mutant) -> None:
    container, key, path = place
    value, why = odd_value(chooser)
    container[key] = value
    mutant.ops.append(f"set {_show(path)} to {why}")


def _raw_value(place: Place, chooser: Chooser, raw: _Raw, mutant: Mutant) -> None:
    container, key, path = place
    text, why = pick(chooser, RAW_SNIPPETS)
    container[key] = raw.word(text)
    mutant.ops.append(f"set {_show(path)} to {why}")


def _unknown_key(place: Place, chooser: Chooser, raw: _Raw, mutant: Mutant) -> None:
    container, _key, path = place
    target = container if isinstance(container, dict) else None
    if target is None:
        return
    name = pick(chooser, ("unknown", "zone", "Zones", "mxsim", "x" * 300))
    value, why = odd_value(chooser)
    target[name] = value
    mutant.ops.append(f"add key {name[:20]!r} = {why} beside {_show(path)}")


def _rename_name(place: Place, chooser: Chooser, raw: _Raw, mutant: Mutant) -> None:
    container, key, path = place
    name, why = odd_name(chooser)
    if name in container:
        return
    container[name] = container.pop(key)
    mutant.ops.append(f"rename name {_show(path)} ({why})")


# -- zone text ----------------------------------------------------------------------------

GENERATE_RANGES = ("1-10", "1-1000", "1-100000", "0-4294967295", "10-1", "-1-5", "1-10/0", "1-10/-1", "x-y")
TTLS = ("-1", "0", "4294967295", "4294967296", "99999999999999", "1w2d", "abc", "1e3", "")


def zone_line(chooser: Chooser) -> tuple[str, str]:
    """One hostile line of zone-file text."""
    kind = chooser.integer(0, 11)
    if kind == 0:
        span = pick(chooser, GENERATE_RANGES)
        return f"$GENERATE {span} g$ {pick(chooser, ('TXT x', 'A 192.0.2.1', 'MX 10 h$.example.'))}", \
            f"$GENERATE {span}"
    if kind == 1:
        ttl = pick(chooser, TTLS)
        return f"$TTL {ttl}", f"$TTL {ttl!r}"
    if kind == 2:
        name, why = odd_name(chooser)
        return f"$ORIGIN {name}", f"$ORIGIN {why}"
    if kind == 3:
        path = pick(chooser, ("/etc/passwd", OUTSIDE, "/proc/self/environ", "nowhere"))
        return f"$INCLUDE {path}", f"$INCLUDE {path}"
    if kind == 4:
        ttl = pick(chooser, TTLS)
        return f"x {ttl} A 192.0.2.1", f"record TTL {ttl!r}"
    if kind == 5:
        name, why = odd_name(chooser)
        return f"{name} A 192.0.2.1", f"owner {why}"
    if kind == 6:
        size = pick(chooser, (256, 70_000))
        return f'x TXT "{"t" * size}"', f"TXT of {size} characters"
    if kind == 7:
        label = pick(chooser, (LABEL63, LABEL63 + "a"))
        return f"@ MX 10 {label}.example.", f"MX target label of {len(label)}"
    if kind == 8:
        line = pick(chooser, ("@ CNAME @", "x CNAME y\ny CNAME x", "@ A 999.1.1.1", "@ AAAA ::g", "@ MX 65536 x.",
                              "@ MX 0 .", "@ SOA ns.", "( unbalanced", '@ TXT "unterminated', "@ IN CH A 192.0.2.1",
                              "@ TYPE65534 \\# 3 abcdef", "@ TYPE65534 \\# 300 ab", "* MX 0 .", "@ NS .",
                              "@ A 127.0.0.1", "@ A 0.0.0.0", "@ DNAME example.", "\x00", "@\rA 192.0.2.1",
                              "@ A 192.0.2.1 ; \udcff"))
        return line.replace("\udcff", "\\255"), f"line {line[:24]!r}"
    if kind == 9:
        count = pick(chooser, (100, 3000, 6000))
        return "\n".join(f"@ MX {i % 65536} m{i}.example." for i in range(count)), f"{count} MX records"
    if kind == 10:
        count = pick(chooser, (100, 3000))
        return "\n".join(f"h{i} A 192.0.2.{i % 250 + 1}" for i in range(count)), f"{count} A records"
    return "x " + "(\n" * 200 + "A 192.0.2.1", "200 open parentheses"


def mutate_zone_text(text: str, chooser: Chooser) -> tuple[str, str]:
    lines = text.splitlines()
    op = chooser.integer(0, 4)
    if op <= 1 or not lines:
        line, why = zone_line(chooser)
        at = chooser.integer(0, len(lines))
        return "\n".join([*lines[:at], line, *lines[at:]]) + "\n", f"insert {why}"
    at = chooser.integer(0, len(lines) - 1)
    if op == 2:
        return "\n".join(lines[:at] + lines[at + 1:]) + "\n", f"delete line {at + 1}"
    if op == 3:
        count = pick(chooser, (2, 1000, 6000))
        return "\n".join(lines[:at] + [lines[at]] * count + lines[at + 1:]) + "\n", f"line {at + 1} x{count}"
    return "", "empty zone text"


def _zone_text(place: Place, chooser: Chooser, raw: _Raw, mutant: Mutant) -> None:
    container, key, path = place
    text, why = mutate_zone_text(container[key], chooser)
    container[key] = text
    mutant.ops.append(f"zone text {_show(path)}: {why}")


def _zone_file(place: Place, chooser: Chooser, raw: _Raw, mutant: Mutant) -> None:
    """The zone moves to `file:`: beside the scenario, damaged, or pointed out of the folder."""
    container, key, path = place
    target = pick(chooser, ("zone.txt", "zone.txt", OUTSIDE, "/etc/passwd", "/proc/self/environ", "/dev/zero",
                            "missing.txt", "", "sub/../zone.txt", "zone.txt\x00x"))
    content = str(container[key]).encode()
    damage = pick(chooser, (b"", b"\xff\xfe", b"\x00", b"\xc3"))
    if damage:
        at = len(content) // 2
        content = content[:at] + damage + content[at:]
    container[key] = {"file": target}
    mutant.extra["zone.txt"] = content
    mutant.ops.append(f"zone {_show(path)} in file {target!r} (damage {damage!r})")


# -- bytes --------------------------------------------------------------------------------


def _damage_bytes(data: bytes, chooser: Chooser) -> tuple[bytes, str]:
    at = chooser.integer(0, len(data))
    op = chooser.integer(0, 6)
    if op == 0:
        return data[:at], f"cut at byte {at}"
    if op == 1:
        return data.replace(b"\n", b"\r\n"), "CR LF line ends"
    if op == 2:
        return b"\xef\xbb\xbf" + data, "byte-order mark"
    if op == 3:
        return b"%YAML 1.1\n---\n" + data + b"\n---\nmxsim: 1\n", "two documents"
    insert = pick(chooser, (b"\xff", b"\xc3", b"\x00", b"\r", b"\t", b"\x1b", b"\xed\xa0\x80"))
    return data[:at] + insert + data[at:], f"byte {insert!r} at {at}"


# -- the mutation -------------------------------------------------------------------------

_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's writer, where built with it: 5x faster
_OPS = (_retype, _drop, _rename, _duplicate, _raw_value, _unknown_key)


def mutate_scenario(chooser: Chooser, base: str | None = None, most: int = 4) -> Mutant:
    """A bundled scenario (drawn unless given) with one to `most` mutations."""
    name = base if base is not None else pick(chooser, sorted(bundled()))
    tree = copy.deepcopy(_tree(name))
    mutant = Mutant(name)
    raw = _Raw()
    for _ in range(chooser.integer(1, most)):
        places = _places(tree)
        if not places:
            break
        family = chooser.integer(0, 4)
        zones, names = _zone_texts(places), _named_keys(places)
        if family == 0 and zones:
            place = pick(chooser, zones)
            (_zone_file if coin(chooser, 5) else _zone_text)(place, chooser, raw, mutant)
        elif family == 1 and names:
            _rename_name(pick(chooser, names), chooser, raw, mutant)
        else:
            pick(chooser, _OPS)(pick(chooser, places), chooser, raw, mutant)
    text = raw.apply(yaml.dump(tree, Dumper=_DUMPER, allow_unicode=True, sort_keys=False, width=1 << 20))
    data = text.encode("utf-8", "surrogateescape")
    if len(data) > MAX_BYTES and most > 1:  # several large operations together: draw again, one only
        return mutate_scenario(chooser, name, most=1)
    if coin(chooser, 8):
        data, why = _damage_bytes(data, chooser)
        mutant.ops.append(why)
    mutant.text = data
    return mutant


def top_level_value(chooser: Chooser) -> tuple[str, str]:
    """A one-line scenario with an odd value for `name`, for the error-line properties."""
    value, why = odd_scalar(chooser)
    return yaml.safe_dump({"mxsim": 1, "name": value}, allow_unicode=True), f"name: {why}"
