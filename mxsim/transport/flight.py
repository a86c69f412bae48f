"""Many jobs in one event loop: a bounded number in flight, results handed on in input order,
and work that concurrent jobs must not repeat done by the first of them.

`mxsim check` over many domains runs each domain's check as one job here. Most of a
check is waiting on name servers; with several domains in flight, one domain's waits are
spent on the others' work. What they share (the pacing per server address, the resolver's
cache, the referrals from the root, the probes of mail hosts) lives on their one wire.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import TypeVar

I = TypeVar("I")  # noqa: E741  # an item of work
R = TypeVar("R")
T = TypeVar("T")


class FirstOnly:
    """Work keyed by what it fills in (a TLD's referral): while one job does it for a key,
    the others with that key wait for it, then go on without it if it was done."""

    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Event] = {}

    async def run(self, key: Hashable, done: Callable[[], bool], job: Callable[[], Awaitable[T]]) -> T:
        while not done() and key in self._running:
            await self._running[key].wait()
        if done():
            return await job()  # what the first one learned serves this job too
        finished = self._running[key] = asyncio.Event()
        try:
            return await job()
        finally:
            del self._running[key]
            finished.set()


async def in_order(items: Sequence[I], start: Callable[[I], Awaitable[R]], emit: Callable[[R], None], *,
                   parallel: int, window: int) -> None:
    """`start(item)` for every item, at most `parallel` at once; each result passed to `emit`
    in the items' order, as soon as it and every one before it have finished.

    No item starts more than `window` places after the first unfinished one: a slow item
    holds back at most `window` finished results, so memory stays bounded whatever the
    number of items. If this is cancelled (Ctrl-C), the results already finished are passed
    on (in order, past any gap) before the cancellation goes on; the first error of a job
    stops the others and is raised.
    """
    parallel = max(1, parallel)
    window = max(window, parallel)
    running: dict[asyncio.Task[R], int] = {}
    finished: dict[int, R] = {}
    head = 0  # the first item not yet passed on
    following = 0  # the next item to start
    try:
        while head < len(items):
            while following < len(items) and len(running) < parallel and following < head + window:
                running[asyncio.ensure_future(start(items[following]))] = following
                following += 1
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in sorted(done, key=running.__getitem__):
                finished[running.pop(task)] = task.result()  # an error: raised, the rest cancelled below
            while head in finished:
                emit(finished.pop(head))
                head += 1
    except asyncio.CancelledError:
        for index in sorted(finished):
            emit(finished.pop(index))
        raise
    finally:
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
