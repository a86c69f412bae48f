"""`--parallel N`: how many domains one process checks at once."""

from __future__ import annotations

from typing import Annotated

import typer

from mxsim.errors import UsageError

DEFAULT_PARALLEL = 8  # enough to keep two cores busy while each domain waits on its servers
MAX_PARALLEL = 256

Parallel = Annotated[int, typer.Option(
    "--parallel", metavar="N",
    help="Domains checked at once, in one event loop (with many domains); --rate still holds per server "
         "address over all of them. 1: one at a time.")]


def parallel_value(value: int) -> int:
    """The count, or a one-line error before any work."""
    if not 1 <= value <= MAX_PARALLEL:
        raise UsageError(f"--parallel {value}: expected 1 to {MAX_PARALLEL}")
    return value
