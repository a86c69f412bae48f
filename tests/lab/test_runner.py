"""`lab_up` / `lab_down` / `lab_status` as a real detached process on high ports."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import pytest

from mxsim.errors import MxsimError, ScenarioError
from mxsim.lab import process
from mxsim.lab.errors import LabError
from mxsim.lab.runner import LabInfo, lab_down, lab_status, lab_up, render_status
from tests.lab.conftest import PORT_RANGE, WIRE_SCENARIO

pytestmark = pytest.mark.lab

_ports = random.Random()
ATTEMPTS = 8


def _lab_processes(state_dir: Path) -> list[int]:
    """PIDs of serve processes for this folder still around (not zombies)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ours = b"mxsim.lab.serve" in argv and str(state_dir).encode() in argv
        if ours and process.alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def _up(scenario: str | Path, state_dir: Path, **options: object) -> LabInfo:
    for _ in range(ATTEMPTS):
        port = _ports.randrange(*PORT_RANGE)
        try:
            return lab_up(scenario, state_dir, dns_port=port, smtp_port=port + 1, **options)  # type: ignore[arg-type]
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
    assert not _lab_processes(folder)


def test_up_serves_and_down_stops(state_dir: Path) -> None:
    info = _up("wa-students-2017", state_dir, pins=["broken"], seed=3)
    assert process.alive(info.pid)
    record = json.loads((state_dir / "state.json").read_text())
    assert record["pid"] == info.pid and record["status"] == "running"
    assert "a.root-servers.net." in info.root_hints.read_text()
    assert info.address_map.lab("198.41.0.4") in info.root_hints.read_text()
    assert "nameserver 127." in info.resolv_conf.read_text()

    query = dns.message.make_query("wa-students.org", "MX")
    ns1 = info.address_map.lab("216.40.47.26")
    response = dns.query.udp(query, ns1, timeout=2, port=info.dns_port)
    assert response.answer[0].rdtype == dns.rdatatype.CNAME
    with smtplib.SMTP(info.address_map.lab("142.250.153.26"), info.smtp_port, timeout=5) as smtp:
        smtp.sendmail("a@example.net", ["student@wa-students.org"], b"Subject: x\r\n\r\nhi\r\n")
    rows = [json.loads(line) for line in info.messages.read_text().splitlines()]
    assert rows[-1]["rcpt_to"] == ["student@wa-students.org"]

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # stats.json is refreshed every second
        status = lab_status(state_dir)
        dns_rows = {row["lab"]: row for row in (status.stats or {}).get("dns", [])}
        if dns_rows.get(ns1, {}).get("queries"):
            break
        time.sleep(0.1)
    assert status.running
    assert dns_rows[ns1]["by_backend"] == {"hover01": 1}
    text = render_status(status)
    assert "wa-students-2017" in text and "running" in text and "hover01=1" in text

    down = lab_down(state_dir)
    assert down.pid == info.pid and down.outcome == "stopped"
    assert not process.alive(info.pid)
    assert not state_dir.exists()
    assert not lab_status(state_dir).running


def test_down_after_sigkill_cleans_up(state_dir: Path) -> None:
    info = _up(WIRE_SCENARIO, state_dir)
    os.kill(info.pid, signal.SIGKILL)
    assert process.wait_gone(info.pid, 5)
    status = lab_status(state_dir)
    assert not status.running and "gone" in render_status(status)
    down = lab_down(state_dir)
    assert down.outcome == "already gone"
    assert not state_dir.exists()
    # The sockets went with the process: the same ports serve again.
    again = lab_up(WIRE_SCENARIO, state_dir, dns_port=info.dns_port, smtp_port=info.smtp_port)
    assert lab_down(state_dir).pid == again.pid


def test_a_second_up_on_a_running_folder_is_refused(state_dir: Path) -> None:
    info = _up(WIRE_SCENARIO, state_dir)
    with pytest.raises(LabError, match="already runs"):
        lab_up(WIRE_SCENARIO, state_dir, dns_port=info.dns_port + 2, smtp_port=info.smtp_port + 2)
    assert process.alive(info.pid)


def test_a_busy_port_gives_one_message_and_leaves_nothing(state_dir: Path) -> None:
    port = _ports.randrange(*PORT_RANGE)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.53.0.1", port))
        with pytest.raises(LabError, match=f"port {port} is already in use"):
            lab_up(WIRE_SCENARIO, state_dir, dns_port=port, smtp_port=port + 1)
    assert not _lab_processes(state_dir)
    assert not state_dir.exists()


def test_a_scenario_with_an_error_starts_nothing(state_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("mxsim: 1\nname: bad\nzones:\n  example.org: |\n    @ MX notanumber x.\n")
    with pytest.raises(ScenarioError, match=r"bad\.yaml"):
        lab_up(bad, state_dir, dns_port=20053, smtp_port=20025)
    assert not state_dir.exists()


def test_no_lab_state_is_a_clear_error(state_dir: Path) -> None:
    with pytest.raises(LabError, match="no lab state"):
        lab_down(state_dir)


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_port_53_without_permission_gives_one_message(tmp_path: Path) -> None:
    """Run lab up without CAP_NET_BIND_SERVICE (dropped from the bounding set if root)."""
    folder = tmp_path / "lab53"
    script = textwrap.dedent(f"""
        import sys
        from mxsim.errors import MxsimError
        from mxsim.lab.runner import lab_up
        try:
            lab_up({str(WIRE_SCENARIO)!r}, {str(folder)!r}, dns_port=53, smtp_port=25,
                   dns_network="127.153.0.0/16", smtp_network="127.125.0.0/16")
        except MxsimError as error:
            print(error.message)
            sys.exit(3)
        sys.exit(0)
    """)
    command = [sys.executable, "-c", script]
    if os.geteuid() == 0:
        command = ["setpriv", "--bounding-set", "-net_bind_service", "--inh-caps",
                   "-net_bind_service", *command]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    if done.returncode == 0:
        from mxsim.lab.runner import lab_down as down

        down(folder)
        pytest.skip("ports below 1024 are open to this user here")
    assert done.returncode == 3, done.stderr
    assert "permission denied" in done.stdout and "CAP_NET_BIND_SERVICE" in done.stdout
    assert not _lab_processes(folder.resolve())
    assert not folder.exists()


def test_errors_are_mxsim_errors() -> None:
    assert issubclass(LabError, MxsimError)
