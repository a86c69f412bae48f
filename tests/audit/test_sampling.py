"""`--samples auto`'s arithmetic and its stopping rule, on hand-built samples."""

from __future__ import annotations

import pytest

from mxsim.audit.sampling import (
    Agreement,
    agreement,
    detection_queries,
    detection_rounds,
    miss_probability,
    uniform,
)
from mxsim.transport.base import NetError
from tests.audit.replies import A1, A2, TYPES, ZONE, healthy, observed, sample


@pytest.mark.parametrize(("share", "miss", "queries"), [(0.05, 0.001, 135), (0.1, 0.001, 66), (1 / 3, 0.01, 12)])
def test_the_detection_count_is_the_least_n_with_1_minus_p_to_the_n_at_most_the_miss(
        share: float, miss: float, queries: int) -> None:
    assert detection_queries(share, miss) == queries
    assert (1 - share) ** queries <= miss < (1 - share) ** (queries - 1)


def test_the_rounds_are_spread_over_the_addresses_and_keep_the_bound() -> None:
    assert detection_rounds(0.05, 0.001, 1) == 12 and detection_rounds(0.05, 0.001, 2) == 6
    for addresses in (1, 2, 3, 8):
        rounds = detection_rounds(0.05, 0.001, addresses)
        assert miss_probability(0.05, rounds, addresses) <= 0.001
        assert rounds == 1 or miss_probability(0.05, rounds - 1, addresses) > 0.001  # no round more than needed


def test_alike_backends_are_uniform_a_difference_a_lost_query_or_a_ttl_countdown_is_not() -> None:
    farm = healthy(A1, nsid="a", rounds=2) + healthy(A2, nsid="b", rounds=2)
    assert uniform(farm)
    cname = observed("MX", ["example.org. 3600 CNAME web.example.net."], nsid="c")
    assert agreement([*farm, sample(A1, "MX", cname)]) == Agreement.DIFFERS
    assert not uniform([*farm, sample(A1, "MX", None, failures=(NetError.TIMEOUT,))])
    lower = observed("MX", [ZONE["MX"][0].replace("3600", "3500")], nsid="a")
    assert not uniform([*farm, sample(A2, "MX", lower)])


def test_a_backend_seen_on_some_types_only_is_not_yet_uniform() -> None:
    farm = healthy(A1, nsid="a", rounds=2)
    # Backend b answered MX alike, but was never asked TXT: its TXT could differ.
    partial = [*farm, sample(A1, "MX", observed("MX", ZONE["MX"], nsid="b"))]
    assert agreement(partial) == Agreement.INCOMPLETE  # alike so far: one more round, not the full count
    whole = partial + [sample(A1, t, observed(t, ZONE[t], nsid="b")) for t in TYPES]
    assert uniform(whole)
