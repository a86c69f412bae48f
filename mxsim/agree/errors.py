"""Errors of the agreement harness: a real MTA could not be run (exit 2) or bad input (3)."""

from __future__ import annotations

from mxsim.errors import MxsimError
from mxsim.exits import AgreeExit


class AgreeError(MxsimError):
    """The comparison could not run: a package, a chroot, a namespace or a process failed.

    The message says which step failed and why; `mxsim agree` exits 2 with it.
    """

    exit_code = AgreeExit.COULD_NOT_RUN
