"""Isolation of one run: the lab's network namespace, the worker's mount and UTS namespaces.

The lab (`lab_up(netns_name=...)`) makes a network namespace with only `lo`, serving
the scenario's real addresses there, so nothing an MTA does can leave the machine. The
worker runs under `unshare --mount --propagation private --uts`: the overlay and /proc
mounts it makes for a chroot vanish with it and never show on the host, and it names its
own host. Every process in the lab's namespace is ours: after the worker, whatever is
still in it is killed by PID and the namespace deleted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from mxsim.agree.errors import AgreeError

# OpenSMTPD's libasr honours AI_ADDRCONFIG, which does not count 127.0.0.1: a second
# loopback address makes it see IPv4 as configured (docs/lab.md#opensmtpd-68).
EXTRA_LOOPBACK = "127.0.0.25/32"
# Likewise an IPv6 address other than ::1, so that IPv6 counts as configured (the model's
# default, e.g. OpenSMTPD's ipv6_configured = yes): without it libasr never asks AAAA.
# A unique-local address on `lo` of a namespace that has no other interface reaches nothing.
EXTRA_LOOPBACK6 = "fd6d:7873:696d::25/128"
KILL_GRACE = 3.0


def run(argv: Sequence[str], *, timeout: float = 30.0, what: str = "") -> str:
    """Run a command to completion; an AgreeError names the step and its output."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError as error:
        raise AgreeError(f"{what or argv[0]}: {argv[0]} is not installed ({error})") from error
    except subprocess.TimeoutExpired as error:
        raise AgreeError(f"{what or argv[0]}: no answer within {timeout:g} s") from error
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise AgreeError(
            f"{what or ' '.join(argv)}: exit status {done.returncode}: " + " | ".join(tail)
        )
    return done.stdout


def require_root() -> None:
    if os.geteuid() != 0:
        raise AgreeError("real MTAs run in network namespaces and chroots: this needs root")
    if shutil.which("ip") is None:
        raise AgreeError("`ip` (iproute2) is not installed: apt-get install iproute2")


def kill_pids(pids: Sequence[int], grace: float = KILL_GRACE) -> None:
    """TERM, then KILL what is left after `grace` seconds; only the PIDs given."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [pid for pid in alive if Path(f"/proc/{pid}").exists() and not _zombie(pid)]
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2 :].startswith("Z")


def pids_of_run(folder: Path) -> list[int]:
    """Processes of one run: those whose command line or root directory lies in its folder.

    The run's folder is unique (a fresh temporary directory), and every process of the
    run names it: the lab (`mxsim.lab.serve FOLDER/...`), unbound (`-c FOLDER/...`), the
    worker (`FOLDER/request.json`) and the MTA's daemons (chrooted into FOLDER/...). A
    namespace inode is not enough: the kernel reuses it for the next run's namespace.
    """
    mark = str(folder.resolve())
    ours = {os.getpid(), os.getppid()}
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in ours:
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            root = os.readlink(entry / "root")
            if mark in cmdline or root.startswith(mark):
                pids.append(int(entry.name))
    return pids


def leftover_cleanup(name: str, folder: Path) -> None:
    """After the worker: kill what is left of the run, remove the namespace's /etc folder.

    The worker normally leaves nothing (its `finally` takes the lab down); this is for a
    worker that was killed or timed out. The namespace itself goes with its last process:
    its name was mounted only in the worker's private mount namespace.
    """
    kill_pids(pids_of_run(folder))
    shutil.rmtree(Path("/etc/netns") / name, ignore_errors=True)


def add_addresses(name: str) -> None:
    """The extra addresses on the namespace's `lo` that OpenSMTPD's resolver needs."""
    for argv in (
        ["ip", "-n", name, "addr", "add", EXTRA_LOOPBACK, "dev", "lo"],
        ["ip", "-n", name, "-6", "addr", "add", EXTRA_LOOPBACK6, "dev", "lo", "nodad"],
    ):
        run(argv, what="adding an address to the lab namespace's lo")
