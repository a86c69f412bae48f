"""The retry cases' parts that need no real MTA: the log split, the model's two phases."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from mxsim.agree.retry import CASE_NAMES, QUEUE_RUN_OUTCOME, retry_case
from mxsim.agree.retry_model import model_retry
from mxsim.agree.retry_worker import fresh
from mxsim.clock import VirtualClock
from mxsim.engine import emulated_ask, profiles_for, resolver_for, send
from mxsim.mta.queue import SenderState
from mxsim.scenario import load_scenario
from mxsim.transport.model import ModelTransport
from mxsim.world import World


def test_fresh_keeps_what_came_after_the_shared_start() -> None:
    assert fresh(["a", "b"], ["a", "b", "c"]) == ["c"]
    # Sendmail: syslog first, then the queue run's new transcript in place of the old one.
    assert fresh(["s1", "transcript: old", "queue: r1"], ["s1", "s2", "transcript: new", "queue: r1"]) == [
        "s2", "transcript: new", "queue: r1"]
    assert fresh([], ["x"]) == ["x"]


@pytest.mark.parametrize("mta", ["postfix", "exim", "opensmtpd", "sendmail"])
@pytest.mark.parametrize("name", CASE_NAMES)
def test_model_defers_then_delivers_or_returns(name: str, mta: str) -> None:
    case = retry_case(name, mta)
    first, retry = model_retry(case.scenario, case.pins, case.retry_scenario, case.retry_pins, mta,
                               case.overrides, case.pause)
    assert first.outcome.value == "deferred"
    assert retry.outcome.value == QUEUE_RUN_OUTCOME[name]
    # Every MTA routes afresh from the address as submitted: the CNAME's rewrite is not kept.
    assert retry.envelope_recipient == load_scenario(case.scenario).recipient


def _attempt_at(when: float, sender: SenderState) -> None:
    spec = load_scenario(retry_case("refused-then-accepts", "sendmail").scenario)
    profile = profiles_for(("sendmail",), {})[0]
    clock = VirtualClock(when)
    rng = random.Random(0)
    world = World(spec, {})
    ask = emulated_ask(resolver_for(world, clock, rng))
    delivery = ModelTransport(world, clock, rng).run(send(profile, ask, rng, "user@example.com", clock.now, sender))
    assert delivery.outcome.value == "deferred"


def test_sendmail_keeps_no_host_status_between_processes() -> None:
    sender = SenderState()
    _attempt_at(1.0, sender)  # the submission's own delivery: a process of its own
    _attempt_at(600.0, sender)  # a queue run (every 10 minutes from 0): another process
    assert sender.hosts == {}


def test_agree_retry_names_an_unknown_case_in_one_line() -> None:
    done = subprocess.run([sys.executable, "-c", "from mxsim.cli import main; main()", "agree", "--retry",
                           "no-such-case", "-m", "postfix"], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 3
    assert done.stderr.strip().splitlines() == [
        "mxsim: error: --retry no-such-case: expected one of " + ", ".join(CASE_NAMES)]
