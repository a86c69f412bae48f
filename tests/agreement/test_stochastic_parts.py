"""The over-time comparison's arithmetic, without real MTAs (runs with the other tests)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mxsim.agree.errors import AgreeError
from mxsim.agree.pooling import lab_seeds, pooled_draws, pooled_model, split
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
from mxsim.cli import app
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
    differs = compare_stream(farm, "postfix", [one_host], 0.5)
    assert not differs.agreed and differs.shares[0].outcome == SUCCESS and differs.shares[0].real == 0.0
    assert 0.3 < differs.shares[0].model < 0.7
    alternating = [Handed(i * 0.5, "mx.example.org" if (i // 6) % 2 else "example.org") for i in range(48)]
    agreed = compare_stream(farm, "postfix", [alternating], 0.5)
    assert agreed.agreed, agreed.render()
    assert [s.outcome for s in agreed.shares] == [SUCCESS, ELSEWHERE, NONE] and agreed.draws == 8


def test_table_row_per_stream() -> None:
    farm = str(FARMS / "farm-half-broken.yaml")
    result = compare_stream(farm, "exim", [[Handed(i * 0.5, "mx.example.org") for i in range(8)]], 0.5)
    text = markdown({(farm, "exim"): result, (farm, "sendmail"): AgreeError("no chroot")})
    assert "| farm-half-broken | exim | 0.5 s | 8 (1, 2) | 100% /" in text
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
    result = compare_stream(farm, "opensmtpd", [one_host], 0.5)
    assert result.draws == 1 and result.agreed, result.render()
    kept = sum(share for path, share in result.model_paths if path.startswith("kept session"))
    assert abs(kept - 15 / 16) < 1e-9, result.model_paths
    spaced = compare_stream(farm, "opensmtpd", [[Handed(i * 12.0, "mx.example.org") for i in range(16)]], 12.0)
    assert spaced.draws == 16 and not spaced.agreed and not any(
        path.startswith("kept session") for path, _ in spaced.model_paths)


def test_lab_seeds_are_fixed_per_stream_and_more_extend_the_list() -> None:
    four = lab_seeds("farm-half-broken.yaml", "exim", 4)
    assert len(set(four)) == 4 and four == lab_seeds("farm-half-broken.yaml", "exim", 4)
    assert lab_seeds("farm-half-broken.yaml", "exim", 2) == four[:2]
    assert not set(four) & set(lab_seeds("farm-half-broken.yaml", "sendmail", 4))


def test_messages_split_evenly_among_runs() -> None:
    assert split(48, 8) == [6] * 8
    assert split(10, 4) == [3, 3, 2, 2]
    with pytest.raises(ValueError, match="cannot be split"):
        split(3, 4)


def test_draws_of_different_runs_are_different_draws() -> None:
    # Each run numbers its draws from 0; pooled, draw 0 of the second run is a draw of its own.
    assert pooled_draws([[0, 0, 1], [0, 0], [0]]) == [0, 0, 1, 2, 2, 3]


def test_pooled_share_is_over_all_messages_not_a_mean_of_runs() -> None:
    # Runs of 1 and 3 messages: 1 of 4 delivered as expected is 25 %, not the runs' mean of 50 %.
    farm = str(FARMS / "farm-half-broken.yaml")
    runs = [[Handed(0.0, "mx.example.org")], [Handed(i * 0.5, "web.example.com") for i in range(3)]]
    result = compare_stream(farm, "postfix", runs, 0.5)
    assert (result.messages, result.shares[0].real, result.shares[1].real) == (4, 0.25, 0.75)
    # The model's share is its replications' totals over all messages, each near a half here.
    assert 0.3 < result.shares[0].model < 0.7
    assert pooled_model([[1, 0], [1, 2]], 4) == (0.5, pytest.approx(0.5 / math.sqrt(2) * math.sqrt(1.5)))


def test_model_error_is_the_spread_of_the_pooled_share() -> None:
    # Four runs of 3 messages, each all one way (one answer per run, as OpenSMTPD's kept
    # session makes it): 16 replications, every combination once. The pooled share is the
    # number of good runs over 4, whose spread is a quarter (sample stdev over 16), not
    # the half of one run's share nor of one replay of all 12 messages.
    counts = [list(row) for row in itertools.product((0, 3), repeat=4)]
    mean, error = pooled_model(counts, 12)
    assert mean == 0.5
    assert error == pytest.approx(0.25 * math.sqrt(16 / 15) * math.sqrt(1 + 1 / 16))


def test_runs_with_different_lab_seeds_are_compared_as_that_design() -> None:
    """OpenSMTPD half a second apart: one run is one draw whatever its length, so four runs
    of four messages are four draws, and the model's error is that of four, not of one."""
    farm = str(FARMS / "farm-half-broken.yaml")
    runs = [[Handed(i * 0.5, "mx.example.org") for i in range(4)] for _ in range(4)]
    pooled = compare_stream(farm, "opensmtpd", runs, 0.5)
    one = compare_stream(farm, "opensmtpd", [[h for run in runs for h in run]], 0.5)
    assert (pooled.draws, pooled.seeds, one.draws, one.seeds) == (4, 4, 1, 1)
    # Every real message went the expected way, so the real error is at its floor and the
    # model's spread decides: about 0.5 for one draw, 0.25 for four.
    assert one.shares[0].error > 0.4 and pooled.shares[0].error < 0.35, (one.render(), pooled.render())
    kept = sum(share for path, share in pooled.model_paths if path.startswith("kept session"))
    assert abs(kept - 12 / 16) < 1e-9, pooled.model_paths
    assert pooled.hosts == [["mx.example.org"] * 4] * 4


@pytest.mark.parametrize("args", [["--lab-seeds", "0"], ["-n", "8", "--lab-seeds", "9"]])
def test_lab_seeds_beyond_the_messages_are_bad_input_before_any_run(args: list[str]) -> None:
    done = CliRunner().invoke(app, ["agree", "--replay", str(FARMS / "farm-half-broken.yaml"), "-m", "exim", *args])
    assert done.exit_code == 3, done.output
    assert "--lab-seeds" in done.output and done.output.count("\n") == 1
