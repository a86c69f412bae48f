"""What the lab tests need from the machine, and labs on free ports and private networks.

A missing tool (root, unbound, dig, ip, iptables) FAILS the test that needs it, with the
reason: CI installs them (.ci/run), so a silent skip would hide a broken install.
"""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from mxsim.lab.errors import LabError
from mxsim.lab.runner import LabInfo, lab_down, lab_up

PORT_RANGE = (20000, 32000)
ATTEMPTS = 8
_rng = random.Random()
# Second octets of 127.x the address map and the resolver use by default: avoid them.
_TAKEN = {0, 25, 53, 54, 125, 153, 155}


def require_root(why: str) -> None:
    if os.geteuid() != 0:
        pytest.fail(f"{why} needs root (CI runs as root)")


def require_tool(name: str, package: str) -> str:
    found = shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/sbin") / name) if p.exists()), None
    )
    if found is None:
        pytest.fail(f"this test needs `{name}`: apt-get install {package} (.ci/run installs it)")
    return found


def networks() -> dict[str, str]:
    """Three unused 127.x /16s: name servers, mail hosts, the resolver (port 53 is shared)."""
    octets = _rng.sample(sorted(set(range(60, 250)) - _TAKEN), 3)
    return {
        "dns_network": f"127.{octets[0]}.0.0/16",
        "smtp_network": f"127.{octets[1]}.0.0/16",
        "resolver_address": f"127.{octets[2]}.0.1",
    }


def up(scenario: str | Path, state_dir: Path, **options: Any) -> LabInfo:
    """`lab_up` on free ports (port 53 stays when given: unbound needs it)."""
    for _ in range(ATTEMPTS):
        port = _rng.randrange(*PORT_RANGE)
        chosen = {"dns_port": port, "smtp_port": port + 1, **options}
        if chosen["dns_port"] == 53:
            chosen = {**networks(), **chosen}
        try:
            return lab_up(scenario, state_dir, **chosen)
        except LabError as error:
            if "in use" not in str(error):
                raise
    pytest.fail("no free ports (or addresses) for lab_up after several attempts")


@contextmanager
def lab(scenario: str | Path, state_dir: Path, **options: Any) -> Iterator[LabInfo]:
    info = up(scenario, state_dir, **options)
    try:
        yield info
    finally:
        lab_down(state_dir)
