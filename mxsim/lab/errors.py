"""Lab errors: one clear message each, for the CLI to print."""

from __future__ import annotations

from mxsim.errors import MxsimError


class LabError(MxsimError):
    """The lab cannot start, stop or answer as asked (busy port, permission, bad state)."""


class LabSafetyError(LabError):
    """Something would make the lab bind or send outside 127.0.0.0/8."""
