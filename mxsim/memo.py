"""Values remembered per object, by identity: for dnspython objects that are costly to hash.

A `dns.name.Name` hashes by walking its labels and an Rdata by encoding itself, so the
hot paths that meet the same object again and again (the same query message, the same
cached RRset) key on `id()` instead. The object is kept alive beside its value, so its
id cannot be reused by another while the entry stands; once `size` are held, all are
forgotten, which bounds the memory.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Hashable
from typing import Final, Generic, TypeVar

import dns.name

NO_MEMO: Final = "MXSIM_NO_MEMO"


def shortcuts_enabled() -> bool:
    """Whether replay may skip work whose result it already knows (cached answers).

    `MXSIM_NO_MEMO=1` switches every such shortcut off, so a test can show that a run
    with them and one without print the same bytes. Read when a run is assembled, not
    per message: the environment does not change under a running replay.
    """
    return os.environ.get(NO_MEMO, "") != "1"


@functools.lru_cache(maxsize=4096)
def name_from_text(text: str) -> dns.name.Name:
    """`dns.name.from_text`, parsed once per text: a Name is immutable, so one object
    serves every attempt that writes the same domain (parsing is ~30 µs a call)."""
    return dns.name.from_text(text)


V = TypeVar("V")


class IdentityMemo(Generic[V]):
    def __init__(self, size: int) -> None:
        self._size = size
        self._items: dict[tuple[int, Hashable], tuple[object, V]] = {}

    def get(self, obj: object, extra: Hashable = None) -> V | None:
        """The value put for this very object (and `extra`), or None."""
        hit = self._items.get((id(obj), extra))
        return hit[1] if hit is not None and hit[0] is obj else None

    def put(self, obj: object, value: V, extra: Hashable = None) -> V:
        if len(self._items) >= self._size:
            # All at once: dropping the oldest entry one by one leaves a dict's head full of
            # holes that the next `iter` walks (3.8 µs a put at 8,192 entries, not 0.1).
            self._items.clear()
        self._items[(id(obj), extra)] = (obj, value)
        return value
