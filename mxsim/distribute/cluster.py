"""Where the work runs: a local Dask cluster of N processes, or a scheduler already running."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mxsim.errors import MxsimError, UsageError
from mxsim.exits import ExitCode

if TYPE_CHECKING:
    from distributed import Client, Future

CONNECT_WAIT = 10.0  # seconds to reach a scheduler given with --dask
INSTALL_HINT = "pip install 'mxsim[dask]'"


class ClusterError(MxsimError):
    """The cluster lost the work (a task's workers died again and again, the scheduler went away)."""

    exit_code = ExitCode.INTERNAL_ERROR


@dataclass(frozen=True, slots=True)
class Cluster:
    """`--workers N` (a local cluster) or `--dask ADDRESS` (an existing scheduler), never both."""

    workers: int | None = None
    address: str | None = None

    @property
    def option(self) -> str:
        return f"--dask {self.address}" if self.address is not None else f"--workers {self.workers}"


def cluster_of(workers: int | None, address: str | None) -> Cluster | None:
    """The cluster asked for, None for none; Dask must be installed before any work starts."""
    if workers is None and address is None:
        return None
    if workers is not None and address is not None:
        raise UsageError("give --workers N (a cluster on this machine) or --dask ADDRESS, not both")
    if workers is not None and workers < 1:
        raise UsageError(f"--workers {workers}: expected at least 1")
    cluster = Cluster(workers, address)
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise UsageError(f"{cluster.option} needs Dask, which is not installed: {INSTALL_HINT}") from None
    return cluster


@contextmanager
def client_for(cluster: Cluster) -> Iterator[Client]:
    """A client of the cluster; a local cluster is started here and stopped on the way out."""
    from distributed import Client, LocalCluster

    if cluster.address is not None:
        try:
            client = Client(cluster.address, timeout=CONNECT_WAIT)
        except (OSError, ValueError) as error:  # a refused or timed-out connection, an unparsable address
            raise UsageError(f"--dask {cluster.address}: no Dask scheduler answered ({error})") from None
        with client:
            yield client
        return
    # One thread a worker: a task drives its own event loop over the wire, and processes,
    # not threads, are what spread it over the cores.
    with LocalCluster(n_workers=cluster.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=logging.ERROR) as local, Client(local) as client:
        yield client


def slots(client: Client) -> int:
    """Tasks the cluster runs at once (threads over all workers), at least one."""
    threads: dict[str, int] = client.nthreads()
    return max(1, sum(threads.values()))


def result_of(future: Future[Any]) -> Any:
    """A task's result; the task's own error (a bad input) as it was raised, a lost task as ClusterError."""
    from distributed.client import FutureCancelledError
    from distributed.scheduler import KilledWorker

    try:
        return future.result()
    except (KilledWorker, FutureCancelledError) as error:
        raise ClusterError(f"the Dask cluster lost a task: {error}") from None
