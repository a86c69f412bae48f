"""`change_world`: a running lab serves another world at the same addresses."""

from __future__ import annotations

import json
import random
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from mxsim.agree.retry import WORLDS
from mxsim.lab.change import change_world
from mxsim.lab.errors import LabError
from mxsim.lab.runner import LabInfo, lab_down, lab_up
from tests.lab.conftest import PORT_RANGE

pytestmark = pytest.mark.lab

_ports = random.Random()


def _up(scenario: Path, state_dir: Path) -> LabInfo:
    for _ in range(8):
        port = _ports.randrange(*PORT_RANGE)
        try:
            return lab_up(scenario, state_dir, dns_port=port, smtp_port=port + 1)
        except LabError as error:
            if "in use" not in str(error):
                raise
    pytest.fail("no free ports for lab_up")


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    folder = (tmp_path / "lab").resolve()
    yield folder
    if (folder / "state.json").exists():
        lab_down(folder)


def _listens(info: LabInfo, real: str) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2.0)
        return sock.connect_ex((info.address_map.lab(real), info.smtp_port)) == 0


def _serving(state_dir: Path) -> str:
    return str(json.loads((state_dir / "state.json").read_text())["name"])


def test_the_refusing_host_listens_and_the_mx_moves(state_dir: Path) -> None:
    info = _up(WORLDS / "mx-refuses.yaml", state_dir)
    assert not _listens(info, "192.0.2.10")
    change_world(state_dir, WORLDS / "mx-accepts.yaml")
    assert _listens(info, "192.0.2.10")
    assert _serving(state_dir) == "mx-accepts"
    change_world(state_dir, WORLDS / "mx-moved.yaml")
    assert not _listens(info, "192.0.2.10") and _listens(info, "192.0.2.20")
    assert _serving(state_dir) == "mx-moved"


def test_a_world_at_other_addresses_is_refused(state_dir: Path) -> None:
    _up(WORLDS / "mx-refuses.yaml", state_dir)
    with pytest.raises(LabError, match="addresses differ"):
        change_world(state_dir, "only-mx-refuses")
