"""`mxsim lab run|up|status` through the command line: exit codes and one-line errors."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mxsim.cli import app

pytestmark = pytest.mark.lab

runner = CliRunner()


def test_lab_run_passes_the_lab_and_returns_the_commands_code(tmp_path: Path) -> None:
    port = random.Random().randrange(20000, 32000)
    state = tmp_path / "lab"
    out = tmp_path / "seen"
    result = runner.invoke(app, [
        "lab", "run", "wa-students-2017", "--state", str(state), "--dns-port", str(port),
        "--smtp-port", str(port + 1), "--", "sh", "-c", f'echo "$MXSIM_LAB_DNS_PORT" > {out}; exit 7',
    ])
    assert result.exit_code == 7, result.output
    assert out.read_text().strip() == str(port)
    assert not state.exists()  # taken down


def test_lab_up_with_a_bad_scenario_is_exit_3(tmp_path: Path) -> None:
    result = runner.invoke(app, ["lab", "up", "no-such-scenario", "--state", str(tmp_path / "lab")])
    assert result.exit_code == 3
    assert not (tmp_path / "lab" / "state.json").exists()


def test_lab_status_without_a_lab_is_exit_1(tmp_path: Path) -> None:
    result = runner.invoke(app, ["lab", "status", "--state", str(tmp_path / "lab")])
    assert result.exit_code == 1 and "no lab state" in result.output
