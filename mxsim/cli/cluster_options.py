"""`--workers N` and `--dask ADDRESS`: the options that put a batch on a Dask cluster."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mxsim.cli.app import fail
from mxsim.errors import MxsimError

if TYPE_CHECKING:
    from mxsim.distribute.check import BatchRunner
    from mxsim.distribute.cluster import Cluster

Workers = Annotated[int | None, typer.Option(
    "--workers", metavar="N", show_default=False,
    help="Run on a Dask cluster of N processes on this machine (needs: pip install 'mxsim[dask]').")]
DaskAddress = Annotated[str | None, typer.Option(
    "--dask", metavar="ADDRESS", show_default=False,
    help="Run on the Dask scheduler at ADDRESS, e.g. tcp://10.0.0.5:8786; its workers must reach the servers.")]


def cluster_option(workers: int | None, address: str | None) -> Cluster | None:
    """The cluster asked for (None: this process); a bad or unusable option is exit 3."""
    from mxsim.distribute.cluster import cluster_of

    try:
        return cluster_of(workers, address)
    except MxsimError as error:
        raise fail(error) from None


def check_runner(workers: int | None, address: str | None) -> BatchRunner | None:
    """How `check` runs many domains: None for this process, else on the cluster asked for."""
    cluster = cluster_option(workers, address)
    if cluster is None:
        return None
    from mxsim.distribute.check import distributed_runner

    return distributed_runner(cluster)
