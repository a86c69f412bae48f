"""Errors of the agreement harness: a real MTA could not be run (exit 2) or bad input (3)."""

from __future__ import annotations

from mxsim.errors import ExitCode, MxsimError


class AgreeError(MxsimError):
    """The comparison could not run: a package, a chroot, a namespace or a process failed.

    The message says which step failed and why; `mxsim agree` exits 2 with it.
    """

    exit_code = ExitCode.BOUNCED  # 2: "could not run" for `mxsim agree`
