"""The command line's contract with scripts: exit codes, one-line errors, pipes and full disks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import mxsim.commands.trace
from mxsim.cli import run
from mxsim.exits import TABLES, exit_help

ROOT = Path(__file__).resolve().parents[2]


def _mxsim(*args: str, stdout: int | None = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from mxsim.cli import main; main()", *args], cwd=ROOT,
                          stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=120, check=False)


@pytest.mark.parametrize(("args", "says"), [
    (["trace", "wa-students-2017", "--bogus"], "No such option: --bogus"),
    (["trace", "wa-students-2017", "--format", "xml"], "'xml' is not one of"),
    (["trace"], "Missing argument"),
    (["nosuch"], "No such command 'nosuch'"),
    (["replay", "wa-students-2017", "-n", "many"], "'many' is not a valid int"),
])
def test_usage_errors_exit_3_with_one_line(args: list[str], says: str) -> None:
    done = _mxsim(*args)
    assert done.returncode == 3, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mxsim: error: ") and says in lines[0]
    assert "--help" in lines[0] and done.stdout == ""


def test_bare_mxsim_shows_help() -> None:
    done = _mxsim()
    assert done.returncode == 0 and "Usage: mxsim" in done.stdout


def test_unexpected_exception_is_exit_4_one_line(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the model fell over\nin two lines")

    monkeypatch.setattr(mxsim.commands.trace, "run_trace", broken)
    assert run(["trace", "wa-students-2017"]) == 4
    err = capsys.readouterr().err
    assert err.splitlines() == ["mxsim: internal error: RuntimeError: the model fell over\\nin two lines "
                                "(run again with --debug for the traceback)"]
    assert run(["trace", "wa-students-2017", "--debug"]) == 4
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and err.rstrip().endswith("in two lines")


def test_a_closed_pipe_ends_quietly() -> None:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first byte is written
    try:
        done = _mxsim("trace", "wa-students-2017", "--format", "json", stdout=write)
    finally:
        os.close(write)
    assert done.returncode == 141 and done.stderr == ""


def test_a_full_disk_is_exit_4_one_line() -> None:
    with open("/dev/full", "w") as full:
        done = _mxsim("trace", "wa-students-2017", stdout=full.fileno())
    assert done.returncode == 4
    assert done.stderr.splitlines() == ["mxsim: error: could not write: No space left on device"]


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.mark.parametrize("command", sorted(TABLES))
def test_exit_table_is_the_same_in_help_and_readme(command: str) -> None:
    sentence = exit_help(command)
    assert sentence in _flat((ROOT / "README.md").read_text()), f"README lacks: {sentence}"
    done = _mxsim(command, "--help")
    assert done.returncode == 0 and sentence in _flat(done.stdout)
