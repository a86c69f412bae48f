"""A batch run slows the garbage collector down while it runs, and puts it back after."""

from __future__ import annotations

import gc
import threading

from mxsim.commands.collection import OLDER, YOUNG, fewer_collections


def test_within_the_collector_is_slower_and_what_was_alive_is_frozen_after_as_before() -> None:
    before = gc.get_threshold()
    with fewer_collections():
        assert gc.get_threshold() == (YOUNG, OLDER, OLDER)
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_overlapping_runs_keep_it_slow_until_the_last_leaves() -> None:
    before = gc.get_threshold()
    entered, leave = threading.Event(), threading.Event()
    seen: list[tuple[int, int, int]] = []

    def other() -> None:
        with fewer_collections():
            entered.set()
            leave.wait(10)
            seen.append(gc.get_threshold())

    thread = threading.Thread(target=other)
    with fewer_collections():
        thread.start()
        assert entered.wait(10)
    assert gc.get_threshold() == (YOUNG, OLDER, OLDER)  # the other run is still inside
    leave.set()
    thread.join(10)
    assert seen == [(YOUNG, OLDER, OLDER)]
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_an_error_inside_still_puts_it_back() -> None:
    before = gc.get_threshold()
    try:
        with fewer_collections():
            raise ValueError("a check failed")
    except ValueError:
        pass
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
