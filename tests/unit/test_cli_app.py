"""`mxsim` builds only the command asked for (`cli.app_for`), and behaves as the whole app does."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from mxsim.cli import app, app_for

runner = CliRunner()


@pytest.mark.parametrize("args", [["check", "--help"], ["trace", "--help"], ["replay", "--help"], ["record", "--help"]])
def test_one_command_app_says_what_the_whole_app_says(args: list[str]) -> None:
    one = app_for(args)
    assert one is not app and len(one.registered_commands) == 1
    alone, whole = runner.invoke(one, args), runner.invoke(app, args)
    assert alone.exit_code == whole.exit_code == 0
    assert alone.output == whole.output


@pytest.mark.parametrize("args", [[], ["--help"], ["--version"], ["chek"], ["lab", "status"], ["--version", "check"]])
def test_anything_else_gets_the_whole_app(args: list[str]) -> None:
    assert app_for(args) is app


def test_a_bad_option_reads_the_same() -> None:
    args = ["check", "wa-students.org", "--samples", "many"]
    alone, whole = runner.invoke(app_for(args), args), runner.invoke(app, args)
    assert alone.exit_code == whole.exit_code == 2
    assert alone.output == whole.output and "many" in alone.output


def test_a_quick_exit_loses_no_output_and_keeps_the_exit_code() -> None:
    """`main()` ends the process with os._exit after trace, check, ...: the whole report must be
    out and the code the same as the app's own."""
    import json
    import subprocess
    import sys

    args = ["trace", "wa-students-2017", "--pin", "broken", "-f", "json"]
    done = subprocess.run([sys.executable, "-c", "from mxsim.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=120, check=False)
    whole = runner.invoke(app, args)
    assert done.returncode == whole.exit_code == 1
    assert json.loads(done.stdout) == json.loads(whole.output)
    usage = subprocess.run([sys.executable, "-c", "from mxsim.cli import main; main()", "trace"],
                           capture_output=True, text=True, timeout=120, check=False)
    assert usage.returncode == 3 and "Missing argument" in usage.stderr
