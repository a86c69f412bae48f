"""Replay's shortcuts change no byte: every report with them equals the one without.

A shortcut that skipped work consuming random draws would shift every draw after it,
and the tallies would drift; so the comparison runs every bundled scenario under every
MTA, several seeds, arrivals close enough that retries of earlier messages interleave
with new ones, and random small scenarios (weights, TTLs, host behaviours).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mxsim.commands.replay import ArrivalProcess, ReplayConfig, run_replay
from mxsim.memo import NO_MEMO
from mxsim.mta import PROFILE_NAMES
from mxsim.report import replay_json, replay_junit, replay_markdown, replay_text
from mxsim.scenario import bundled_scenarios, load_scenario, load_scenario_text
from mxsim.scenario.spec import ScenarioSpec

MESSAGES = 40
# (seed, arrival window, arrival process, resolvers): messages every 90-360 s, so a
# message's retries (minutes to hours apart) fall between later arrivals.
RUNS = ((1, 3600.0, ArrivalProcess.UNIFORM, 1), (2, 14400.0, ArrivalProcess.POISSON, 1),
        (3, 7200.0, ArrivalProcess.UNIFORM, 3))
# Mail that can never be delivered is retried for days (hundreds of attempts per message
# under Sendmail's queue runs); four hours past the last arrival holds several retries
# of every message and keeps the test's time reasonable.
HORIZON = 4 * 3600.0


def reports(spec: ScenarioSpec, seed: int, arrival: float, process: ArrivalProcess, resolvers: int,
            monkeypatch: pytest.MonkeyPatch, *, memo: bool, messages: int = MESSAGES) -> tuple[str, ...]:
    """The reports of one replay in every format, with the shortcuts on or off."""
    if memo:
        monkeypatch.delenv(NO_MEMO, raising=False)
    else:
        monkeypatch.setenv(NO_MEMO, "1")
    result = run_replay(ReplayConfig(specs=(spec,), messages=messages, mtas=PROFILE_NAMES, seed=seed,
                                     arrival=arrival, process=process, resolvers=resolvers,
                                     horizon=arrival + HORIZON))
    return tuple(render(result) for render in FORMATS.values())


FORMATS = {"text": replay_text.render, "json": replay_json.render, "markdown": replay_markdown.render,
           "junit": replay_junit.render}


@pytest.mark.parametrize("name", bundled_scenarios())
def test_every_bundled_scenario_replays_the_same_bytes_without_the_memo(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = load_scenario(name)
    for seed, arrival, process, resolvers in RUNS:
        with_memo = reports(spec, seed, arrival, process, resolvers, monkeypatch, memo=True)
        without = reports(spec, seed, arrival, process, resolvers, monkeypatch, memo=False)
        for form, mine, theirs in zip(FORMATS, with_memo, without, strict=True):
            assert mine == theirs, f"{form} report differs: {name} seed {seed}"


SCENARIO = """
mxsim: 1
name: random-farm
recipient: user@example.org
expect:
  deliver_to: [mx1.example.org, mx2.example.org]
zones:
  example.org: |
    $TTL {good_ttl}
    @   SOA ns1.example.org. hostmaster.example.org. 1 3600 600 86400 {negative_ttl}
    @   NS  ns1.example.org.
    @   MX  10 mx1.example.org.
    @   MX  {second_preference} mx2.example.org.
    mx1 A   192.0.2.25
    mx1 A   192.0.2.26
    mx2 A   192.0.2.27
    ns1 A   192.0.2.53
  example.net: |
    $TTL {bad_ttl}
    @   SOA ns1.example.net. hostmaster.example.net. 1 3600 600 86400 {bad_ttl}
    web A   198.51.100.80
servers:
  ns1.example.org:
    address: 192.0.2.53
    zones: [example.org]
    backends:
      good: {{weight: {good_weight}}}
      bad:
        weight: {bad_weight}
        answer:
          example.org: |
            example.org. {bad_ttl} CNAME web.example.net.
hosts:
  mx1.example.org: {{smtp: {mx1}}}
  mx2.example.org: {{smtp: {mx2}}}
  web.example.net: {{smtp: {web}}}
resolver:
  cache: {cache}
"""

BEHAVIOURS = ("accept", "refuse", "drop", "tarpit", "reject", "tempfail")


@st.composite
def scenarios(draw: st.DrawFn) -> ScenarioSpec:
    bad = draw(st.sampled_from((0.1, 0.5, 0.9)))
    text = SCENARIO.format(
        good_ttl=draw(st.sampled_from((0, 1, 30, 300, 3600))),
        negative_ttl=draw(st.sampled_from((0, 60, 900))),
        bad_ttl=draw(st.sampled_from((0, 5, 300, 86400))),
        second_preference=draw(st.sampled_from((10, 20))),
        good_weight=1 - bad, bad_weight=bad,
        mx1=draw(st.sampled_from(BEHAVIOURS)), mx2=draw(st.sampled_from(BEHAVIOURS)),
        web=draw(st.sampled_from(BEHAVIOURS)),
        cache=draw(st.sampled_from(("true", "false"))),
    )
    return load_scenario_text(text, file="random-farm.yaml")


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=scenarios(), seed=st.integers(0, 2**16), resolvers=st.sampled_from((1, 2)),
       arrival=st.sampled_from((600.0, 3600.0, 21600.0)))
def test_random_scenarios_replay_the_same_bytes_without_the_memo(
        spec: ScenarioSpec, seed: int, resolvers: int, arrival: float, monkeypatch: pytest.MonkeyPatch) -> None:
    with_memo = reports(spec, seed, arrival, ArrivalProcess.UNIFORM, resolvers, monkeypatch, memo=True, messages=24)
    without = reports(spec, seed, arrival, ArrivalProcess.UNIFORM, resolvers, monkeypatch, memo=False, messages=24)
    assert with_memo == without


@pytest.mark.parametrize(("mtas", "overrides"), [
    (PROFILE_NAMES, {}), (("rfc5321",), {"rfc5321:mta_sts": "enforce"}),
])
def test_an_mta_sts_policy_changing_over_time_replays_the_same_bytes_without_the_memo(
        mtas: tuple[str, ...], overrides: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The policy's move and fix span the whole arrival window, and the bucket report is compared too."""
    spec = load_scenario("mta-sts-migration-over-time")
    out: list[tuple[str, str]] = []
    for memo in (True, False):
        if memo:
            monkeypatch.delenv(NO_MEMO, raising=False)
        else:
            monkeypatch.setenv(NO_MEMO, "1")
        result = run_replay(ReplayConfig(specs=(spec,), messages=MESSAGES, mtas=mtas, overrides=overrides,
                                         seed=4, arrival=8 * 3600.0, process=ArrivalProcess.POISSON,
                                         resolvers=2, bucket=3600.0))
        out.append((replay_text.render(result), replay_json.render(result)))
    assert out[0] == out[1]
    assert "deferred on their first attempt" in out[0][0]  # the run does meet the stale policy
