"""The lab: a scenario's world served on real sockets on 127.0.0.0/8 (docs/architecture.md#one-engine-three-worlds).

`lab_up` / `lab_down` / `lab_status` run it as a detached process with a state folder;
`serve_world` runs it in the current event loop (tests). Every bind and send of the lab
goes through `addressmap.ensure_loopback`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mxsim.lab.addressmap import AddressMap, MappedAddress, connectable, ensure_loopback
    from mxsim.lab.errors import LabError, LabSafetyError
    from mxsim.lab.runner import LabDown, LabInfo, LabStatus, lab_down, lab_status, lab_up, render_status
    from mxsim.lab.servers import LabServers, serve_world
    from mxsim.lab.smtp_session import SmtpSink

# Names resolve on first use (PEP 562): importing one lab module (the address map, say) does not start the
# runner, the servers and the SMTP sink with it.
_WHERE = {
    "AddressMap": "mxsim.lab.addressmap",
    "LabDown": "mxsim.lab.runner",
    "LabError": "mxsim.lab.errors",
    "LabInfo": "mxsim.lab.runner",
    "LabSafetyError": "mxsim.lab.errors",
    "LabServers": "mxsim.lab.servers",
    "LabStatus": "mxsim.lab.runner",
    "MappedAddress": "mxsim.lab.addressmap",
    "SmtpSink": "mxsim.lab.smtp_session",
    "connectable": "mxsim.lab.addressmap",
    "ensure_loopback": "mxsim.lab.addressmap",
    "lab_down": "mxsim.lab.runner",
    "lab_status": "mxsim.lab.runner",
    "lab_up": "mxsim.lab.runner",
    "render_status": "mxsim.lab.runner",
    "serve_world": "mxsim.lab.servers",
}

__all__ = [
    "AddressMap",
    "LabDown",
    "LabError",
    "LabInfo",
    "LabSafetyError",
    "LabServers",
    "LabStatus",
    "MappedAddress",
    "SmtpSink",
    "connectable",
    "ensure_loopback",
    "lab_down",
    "lab_status",
    "lab_up",
    "render_status",
    "serve_world",
]


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
