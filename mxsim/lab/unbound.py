"""Debian's unbound as the lab's recursive resolver (`lab up --resolver unbound`).

Configured as docs/lab.md#unbound-as-the-labs-resolver says: iterate from the lab's root hints
(`do-not-query-localhost: no`, since every lab server is on 127/8), no DNSSEC
validation (`module-config: "iterator"`), every query logged (to its standard error,
which the lab opens itself in the state folder: unbound would follow a link named by
`logfile:`), no chroot, no user switch, no remote control. unbound sends its queries to
port 53 (neither root hints nor referrals carry a port), so the lab it iterates over
must listen on port 53.

The cache is emptied by restarting the process (`restart`): no `unbound-control`, no
keys to set up.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mxsim.lab import files, process, state
from mxsim.lab.addressmap import ensure_loopback
from mxsim.lab.errors import LabError

UNBOUND = "/usr/sbin/unbound"
CONFIG = state.UNBOUND_CONF
LOG = state.UNBOUND_LOG
START_TIMEOUT = 10.0
READY_LINE = "start of service"
POLL = 0.05
LOG_READ_LIMIT = 1 << 20  # from the start mark, "start of service" comes within a few lines


@dataclass(frozen=True, slots=True)
class Unbound:
    pid: int
    started: int | None
    address: str
    port: int

    def to_json(self) -> dict[str, object]:
        return {"kind": "unbound", "pid": self.pid, "started": self.started,
                "address": self.address, "port": self.port}


def binary() -> str:
    found = shutil.which("unbound") or (UNBOUND if Path(UNBOUND).exists() else None)
    if found is None:
        raise LabError(
            "--resolver unbound needs Debian's unbound (/usr/sbin/unbound): "
            "apt-get install unbound (with a policy-rc.d that exits 101, so it does not start)"
        )
    return found


def config_text(state_dir: Path, address: str, port: int, root_hints: Path) -> str:
    return "\n".join([
        "# unbound for the mxsim lab: iterates over the lab's root, nothing else.",
        "server:",
        f"  interface: {address}",
        f"  port: {port}",
        f"  access-control: {address}/32 allow",
        "  access-control: 127.0.0.0/8 allow",
        "  do-ip6: no",  # the lab serves IPv4 (AAAA records map to ::ffff:127.x)
        "  do-not-query-localhost: no",  # every lab server is on 127.0.0.0/8
        '  module-config: "iterator"',  # no DNSSEC validation: the lab's zones are unsigned
        f'  root-hints: "{root_hints}"',
        "  log-queries: yes",
        "  log-replies: yes",
        '  logfile: ""',  # standard error: a file the lab opened without following links
        "  use-syslog: no",
        "  verbosity: 1",
        '  chroot: ""',
        '  username: ""',
        f'  directory: "{state_dir}"',
        '  pidfile: ""',
        "  num-threads: 1",
        "remote-control:",
        "  control-enable: no",
        "",
    ])


def _ready(state_dir: Path, offset: int) -> bool:
    return READY_LINE.encode() in (files.read_bytes(state_dir / LOG, LOG_READ_LIMIT, offset) or b"")


def _log_tail(state_dir: Path) -> str:
    raw = files.read_bytes(state_dir / LOG, LOG_READ_LIMIT, -LOG_READ_LIMIT) or b""
    lines = raw.decode(errors="replace").splitlines()[-4:]
    return ("\n" + "\n".join(lines)) if lines else ""


def start(
    state_dir: Path, address: str, port: int, root_hints: Path, prefix: Sequence[str] = ()
) -> Unbound:
    """Start unbound (in a namespace when `prefix` is `ip netns exec NAME`) and wait for it."""
    address = ensure_loopback(address)
    config = state_dir / CONFIG
    state.write_text(config, config_text(state_dir, address, port, root_hints))
    offset = files.size(state_dir / LOG)
    command = [*prefix, binary(), "-d", "-c", str(config)]
    out = files.open_append(state_dir / LOG)
    try:
        child = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, cwd="/",
        )
    finally:
        os.close(out)
    process.adopt(child)
    started = process.start_time(child.pid)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if _ready(state_dir, offset):
            return Unbound(child.pid, started, address, port)
        if child.poll() is not None:
            raise LabError(f"unbound exited at start (code {child.returncode}){_log_tail(state_dir)}")
        time.sleep(POLL)
    process.stop(child.pid)
    raise LabError(f"unbound did not start within {START_TIMEOUT:g} s{_log_tail(state_dir)}")


def is_ours(pid: int, state_dir: Path, started: int | None) -> bool:
    """Whether `pid` is still the unbound this state folder started (not a reused PID)."""
    if not process.alive(pid):
        return False
    if started is not None and process.start_time(pid) != started:
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return str(state_dir / CONFIG).encode() in argv


def stop(record: dict[str, object], state_dir: Path) -> str:
    pid = int(str(record["pid"]))
    started = record.get("started")
    if is_ours(pid, state_dir, int(str(started)) if started is not None else None):
        return process.stop(pid)
    process.reap(pid)
    return "already gone"
