"""The lab: a scenario's world served on real sockets on 127.0.0.0/8 (DESIGN.md, issue 3).

`lab_up` / `lab_down` / `lab_status` run it as a detached process with a state folder;
`serve_world` runs it in the current event loop (tests). Every bind and send of the lab
goes through `addressmap.ensure_loopback`.
"""

from mxsim.lab.addressmap import AddressMap, MappedAddress, connectable, ensure_loopback
from mxsim.lab.errors import LabError, LabSafetyError
from mxsim.lab.runner import LabDown, LabInfo, LabStatus, lab_down, lab_status, lab_up, render_status
from mxsim.lab.servers import LabServers, serve_world
from mxsim.lab.smtp_session import SmtpSink

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
