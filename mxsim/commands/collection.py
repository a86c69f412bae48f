"""The garbage collector's pace for a long run of many small checks: fewer, cheaper passes.

A check of many domains parses thousands of replies and builds a model world per domain:
millions of short-lived objects. CPython's cyclic collector starts a young-generation pass
every 700 allocations not yet freed (`gc.get_threshold()`), and every tenth and hundredth
of those passes reaches the older generations, walking every object tracked there: the
modules, the run's caches and memos, which live as long as the run. On the 1,000-zone
benchmark that was about a fifth of the client's CPU. Here the objects alive when the run
starts are frozen (`gc.freeze()`: never scanned again) and the passes come less often.
Reference counting still frees everything acyclic at once; cycles wait a little longer, and
memory stays flat (the benchmark's peak is unchanged). Nothing a check reports depends on
when the collector runs.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG = 50_000  # allocations between young passes (CPython's default: 700)
OLDER = 20  # young passes per middle pass, and middle passes per full pass (default: 10)


_lock = threading.Lock()
_within = 0  # runs inside `fewer_collections` now (a worker may run several groups in threads)
_before: tuple[int, int, int] = gc.get_threshold()


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Within: what was alive at the first entry frozen, and collections at `YOUNG`/`OLDER`;
    once the last run inside has left, the thresholds as before and nothing frozen."""
    global _within, _before
    with _lock:
        if _within == 0:
            _before = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(YOUNG, OLDER, OLDER)
        _within += 1
    try:
        yield
    finally:
        with _lock:
            _within -= 1
            if _within == 0:
                gc.set_threshold(*_before)
                gc.unfreeze()
