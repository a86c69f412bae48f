"""The `mxsim` command line: thin commands over `mxsim.commands`, rendered by `mxsim.report`."""

from __future__ import annotations

from mxsim.cli import agree as _agree  # noqa: F401  (registers its commands)
from mxsim.cli import check as _check  # noqa: F401  (registers check and record)
from mxsim.cli import lab as _lab  # noqa: F401  (registers its commands)
from mxsim.cli import replay as _replay  # noqa: F401  (registers its commands)
from mxsim.cli import trace as _trace  # noqa: F401
from mxsim.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    app()
