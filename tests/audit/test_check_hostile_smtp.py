"""`mxsim check` whose only MX host misbehaves after its greeting (tests/hostile/smtp_servers.py):
the check ends in seconds with `--smtp-timeout 0.5s`, and says what the host did."""

from __future__ import annotations

import time

import pytest

from mxsim.audit.checks import ProbeState
from mxsim.commands.check import CheckConfig, CheckResult, run_check
from mxsim.scenario import load_scenario
from mxsim.world import World
from tests.hostile.smtp_servers import HostileSmtp, Mode
from tests.lab.conftest import running_lab

pytestmark = pytest.mark.lab

MX = "192.0.2.10"  # mx.example.com, the only MX host of the scenario
# The DNS sampling of this one-zone world takes about a second; before the EHLO wait was
# bounded by --smtp-timeout, the probe alone took 300 s.
BOUND = 15.0


def check_against(mode: Mode, smtp_timeout: float = 0.5) -> tuple[CheckResult, float, list[str]]:
    world = World(load_scenario("only-mx-refuses"), {})
    with running_lab(world, seed=1) as lab, HostileSmtp(mode, host=lab.map.lab(MX)) as smtp:
        started = time.monotonic()
        result = run_check(CheckConfig("example.com", tuple(world.root_hints), lab.map, dns_port=lab.dns_port,
                                       smtp_port=smtp.port, smtp_timeout=smtp_timeout, rate=400.0))
        seconds = time.monotonic() - started
    return result, seconds, smtp.mail_commands()


def test_a_host_that_never_answers_ehlo_is_unknown_and_costs_the_timeout_only() -> None:
    result, seconds, mail = check_against(Mode.NO_EHLO_REPLY)
    assert seconds < BOUND and mail == []
    [probe] = result.probes
    assert (probe.address, probe.state, probe.detail) == (MX, ProbeState.UNKNOWN, "no reply to EHLO within 500ms")
    assert [f.message for f in result.findings if f.id == "SMTP01_NO_ANSWER"] == [
        f"mx.example.com [{MX}] did not answer on port 25 (no reply to EHLO within 500ms): "
        "unknown from this vantage point"]
    # It greeted: port 25 is not what failed.
    assert not any("port 25" in reason for reason in result.unknown), result.unknown


def test_a_host_with_a_10_mb_banner_breaks_the_conversation() -> None:
    # What is tested is the banner's length, not a deadline: a wait of 2 s leaves room for
    # a loaded machine to get the first of the 10 MB across (at 0.5 s it once did not).
    result, seconds, mail = check_against(Mode.HUGE_BANNER, smtp_timeout=2.0)
    assert seconds < BOUND and mail == []
    [probe] = result.probes
    assert (probe.state, probe.detail) == (ProbeState.FAILED, "greeting too long (a line over 512 octets)")
    assert {f.id for f in result.findings} >= {"SMTP05_CONVERSATION_FAILS"}
