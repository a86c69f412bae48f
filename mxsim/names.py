"""Fast keys and text for `dns.name.Name` on hot paths.

`Name.__hash__` walks every character in Python (about 9 µs a call here); the replay
hashes names hundreds of thousands of times. A tuple of lower-cased labels hashes in C
and compares the same way DNS names do (case-insensitively).
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Final

import dns.name

NameKey = tuple[bytes, ...]


def key(name: dns.name.Name) -> NameKey:
    labels = name.labels
    known = _KEYS.get(labels)  # the labels' bytes keep their hashes: a lookup beats lowering them
    if known is None:
        if len(_KEYS) >= _KEYS_HELD:
            _KEYS.clear()
        known = _KEYS[labels] = tuple(map(bytes.lower, labels))
    return known


_KEYS: Final[dict[tuple[bytes, ...], NameKey]] = {}
_KEYS_HELD: Final = 65536  # a bound on memory when names are many (a survey of many domains)


@functools.lru_cache(maxsize=16384)
def _text(labels: NameKey) -> str:
    return dns.name.Name(labels).to_text(omit_final_dot=True)


def text(name: dns.name.Name | str) -> str:
    """How names appear in logs and reports: lower case, no final dot."""
    if isinstance(name, str):
        return name.lower().rstrip(".") or "."
    return _text(key(name))


def ip_literal(name: dns.name.Name) -> str | None:
    """An IP address written as a name (`192.0.2.25.` as an MX exchange) -> "192.0.2.25"; else None."""
    return _ip_literal(name.labels)


@functools.lru_cache(maxsize=4096)
def _ip_literal(labels: NameKey) -> str | None:
    looks_v4 = len(labels) == 5 and all(label.isdigit() for label in labels[:4])
    if not looks_v4 and not any(b":" in label for label in labels):
        return None  # most names: spare the text conversion
    text = dns.name.Name(labels).to_text(omit_final_dot=True)
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None
