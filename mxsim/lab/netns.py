"""A network namespace for the lab (`lab up --netns NAME`), as docs/lab.md#isolation describes.

A namespace with only `lo` up reaches no other address by construction, so inside it
the lab may serve the scenario's real addresses (each added to `lo`), "drop" is a real
firewall rule (`iptables -A INPUT -d ADDR -p tcp --dport PORT -j DROP`), and
`net.ipv4.tcp_syn_retries=1` makes an unanswered SYN fail in about 3 s, not 2 minutes.
`ip netns exec NAME` mounts /etc/netns/NAME/resolv.conf over /etc/resolv.conf for
whatever runs inside. `delete` removes the namespace and that folder.

Creating one needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and iproute2's `ip`.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from mxsim.lab.errors import LabError

RUN_NETNS = Path("/run/netns")
ETC_NETNS = Path("/etc/netns")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,30}$")
COMMAND_TIMEOUT = 30.0


CAP_NET_ADMIN = 12
CAP_SYS_ADMIN = 21


def _capable() -> bool:
    """Root with CAP_SYS_ADMIN and CAP_NET_ADMIN in effect (a root with them dropped is not)."""
    if os.geteuid() != 0:
        return False
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                effective = int(line.split()[1], 16)
                return all(effective >> cap & 1 for cap in (CAP_NET_ADMIN, CAP_SYS_ADMIN))
    except (OSError, ValueError):
        pass
    return True  # no /proc to ask: let `ip` say what is missing


def check(name: str) -> None:
    """Everything `create` needs, said in one line when it is missing."""
    if not NAME.match(name):
        raise LabError(f"--netns {name!r}: use letters, digits, '.', '_' or '-' (at most 31)")
    if not _capable():
        raise LabError(
            f"--netns {name}: creating a network namespace needs root (CAP_SYS_ADMIN and "
            "CAP_NET_ADMIN); run as root, or leave "
            "out --netns (the lab then serves on 127.0.0.0/8 and emulates drop without a firewall)"
        )
    if shutil.which("ip") is None:
        raise LabError(f"--netns {name}: iproute2's `ip` is not installed (apt-get install iproute2)")


def exists(name: str) -> bool:
    return (RUN_NETNS / name).exists()


def prefix(name: str) -> list[str]:
    """The command prefix that runs a program inside the namespace."""
    return ["ip", "netns", "exec", name]


def _run(command: list[str]) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise LabError(f"{' '.join(command)}: {error}") from error
    if done.returncode != 0:
        raise LabError(f"{' '.join(command)}: {(done.stderr or done.stdout).strip() or done.returncode}")


def create(name: str, addresses: Iterable[str]) -> None:
    """A namespace with `lo` up, `addresses` on it (127/8 needs none), short SYN retries."""
    check(name)
    if exists(name):
        raise LabError(
            f"network namespace {name} exists already (another lab? `mxsim lab down`, "
            f"or `ip netns del {name}` if it is a leftover)"
        )
    _run(["ip", "netns", "add", name])
    try:
        _run(["ip", "-n", name, "link", "set", "lo", "up"])
        for address in addresses:
            ip = ipaddress.ip_address(address)
            if ip.is_loopback:
                continue  # Linux answers all of 127.0.0.0/8 (and ::1) on lo already
            if ip.version == 4:
                _run(["ip", "-n", name, "addr", "add", f"{ip}/32", "dev", "lo"])
            else:
                _run(["ip", "-n", name, "-6", "addr", "add", f"{ip}/128", "dev", "lo", "nodad"])
        _run([*prefix(name), "sysctl", "-q", "-w", "net.ipv4.tcp_syn_retries=1"])
    except BaseException:
        delete(name)
        raise


def drop_rules(name: str, addresses: Iterable[str], port: int) -> bool:
    """A firewall DROP for SYNs to each address's port; False if iptables is missing."""
    targets = list(addresses)
    if not targets:
        return True
    if shutil.which("iptables") is None:
        return False
    for address in targets:
        tool = "ip6tables" if ipaddress.ip_address(address).version == 6 else "iptables"
        _run([*prefix(name), tool, "-A", "INPUT", "-d", address, "-p", "tcp",
              "--dport", str(port), "-j", "DROP"])
    return True


def flush_input(name: str, tool: str = "iptables") -> None:
    """Remove the namespace's INPUT rules (all of them the lab's own DROPs)."""
    if shutil.which(tool) is not None:
        _run([*prefix(name), tool, "-F", "INPUT"])


def write_resolv_conf(name: str, text: str) -> Path:
    folder = ETC_NETNS / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "resolv.conf"
    path.write_text(text)
    return path


def delete(name: str) -> bool:
    """Remove the namespace (its processes must be gone) and /etc/netns/NAME; True if it was there."""
    was = exists(name)
    if was:
        _run(["ip", "netns", "del", name])
    shutil.rmtree(ETC_NETNS / name, ignore_errors=True)
    return was


def inside(name: str) -> bool:
    """Whether this process runs inside the namespace `name`."""
    try:
        return os.stat("/proc/self/ns/net").st_ino == os.stat(RUN_NETNS / name).st_ino
    except OSError:
        return False
