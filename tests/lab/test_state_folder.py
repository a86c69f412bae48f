"""The lab's state folder: it writes only where it may, never through a link, privately.

`lab up` writes into a folder it creates, an empty one, or one carrying its marker;
`lab down` removes only what the marker lists. These run the real command line and a
real detached lab on loopback.
"""

from __future__ import annotations

import json
import os
import smtplib
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mxsim.lab import process
from mxsim.lab.runner import lab_down, lab_status
from tests.lab.conftest import WIRE_SCENARIO
from tests.lab.tools import lab, up

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]
CLI_TIMEOUT = 60.0
ACCEPT = "192.0.2.25"  # accept.example.org in the wire scenario
WAIT = 10.0


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from mxsim.cli import main; main()", *args],
        capture_output=True, text=True, timeout=CLI_TIMEOUT, cwd=ROOT,
    )


def _refused_lab_up(state: Path) -> subprocess.CompletedProcess[str]:
    """`lab up` that must stop at the state folder; a lab it started anyway is stopped."""
    try:
        return _cli("lab", "up", str(WIRE_SCENARIO), "--state", str(state), "--dns-port", "20053",
                    "--smtp-port", "20054")
    finally:
        for pid in _serving(state):
            process.stop(pid)


def _serving(state: Path) -> list[int]:
    """Lab processes serving from `state` (through any link in it)."""
    names = {str(state).encode(), str(state.resolve()).encode()}
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if entry.name.isdigit() and b"mxsim.lab.serve" in argv and names & set(argv):
            found.append(int(entry.name))
    return found


def _snapshot(folder: Path) -> dict[str, tuple[int, bytes | str]]:
    """Every entry: its mode and its content (or where a link points)."""
    seen: dict[str, tuple[int, bytes | str]] = {}
    for path in sorted(folder.rglob("*")):
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            seen[str(path)] = (info.st_mode, os.readlink(path))
        elif stat.S_ISREG(info.st_mode):
            seen[str(path)] = (info.st_mode, path.read_bytes())
        else:
            seen[str(path)] = (info.st_mode, "")
    return seen


def _one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 3, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mxsim: error: "), done.stderr
    return lines[0]


@pytest.fixture
def umask_0() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_lab_down_leaves_someone_elses_config_json_and_folder(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"editor": "vim", "netns": None}))
    (folder / "state.json.partial").write_text("draft\n")
    before = _snapshot(tmp_path)
    line = _one_line_error(_cli("lab", "down", "--state", str(folder)))
    assert "no lab state" in line
    assert _snapshot(tmp_path) == before


def test_lab_up_refuses_a_folder_with_files_and_no_marker(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine\n")
    (folder / "resolv.conf").write_text("nameserver 192.0.2.1\n")
    before = _snapshot(tmp_path)
    line = _one_line_error(_refused_lab_up(folder))
    assert "mxsim-lab.json" in line and str(folder) in line
    assert _snapshot(tmp_path) == before


def test_a_state_path_through_a_link_is_refused_and_the_target_untouched(tmp_path: Path) -> None:
    """`--state LINK` to someone's folder: their resolv.conf stays as it is."""
    victim = tmp_path / "etc"
    victim.mkdir()
    (victim / "resolv.conf").write_text("nameserver 192.0.2.1\n")
    link = tmp_path / "lab"
    link.symlink_to(victim)
    before = _snapshot(tmp_path)
    _one_line_error(_refused_lab_up(link))
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("where", ["file", "under-file", "proc"])
def test_a_state_path_that_cannot_be_a_folder_is_one_line(tmp_path: Path, where: str) -> None:
    a_file = tmp_path / "plain"
    a_file.write_text("x\n")
    state = {"file": a_file, "under-file": a_file / "lab", "proc": Path("/proc/mxsim-lab-test")}[where]
    line = _one_line_error(_refused_lab_up(state))
    assert str(state) in line
    assert a_file.read_text() == "x\n"


def test_links_planted_in_a_running_labs_folder_are_not_followed(tmp_path: Path) -> None:
    """The stats file is rewritten every second through a partial file, and messages are
    appended: links planted under those names must not carry the lab's writes elsewhere."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    state = tmp_path / "lab"
    with lab(WIRE_SCENARIO, state) as info:
        (state / "stats.json.partial").symlink_to(victim)
        (state / "messages.jsonl").symlink_to(victim)
        with smtplib.SMTP(info.address_map.lab(ACCEPT), info.smtp_port, timeout=5) as client:
            client.sendmail("a@example.net", ["user@example.org"], b"Subject: x\r\n\r\nhi\r\n")
        first = (state / "stats.json").stat().st_mtime_ns
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and (state / "stats.json").stat().st_mtime_ns == first:
            time.sleep(0.1)
        assert (state / "stats.json").stat().st_mtime_ns != first, "stats.json is no longer refreshed"
        assert lab_status(state).running
    assert victim.read_text() == "precious\n"


def test_lab_down_removes_only_what_the_lab_wrote(tmp_path: Path) -> None:
    made = tmp_path / "made"
    with lab(WIRE_SCENARIO, made):
        (made / "notes.txt").write_text("mine\n")
    assert sorted(p.name for p in made.iterdir()) == ["notes.txt"]

    empty = tmp_path / "empty"
    empty.mkdir()
    with lab(WIRE_SCENARIO, empty):
        pass
    assert empty.is_dir() and not any(empty.iterdir())  # emptied, but not the lab's to remove

    fresh = tmp_path / "fresh"
    with lab(WIRE_SCENARIO, fresh):
        pass
    assert not fresh.exists()


def test_a_crashed_labs_folder_is_taken_up_again(tmp_path: Path) -> None:
    """A marked folder whose lab died: a new `lab up` clears what the marker lists (a link
    under a listed name goes, what it pointed to stays) and writes afresh."""
    victim = tmp_path / "resolv.conf"
    victim.write_text("nameserver 192.0.2.1\n")
    state = tmp_path / "lab"
    first = up(WIRE_SCENARIO, state)
    process.stop(first.pid)
    (state / "resolv.conf").unlink()
    (state / "resolv.conf").symlink_to(victim)
    second = up(WIRE_SCENARIO, state)
    try:
        assert not (state / "resolv.conf").is_symlink()
        assert "nameserver 127." in (state / "resolv.conf").read_text()
    finally:
        lab_down(state)
    assert victim.read_text() == "nameserver 192.0.2.1\n"
    assert not process.alive(second.pid)


def test_files_are_private_whatever_the_umask(tmp_path: Path, umask_0: None) -> None:
    state = tmp_path / "lab"
    with lab(WIRE_SCENARIO, state) as info:
        with smtplib.SMTP(info.address_map.lab(ACCEPT), info.smtp_port, timeout=5) as client:
            client.sendmail("a@example.net", ["user@example.org"], b"Subject: x\r\n\r\nsecret\r\n")
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and not (state / "stats.json").exists():
            time.sleep(0.1)
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in state.iterdir() if not p.name.endswith(".partial")}
        assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert modes["messages.jsonl"] == 0o600
    shared = {"root.hints", "resolv.conf"}
    for name, mode in modes.items():
        assert mode == (0o644 if name in shared else 0o600), (name, oct(mode))
    assert {"config.json", "state.json", "serve.log", "stats.json", "mxsim-lab.json"} <= set(modes)

    from mxsim.lab.tls import make_certificate

    key, _cert = make_certificate(tmp_path)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
