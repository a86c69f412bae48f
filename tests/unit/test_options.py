"""Option values are checked before any work: parameters, their ranges, durations."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from mxsim.cli import app
from mxsim.mta.params import Settings
from mxsim.mta.profiles import PROFILES
from mxsim.units import format_duration, parse_duration

runner = CliRunner()


@pytest.mark.parametrize(("option", "says"), [
    ("qmail:foo=1", "no MTA profile named 'qmail'"),
    ("exim:dns_cname_loops=2", "exim is not among the MTAs run (postfix)"),
    ("smtp_mx_address_limit=-3", "expected a whole number of at least 0"),
    ("postfix:maximal_backoff_time=soon", "expected a duration"),
])
@pytest.mark.parametrize("command", ["trace", "replay"])
def test_bad_overrides_are_bad_input_before_any_work(command: str, option: str, says: str) -> None:
    args = [command, "wa-students-2017", "-m", "postfix", "-o", option]
    if command == "replay":
        args += ["-n", "5", "--no-progress"]
    done = runner.invoke(app, args)
    assert done.exit_code == 3, done.output
    assert says in done.output and done.output.count("\n") == 1


def test_replay_checks_every_scenarios_overrides_before_the_first_runs() -> None:
    done = runner.invoke(app, ["replay", "wa-students-2017", "nxdomain", "-m", "postfix", "-n", "5", "--no-progress",
                               "-o", "smtp_mx_address_limit=-1"])
    assert done.exit_code == 3 and done.stdout == ""


@pytest.mark.parametrize(("text", "seconds"), [("1h30m", 5400), ("1h6m40s", 4000), ("90s", 90), ("2d", 172800),
                                               ("200ms", 0.2), ("1d12h", 129600)])
def test_compound_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@given(st.integers(min_value=1, max_value=10**8))
def test_every_duration_shown_is_read_back(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize("mta", sorted(PROFILES))
def test_every_value_params_prints_is_accepted_back_by_o(mta: str) -> None:
    profile = PROFILES[mta]
    for param in profile.PARAMS:
        shown = param.show(param.default)
        settings = Settings(profile.PARAMS, mta, {param.name: shown})
        assert settings.values[param.name] == param.default, (param.name, shown)
    # and through the command line, every parameter at once
    options = [a for p in profile.PARAMS for a in ("-o", f"{mta}:{p.name}={p.show(p.default)}")]
    done = runner.invoke(app, ["trace", "wa-students-2017", "-m", mta, "--quiet", *options])
    assert done.exit_code in (0, 1, 2), done.output
