"""Durations and probabilities as scenario files and MTA parameters write them."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
# A compound duration, as format_duration writes it and people do: 1h30m, 1h6m40s, 2d12h.
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_COMPOUND = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w)){2,}$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(text: str | int | float, *, default_unit: str = "s") -> float:
    """Seconds from `30s`, `5m`, `2h`, `4d`, `200ms`, `1h30m`, or a bare number in `default_unit`.

    Raises ValueError with a message fit for a user.
    """
    if isinstance(text, bool):
        raise ValueError(f"expected a duration such as 30s, 5m, 2h or 4d, got {text!r}")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f"a duration cannot be negative: {text!r}")
        return float(text) * _UNIT_SECONDS[default_unit]
    compact = text.strip().replace(" ", "")
    if _COMPOUND.match(compact):
        return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _PART.findall(compact))
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"expected a duration such as 30s, 5m, 2h, 4d or 1h30m, got {text!r}")
    number, unit = match.groups()
    return float(number) * _UNIT_SECONDS[unit or default_unit]


def format_duration(seconds: float) -> str:
    """Short human form, exact for whole units: 300 -> '5m', 4000 -> '1h6m40s'."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    rest = round(seconds)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def parse_probability(value: object) -> float:
    """A number in 0..1; ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a probability between 0 and 1, got {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"expected a probability between 0 and 1, got {value!r}")
    return float(value)
