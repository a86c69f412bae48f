"""A network namespace per run: only `lo`, so nothing an MTA does can leave the machine.

`ip netns exec` also gives the worker its own mount namespace (with `/` as a slave), so
the overlay and /proc mounts the worker makes for a chroot vanish with it and never show
on the host. Every process started inside the namespace is ours: on teardown whatever is
still in it is killed by PID (`ip netns pids`), then the namespace is deleted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from mxsim.agree.errors import AgreeError

# OpenSMTPD's libasr honours AI_ADDRCONFIG and ignores 127.0.0.1 (LAB-NOTES): a second
# loopback address makes it see IPv4 as configured.
EXTRA_LOOPBACK = "127.0.0.25/32"
# Likewise an IPv6 address other than ::1, so that IPv6 counts as configured (the model's
# default, e.g. OpenSMTPD's ipv6_configured = yes): without it libasr never asks AAAA.
# A unique-local address on `lo` of a namespace that has no other interface reaches nothing.
EXTRA_LOOPBACK6 = "fd6d:7873:696d::25/128"
# An unanswered SYN fails in about 3 s instead of about 2 minutes (LAB-NOTES).
SYSCTLS = {"net.ipv4.tcp_syn_retries": "1"}
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


def namespace_pids(name: str) -> list[int]:
    try:
        out = subprocess.run(
            ["ip", "netns", "pids", name], capture_output=True, text=True, timeout=10,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [int(word) for word in out.split() if word.isdigit()]


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


@contextlib.contextmanager
def namespace(prefix: str = "mxagree") -> Iterator[str]:
    """A fresh namespace with `lo` up; on exit every process in it is killed and it goes."""
    require_root()
    name = f"{prefix}-{os.getpid()}-{time.monotonic_ns() % 1_000_000}"
    run(["ip", "netns", "add", name], what=f"creating network namespace {name}")
    try:
        run(["ip", "-n", name, "link", "set", "lo", "up"], what="bringing lo up")
        run(["ip", "-n", name, "addr", "add", EXTRA_LOOPBACK, "dev", "lo"],
            what="adding the second loopback address")
        run(["ip", "-n", name, "-6", "addr", "add", EXTRA_LOOPBACK6, "dev", "lo", "nodad"],
            what="adding an IPv6 address to lo")
        for key, value in SYSCTLS.items():
            run(["ip", "netns", "exec", name, "sysctl", "-q", "-w", f"{key}={value}"],
                what=f"sysctl {key}")
        yield name
    finally:
        kill_pids(namespace_pids(name))
        with contextlib.suppress(AgreeError):
            run(["ip", "netns", "del", name], what=f"deleting network namespace {name}")
