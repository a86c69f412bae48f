"""One clear sentence for each way binding a lab socket fails."""

from __future__ import annotations

import errno
from pathlib import Path

from mxsim.lab.errors import LabError

PRIVILEGED_BELOW = 1024


def _unprivileged_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    except (OSError, ValueError):
        return PRIVILEGED_BELOW


def bind_failure(error: OSError, service: str, address: str, port: int) -> LabError:
    where = f"{service} on {address} port {port}"
    if error.errno == errno.EADDRINUSE:
        return LabError(f"{where}: port {port} is already in use (another lab, or a server there?)")
    if error.errno == errno.EACCES:
        return LabError(
            f"{where}: permission denied; ports below {_unprivileged_start()} need root or "
            "CAP_NET_BIND_SERVICE (or choose ports above 1023)"
        )
    if error.errno == errno.EADDRNOTAVAIL:
        return LabError(f"{where}: address not available (is the loopback interface up?)")
    return LabError(f"{where}: {error.strerror or error}")
