"""Weighted farms over time: each real MTA handed a stream, held to `replay` within 2 clustered SE.

Three scaled-down farms (tests/agreement/stochastic/: a uniform 2 s TTL; good and broken
answers with different TTLs; half the answers broken), each MTA handed MESSAGES messages
half a second apart over real unbound (docs/agreement.md#over-time-weighted-farms). All twelve streams
run once per session, four at a time; each test checks its own.
"""

from __future__ import annotations

import os
from concurrent.futures import Future
from pathlib import Path

import pytest

from mxsim.agree import AgreeError
from mxsim.agree.mtas import NAMES
from mxsim.agree.stochastic import ELSEWHERE, SUCCESS, StreamComparison, run_streams

pytestmark = pytest.mark.agreement

FARMS = sorted(str(p) for p in (Path(__file__).parent / "stochastic").glob("*.yaml"))
MESSAGES = 48
INTERVAL = 0.5

Streams = dict[tuple[str, str], Future[StreamComparison | AgreeError]]


@pytest.fixture(scope="session")
def streams() -> Streams:
    keys = [(farm, mta) for farm in FARMS for mta in NAMES]
    return run_streams(keys, messages=MESSAGES, interval=INTERVAL, jobs=int(os.environ.get("MXSIM_AGREE_JOBS", "4")))


def test_three_farms_are_exercised() -> None:
    assert [Path(f).stem for f in FARMS] == ["farm-half-broken", "farm-split-ttl", "farm-uniform-2s"]


# OpenSMTPD keeps its session to the first host open for the next message to the same
# domain (smtpd/mta_session.c, the "hangon" timer; no smtpd.conf setting turns it off), so a
# stream of messages half a second apart rides one session and one DNS answer. The model
# routes every message afresh: a known difference (docs/agreement.md#over-time-weighted-farms).
SESSION_KEEPING = {"opensmtpd"}
ROUTED_AFRESH = [mta for mta in NAMES if mta not in SESSION_KEEPING]


def _result(streams: Streams, farm: str, mta: str) -> StreamComparison:
    result = streams[(farm, mta)].result()
    if isinstance(result, AgreeError):
        pytest.fail(f"{farm} {mta}: could not run the real MTA: {result}", pytrace=False)
    print(result.render())
    assert result.messages == MESSAGES and result.epochs >= 6
    # Every message reached a host on its first attempt, the broken answer's or the right one.
    assert all(share.real == 0 for share in result.shares if share.outcome not in (SUCCESS, ELSEWHERE))
    return result


@pytest.mark.parametrize("mta", ROUTED_AFRESH)
@pytest.mark.parametrize("farm", FARMS, ids=lambda f: Path(f).stem)
def test_real_mta_over_time_matches_replay(farm: str, mta: str, streams: Streams) -> None:
    result = _result(streams, farm, mta)
    # Nine comparisons at 2 SE: one beyond by chance is expected now and then (a 5 % tail
    # each), so each must be within 3 SE here and test_few_beyond_two_errors counts the rest.
    assert all(abs(s.real - s.model) <= 3 * s.error for s in result.shares), result.render()


def test_few_beyond_two_errors(streams: Streams) -> None:
    results = [_result(streams, farm, mta) for farm in FARMS for mta in ROUTED_AFRESH]
    beyond = [r.render() for r in results if not r.agreed]
    assert len(beyond) <= 1, "\n".join(beyond)


@pytest.mark.parametrize("farm", FARMS, ids=lambda f: Path(f).stem)
def test_opensmtpd_rides_one_session(farm: str, streams: Streams) -> None:
    result = _result(streams, farm, "opensmtpd")
    changes = sum(a != b for a, b in zip(result.hosts, result.hosts[1:], strict=False))
    assert changes <= 2, result.render()
