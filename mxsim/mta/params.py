"""MTA parameters by the MTA's own names: typed, documented, overridable.

`-o smtp_mx_address_limit=3` and a Postfix `main.cf` (or `postconf -n` output) set them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from difflib import get_close_matches
from enum import StrEnum
from pathlib import Path
from typing import Final

from mxsim.errors import ParameterError
from mxsim.pickling import by_fields
from mxsim.units import format_duration, parse_duration

Value = str | int | float | bool | tuple[str, ...]


class Kind(StrEnum):
    DURATION = "duration"
    INT = "int"
    BOOL = "bool"
    CHOICE = "choice"
    LIST = "list"
    TEXT = "text"


NONE_SHOWN: Final = "(none)"  # how `mxsim params` shows an empty list; read back as one
_TRUE: Final = {"yes", "true", "on", "1"}
_FALSE: Final = {"no", "false", "off", "0"}


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: Kind
    default: Value
    doc: str
    source: str  # where the default comes from: the upstream source file (and line), or the RFC
    choices: tuple[str, ...] = ()
    unit: str = "s"  # a bare number's unit, for durations
    minimum: int = 0  # the smallest integer the MTA accepts (counts and limits are never negative)

    def parse(self, text: str) -> Value:
        raw = text.strip()
        try:
            if self.kind == Kind.DURATION:
                return parse_duration(raw, default_unit=self.unit)
            if self.kind == Kind.INT:
                number = int(raw)
                if number < self.minimum:
                    raise ValueError(f"expected a whole number of at least {self.minimum}")
                return number
            if self.kind == Kind.BOOL:
                if raw.lower() in _TRUE:
                    return True
                if raw.lower() in _FALSE:
                    return False
                raise ValueError("expected yes or no")
            if self.kind == Kind.CHOICE:
                if raw not in self.choices:
                    raise ValueError(f"expected one of: {', '.join(self.choices)}")
                return raw
            if self.kind == Kind.LIST:
                if raw == NONE_SHOWN:
                    return ()
                # Items part at commas, white space, or a colon with space around it (Exim's
                # list separator): a bare colon belongs to an IPv6 address such as ::1/128.
                return tuple(item for item in re.split(r"\s+:\s+|[\s,]+", raw) if item)
        except ValueError as error:
            raise ParameterError(f"{self.name} = {text!r}: {error}") from None
        return raw

    def show(self, value: Value) -> str:
        if self.kind == Kind.DURATION:
            assert isinstance(value, float | int)
            return format_duration(float(value))
        if self.kind == Kind.BOOL:
            return "yes" if value else "no"
        if isinstance(value, tuple):
            return " ".join(value) if value else NONE_SHOWN
        return str(value)


class Settings:
    """A profile's parameter values: defaults, then overrides. Read with typed getters."""

    def __init__(self, params: Iterable[Param], mta: str, overrides: Mapping[str, str] | None = None) -> None:
        self.mta = mta
        self.params = {param.name: param for param in params}
        self.values: dict[str, Value] = {name: p.default for name, p in self.params.items()}
        self.overridden: dict[str, Value] = {}
        for name, text in (overrides or {}).items():
            self.set(name, text)

    def set(self, name: str, text: str) -> None:
        param = self.params.get(name)
        if param is None:
            hint = get_close_matches(name, list(self.params), n=1)
            did_you_mean = f" (did you mean {hint[0]}?)" if hint else ""
            raise ParameterError(f"{self.mta} has no parameter {name!r}{did_you_mean}")
        value = param.parse(text)
        self.values[name] = value
        self.overridden[name] = value

    def seconds(self, name: str) -> float:
        value = self.values[name]
        assert isinstance(value, float | int) and not isinstance(value, bool)
        return float(value)

    def integer(self, name: str) -> int:
        value = self.values[name]
        assert isinstance(value, int) and not isinstance(value, bool)
        return value

    def flag(self, name: str) -> bool:
        value = self.values[name]
        assert isinstance(value, bool)
        return value

    def text(self, name: str) -> str:
        value = self.values[name]
        assert isinstance(value, str)
        return value

    def items(self, name: str) -> tuple[str, ...]:
        value = self.values[name]
        assert isinstance(value, tuple)
        return value


def parse_overrides(pairs: Iterable[str]) -> dict[str, str]:
    """`-o NAME=VALUE` options -> {NAME: VALUE}."""
    found: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ParameterError(f"-o {pair!r}: expected NAME=VALUE, e.g. -o smtp_mx_address_limit=3")
        found[name.strip()] = value.strip()
    return found


def read_main_cf(path: Path, known: Iterable[str]) -> dict[str, str]:
    """Parameters from a Postfix main.cf or `postconf -n` output that the profile models.

    Continuation lines (leading white space) join the previous line, `#` starts a
    comment, as postconf(5) says. Parameters the model does not use are left out, since
    a real main.cf holds dozens that do not bear on routing.
    """
    try:
        text = path.read_text()
    except OSError as error:
        raise ParameterError(f"{path}: cannot read: {error.strerror}") from None
    wanted = set(known)
    logical: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0].isspace() and logical:
            start, previous = logical[-1]
            logical[-1] = (start, f"{previous} {line.strip()}")
        else:
            logical.append((number, line.strip()))
    found: dict[str, str] = {}
    for number, line in logical:
        name, sep, value = line.partition("=")
        if not sep:
            raise ParameterError(f"{path}:{number}: expected NAME = VALUE, got {line!r}")
        if name.strip() in wanted:
            found[name.strip()] = value.strip()
    return found


by_fields(globals())  # frozen dataclasses pickle alike in the compiled build (mxsim/pickling.py)
