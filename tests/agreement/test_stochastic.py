"""Weighted farms over time: each real MTA handed a stream, held to `replay` within 2 clustered SE.

Three scaled-down farms (tests/agreement/stochastic/: a uniform 2 s TTL; good and broken
answers with different TTLs; half the answers broken), each MTA handed MESSAGES messages
half a second apart over real unbound (docs/agreement.md#over-time-weighted-farms), split
among LAB_SEEDS runs with the lab seeds fixed for the stream, and pooled. OpenSMTPD sends
a run over one session and one MX answer, as its model does: one draw per run. So it is
also handed SPACED_MESSAGES messages SPACING seconds apart, beyond its 10 s session
keepalive, each of which asks DNS afresh. All fifteen streams start at once (two pools:
the spaced runs mostly wait); each test checks its own.
"""

from __future__ import annotations

import os
from concurrent.futures import Future
from pathlib import Path

import pytest

from mxsim.agree import AgreeError
from mxsim.agree.mtas import NAMES
from mxsim.agree.stochastic import ELSEWHERE, LAB_SEEDS, SUCCESS, StreamComparison, run_streams

pytestmark = pytest.mark.agreement

FARMS = sorted(str(p) for p in (Path(__file__).parent / "stochastic").glob("*.yaml"))
MESSAGES = 96
INTERVAL = 0.5
SPACED_MESSAGES = 24
SPACING = 12.0  # beyond OpenSMTPD's keepalive (10 polls of a second after the last message)

Streams = dict[tuple[str, str, float], Future[StreamComparison | AgreeError]]
STREAMS = [(farm, mta, INTERVAL) for farm in FARMS for mta in NAMES] + [
    (farm, "opensmtpd", SPACING) for farm in FARMS]


@pytest.fixture(scope="session")
def streams() -> Streams:
    jobs = int(os.environ.get("MXSIM_AGREE_JOBS", "4"))
    spaced = run_streams([(farm, "opensmtpd") for farm in FARMS], messages=SPACED_MESSAGES,
                         interval=SPACING, jobs=2 * len(FARMS))
    close = run_streams([(farm, mta) for farm in FARMS for mta in NAMES], messages=MESSAGES,
                        interval=INTERVAL, jobs=jobs)
    return {**{(f, m, INTERVAL): future for (f, m), future in close.items()},
            **{(f, m, SPACING): future for (f, m), future in spaced.items()}}


def test_three_farms_are_exercised() -> None:
    assert [Path(f).stem for f in FARMS] == ["farm-half-broken", "farm-split-ttl", "farm-uniform-2s"]


def _result(streams: Streams, farm: str, mta: str, interval: float) -> StreamComparison:
    result = streams[(farm, mta, interval)].result()
    if isinstance(result, AgreeError):
        pytest.fail(f"{farm} {mta}: could not run the real MTA: {result}", pytrace=False)
    print(result.render())
    assert result.messages == (MESSAGES if interval == INTERVAL else SPACED_MESSAGES)
    assert result.seeds == LAB_SEEDS
    # Every message reached a host on its first attempt, the broken answer's or the right one.
    assert all(share.real == 0 for share in result.shares if share.outcome not in (SUCCESS, ELSEWHERE))
    return result


@pytest.mark.parametrize(("farm", "mta", "interval"), STREAMS,
                         ids=[f"{Path(f).stem}-{m}-{i:g}s" for f, m, i in STREAMS])
def test_real_mta_over_time_matches_replay(farm: str, mta: str, interval: float, streams: Streams) -> None:
    result = _result(streams, farm, mta, interval)
    # A draw lasts the TTL plus one second and no draw spans two runs: at least one per run.
    assert result.draws >= LAB_SEEDS, result.render()
    # Fifteen comparisons at 2 SE: one or two beyond by chance are expected now and then (a
    # 5 % tail each), so each must be within 3 SE here and test_few_beyond_two_errors counts
    # the rest.
    assert all(abs(s.real - s.model) <= 3 * s.error for s in result.shares), result.render()


def test_few_beyond_two_errors(streams: Streams) -> None:
    results = [_result(streams, farm, mta, interval) for farm, mta, interval in STREAMS]
    beyond = [r.render() for r in results if not r.agreed]
    assert len(beyond) <= 2, "\n".join(beyond)


@pytest.mark.parametrize("farm", FARMS, ids=lambda f: Path(f).stem)
def test_opensmtpd_rides_one_session_as_modelled(farm: str, streams: Streams) -> None:
    """Half a second apart, every message of a run after its first rides the first one's
    session (the model: no DNS, no connection of its own), so each run goes to one host."""
    result = _result(streams, farm, "opensmtpd", INTERVAL)
    kept = sum(share for path, share in result.model_paths if path.startswith("kept session"))
    assert abs(kept - (MESSAGES - LAB_SEEDS) / MESSAGES) < 1e-9, result.render()
    assert all(len(set(run)) == 1 for run in result.hosts), result.render()
    assert result.draws == LAB_SEEDS, result.render()
