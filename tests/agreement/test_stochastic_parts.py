"""The over-time comparison's arithmetic, without real MTAs (runs with the other tests)."""

from __future__ import annotations

import math
from pathlib import Path

from mxsim.agree.errors import AgreeError
from mxsim.agree.stochastic import (
    ELSEWHERE,
    NONE,
    SUCCESS,
    Handed,
    clustered_error,
    compare_stream,
    draws,
    epoch_seconds,
    markdown,
)
from mxsim.scenario import load_scenario

FARMS = Path(__file__).parent / "stochastic"


def test_messages_of_one_epoch_count_as_one_draw() -> None:
    # Four messages, two epochs, each epoch all one way: the error is that of two draws, not four.
    values, clusters = [1.0, 1.0, 0.0, 0.0], [0, 0, 1, 1]
    clustered = clustered_error(values, clusters, 0.5)
    independent = math.sqrt(0.25 / 4)
    assert clustered > independent * 1.3
    # The same values spread over four epochs: no larger than independent draws.
    assert clustered_error(values, [0, 1, 2, 3], 0.5) <= independent * 1.2


def test_error_never_below_one_message_in_n() -> None:
    assert clustered_error([1.0] * 10, list(range(10)), 1.0) >= math.sqrt(0.1 / 10) - 1e-12


def test_epoch_is_the_longest_ttl_of_the_file() -> None:
    assert epoch_seconds(load_scenario(FARMS / "farm-uniform-2s.yaml")) == 2.0
    assert epoch_seconds(load_scenario(FARMS / "farm-split-ttl.yaml")) == 4.0


def test_a_stream_unlike_the_model_differs_and_one_like_it_agrees() -> None:
    farm = str(FARMS / "farm-half-broken.yaml")
    # Half the answers broken: the model sends about half the mail elsewhere.
    one_host = [Handed(i * 0.5, "example.org") for i in range(48)]
    differs = compare_stream(farm, "postfix", one_host, 0.5)
    assert not differs.agreed and differs.shares[0].outcome == SUCCESS and differs.shares[0].real == 0.0
    assert 0.3 < differs.shares[0].model < 0.7
    alternating = [Handed(i * 0.5, "mx.example.org" if (i // 6) % 2 else "example.org") for i in range(48)]
    agreed = compare_stream(farm, "postfix", alternating, 0.5)
    assert agreed.agreed, agreed.render()
    assert [s.outcome for s in agreed.shares] == [SUCCESS, ELSEWHERE, NONE] and agreed.draws == 8


def test_table_row_per_stream() -> None:
    farm = str(FARMS / "farm-half-broken.yaml")
    result = compare_stream(farm, "exim", [Handed(i * 0.5, "mx.example.org") for i in range(8)], 0.5)
    text = markdown({(farm, "exim"): result, (farm, "sendmail"): AgreeError("no chroot")})
    assert "| farm-half-broken | exim | 0.5 s | 8 (2) | 100% /" in text
    assert "| farm-half-broken | sendmail | | | | | | could not run |" in text


def test_a_kept_session_makes_one_draw_of_its_messages() -> None:
    # A 2 s TTL: an answer fetched in second 0 is served through second 2, so messages
    # 0.5 s apart fall six to a draw; a 10 s keepalive joins them all.
    times = [i * 0.5 for i in range(8)]
    assert draws(times, 2.0, 0.0) == [0, 0, 0, 0, 0, 0, 1, 1]
    assert draws(times, 2.0, 11.0) == [0] * 8
    # 12 s apart, beyond the keepalive: each message is a draw of its own.
    assert draws([i * 12.0 for i in range(4)], 2.0, 11.0) == [0, 1, 2, 3]


def test_a_draw_lasts_from_its_fetch_through_the_ttl_as_unbound_serves_it() -> None:
    # 240 messages 0.5 s apart over a 2 s TTL: real unbound fetched 40 times (one farm
    # question per broken epoch, read from its log), not 60.
    assert len(set(draws([i * 0.5 for i in range(240)], 2.0, 0.0))) == 40
    # An epoch starts at the first message after the last one ended, not on a grid.
    assert draws([0.9, 2.9, 3.2, 5.9, 6.1], 2.0, 0.0) == [0, 0, 1, 1, 2]


def test_opensmtpd_stream_half_a_second_apart_is_one_draw_in_the_model_too() -> None:
    """The model sends every message after the first over the first one's session: the
    real stream's one host is what it predicts, and the comparison clusters it as one draw."""
    farm = str(FARMS / "farm-half-broken.yaml")
    one_host = [Handed(i * 0.5, "mx.example.org") for i in range(16)]
    result = compare_stream(farm, "opensmtpd", one_host, 0.5)
    assert result.draws == 1 and result.agreed, result.render()
    kept = sum(share for path, share in result.model_paths if path.startswith("kept session"))
    assert abs(kept - 15 / 16) < 1e-9, result.model_paths
    spaced = compare_stream(farm, "opensmtpd", [Handed(i * 12.0, "mx.example.org") for i in range(16)], 12.0)
    assert spaced.draws == 16 and not spaced.agreed and not any(
        path.startswith("kept session") for path, _ in spaced.model_paths)
