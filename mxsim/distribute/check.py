"""`mxsim check --workers N | --dask ADDRESS`: the batch on a Dask cluster, results as they come.

The domains are grouped by the name servers they share (`server_groups`) and each group
is cut into chunks, one task each, which a worker checks with `check_group` over one wire
(sharing its pacing and its resolver's cache). With `--rate` set, a group has one chunk
in flight at a time, so a server's queries a second stay what `--rate` says however many
workers there are; with no pacing (a lab's own servers), all chunks go out at once.
Results come back chunk by chunk (`as_completed`) to the caller's writer. A worker that
dies takes its unfinished chunk with it, and the scheduler runs that chunk again on
another worker; a domain already passed on is never passed on again.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from mxsim.commands.check_batch import check_group
from mxsim.commands.check_run import CheckConfig, CheckResult
from mxsim.distribute.cluster import Cluster, client_for, result_of, slots
from mxsim.distribute.server_groups import server_groups

if TYPE_CHECKING:
    from distributed import Client, Future

CHUNK = 25  # domains a task at most: enough to share a wire's cache, few enough to stream and balance
CHUNKS_PER_SLOT = 4  # a small batch is still cut fine enough for every worker to have some
BatchRunner = Callable[[CheckConfig, Sequence[str], Callable[[CheckResult], None]], None]


def check_chunk(base: CheckConfig, domains: Sequence[str]) -> list[CheckResult]:
    """The task a worker runs: a chunk of one server group, in order, over one wire."""
    return list(check_group(base, domains))


def chunks(group: Sequence[str], size: int) -> Iterable[list[str]]:
    return (list(group[i:i + size]) for i in range(0, len(group), size))


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
    waiting = [deque(chunks(group, size)) for group in groups]
    paced = base.rate > 0
    group_of: dict[Future[Any], int] = {}

    def submit(index: int) -> Future[Any]:
        future = client.submit(check_chunk, base, waiting[index].popleft(), pure=False)
        group_of[future] = index
        return future

    first = [submit(i) for i, queue in enumerate(waiting) for _ in range(1 if paced else len(queue))]
    passed: set[str] = set()
    completed = as_completed(first)
    for future in completed:
        index = group_of.pop(future)
        results: list[CheckResult] = result_of(future)
        for result in results:
            if result.domain not in passed:
                passed.add(result.domain)
                emit(result)
        if waiting[index]:
            completed.add(submit(index))
