"""The lab's child process: start it detached, tell whether a PID is still it, stop it.

A PID alone is not enough after a crash: the number may since belong to someone else.
The state file keeps the child's start time (from /proc) and its command line names the
state folder, so `lab down` signals a PID only when both still match.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import mxsim
from mxsim.lab import files

TERM_GRACE = 5.0
KILL_GRACE = 2.0
POLL = 0.05

# Popen objects of children this process started, kept so that Python reaps them and
# does not warn about a child still running when the object is collected.
_children: dict[int, subprocess.Popen[bytes]] = {}


def adopt(child: subprocess.Popen[bytes]) -> None:
    """Keep a child started elsewhere in the lab (unbound) so that it is reaped."""
    _children[child.pid] = child


def spawn_serve(state_dir: Path, log: Path, prefix: Sequence[str] = ()) -> int:
    """Start the serve process; `prefix` is `ip netns exec NAME` for a lab in a namespace."""
    env = dict(os.environ)
    # The child must import the same mxsim as this process, installed or not.
    root = str(Path(mxsim.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    out = files.open_append(log)  # private, and never through a link
    try:
        child = subprocess.Popen(
            [*prefix, sys.executable, "-m", "mxsim.lab.serve", str(state_dir)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # no terminal signals: `lab up` returns, the lab stays
            env=env, cwd="/",
        )
    finally:
        os.close(out)
    _children[child.pid] = child
    return child.pid


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces; fields follow the last ')'.
    return text[text.rindex(")") + 2 :].split()


def start_time(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[19]) if fields is not None else None  # field 22 of proc(5)


def reap(pid: int) -> None:
    child = _children.get(pid)
    if child is not None:
        if child.poll() is not None:
            del _children[pid]
        return
    with contextlib.suppress(ChildProcessError):  # not our child: init reaps it
        os.waitpid(pid, os.WNOHANG)


def alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    reap(pid)
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def is_lab(pid: int, state_dir: Path, started: int | None) -> bool:
    """Whether `pid` is still the serve process of this state folder."""
    if not alive(pid):
        return False
    if started is not None and start_time(pid) != started:
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"mxsim.lab.serve" in argv and str(state_dir).encode() in argv


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(POLL)
    return not alive(pid)


def stop(pid: int) -> str:
    """SIGTERM, then SIGKILL if it lingers; says which it took."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        reap(pid)
        return "already gone"
    if wait_gone(pid, TERM_GRACE):
        return "stopped"
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return "stopped"
    wait_gone(pid, KILL_GRACE)
    return "killed"
