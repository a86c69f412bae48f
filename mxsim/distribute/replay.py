"""`mxsim replay --workers N | --dask ADDRESS`: one task per run, merged by the plan's order.

Every run's replay is sent to the cluster at once (runs share nothing and send no
traffic); results come back as they complete (`as_completed`) and are placed by their
run, so the merged report is the one a single process writes. A worker that dies takes
its runs with it, and the scheduler runs them again on another worker.
"""

from __future__ import annotations

from collections.abc import Callable

from mxsim.commands.replay import MtaReplay
from mxsim.commands.replay_fanout import Plan, Run, run_config, run_one
from mxsim.distribute.cluster import Cluster, client_for, result_of


def run_on(cluster: Cluster, plan: Plan, done: Callable[[Run], None] | None = None) -> dict[Run, MtaReplay]:
    """Every run of the plan on the cluster; `done(run)` as each completes."""
    from distributed import as_completed

    results: dict[Run, MtaReplay] = {}
    with client_for(cluster) as client:
        futures = {client.submit(run_one, run_config(plan, run), pure=False): run for run in plan.runs}
        for future in as_completed(futures):
            run = futures[future]
            results[run] = result_of(future)
            if done is not None:
                done(run)
    return results
