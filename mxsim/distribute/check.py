"""`mxsim check --workers N | --dask ADDRESS`: the batch on a Dask cluster, results as they come.

The domains are grouped by the name servers they share (`server_groups`) and each group
is cut into chunks, one task each, which a worker checks with `check_group` over the
wire it keeps for the batch (its pacing and its resolver's cache span the chunks).
With `--rate` set, a group has one chunk in flight at a time, so a server's queries a
second stay what `--rate` says however many workers there are; with no pacing (a lab's
own servers), all chunks go out at once.
Results come back chunk by chunk (`as_completed`) to the caller's writer. A worker that
dies takes its unfinished chunk with it, and the scheduler runs that chunk again on
another worker; a domain already passed on is never passed on again.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from mxsim.commands.check_batch import check_group, uninterrupted
from mxsim.commands.check_run import CheckConfig, CheckResult, SharedWire, shared_wire
from mxsim.distribute.cluster import Cluster, client_for, result_of, slots
from mxsim.distribute.server_groups import server_groups

if TYPE_CHECKING:
    from distributed import Client, Future

CHUNK = 25  # domains a task at most: enough to share a wire's cache, few enough to stream and balance
CHUNKS_PER_SLOT = 4  # a small batch is still cut fine enough for every worker to have some
BatchRunner = Callable[[CheckConfig, Sequence[str], Callable[[CheckResult], None]], None]


_wires: dict[str, SharedWire] = {}  # this worker process's wire for the batch it serves (one at a time)
_wire_lock = threading.Lock()


def check_chunk(base: CheckConfig, domains: Sequence[str], batch: str) -> list[CheckResult]:
    """The task a worker runs: a chunk of one server group, in order.

    A worker keeps one wire for the batch, as a single process does: a mail host shared by
    many domains is probed once per worker, not once per chunk, and its pacing and cache
    span every chunk the worker runs. Chunks run one at a time on it (a worker given more
    threads gains nothing here: the wire's own event loop is where the concurrency is).
    """
    with _wire_lock:
        if batch not in _wires:
            _wires.clear()  # an earlier batch's wire: its run is over
            _wires[batch] = shared_wire(base)
        return check_group(base, domains, _wires[batch])


class Chunks:
    """The groups cut into chunks, released as `--rate` allows: with pacing, one chunk of a
    group at a time (the next when the last completes); without, all at once."""

    def __init__(self, groups: Sequence[Sequence[str]], size: int, paced: bool) -> None:
        self._waiting = [deque(list(g[i:i + size]) for i in range(0, len(g), size)) for g in groups]
        self._paced = paced

    def first(self) -> list[tuple[int, list[str]]]:
        """(group, chunk) for each chunk that may start now."""
        return [(index, queue.popleft()) for index, queue in enumerate(self._waiting)
                for _ in range(min(1, len(queue)) if self._paced else len(queue))]

    def after(self, index: int) -> list[tuple[int, list[str]]]:
        """What may start once a chunk of group `index` has completed."""
        queue = self._waiting[index]
        return [(index, queue.popleft())] if queue else []


def distributed_runner(cluster: Cluster) -> BatchRunner:
    def run(base: CheckConfig, domains: Sequence[str], emit: Callable[[CheckResult], None]) -> None:
        todo = list(domains)
        if not todo:
            return
        groups = server_groups(base, todo)
        with client_for(cluster) as client:
            stream(client, base, groups, emit)

    return run


def stream(client: Client, base: CheckConfig, groups: list[list[str]], emit: Callable[[CheckResult], None]) -> None:
    """Every group's chunks on the cluster; each result passed to `emit` once, as its chunk completes."""
    from distributed import as_completed

    total = sum(len(g) for g in groups)
    size = max(1, min(CHUNK, math.ceil(total / (CHUNKS_PER_SLOT * slots(client)))))
    release = Chunks(groups, size, paced=base.rate > 0)
    batch = uuid.uuid4().hex
    group_of: dict[Future[Any], int] = {}

    def submit(ready: list[tuple[int, list[str]]]) -> list[Future[Any]]:
        futures = [client.submit(check_chunk, base, chunk, batch, pure=False) for _, chunk in ready]
        group_of.update(zip(futures, (index for index, _ in ready), strict=True))
        return futures

    passed: set[str] = set()
    completed = as_completed(submit(release.first()))
    for future in completed:
        results: list[CheckResult] = result_of(future)
        for result in results:
            if result.domain not in passed:
                passed.add(result.domain)
                with uninterrupted():  # Ctrl-C lands between two domains, as in one process
                    emit(result)
        for following in submit(release.after(group_of.pop(future))):
            completed.add(following)
