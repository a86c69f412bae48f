"""Each random choice a profile makes, as an order, equals the choice made in place.

The profiles once sorted and shuffled their own lists with the generator; they now ask
mxsim/mta/draws.py for the order, so a replay can make the same draws again without
the profile. A seed must give the same order both ways, and leave the generator in the
same state (a later draw must not move).
"""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from mxsim.mta.draws import exim_address_order, exim_mx_order, shuffled_by_preference, tie_order

PREFERENCES = st.lists(st.sampled_from((0, 1, 5, 10, 10, 20)), min_size=0, max_size=8)


def _same_state(a: random.Random, b: random.Random) -> bool:
    return a.getstate() == b.getstate()


@given(preferences=PREFERENCES, seed=st.integers(0, 2**32))
def test_equal_preferences_in_random_order_as_a_keyed_sort_makes_them(preferences: list[int], seed: int) -> None:
    mine, theirs = random.Random(seed), random.Random(seed)
    items = [(p, f"mx{i}") for i, p in enumerate(preferences)]
    keyed = [(p, theirs.random(), (p, name)) for p, name in items]
    expected = [item for _p, _t, item in sorted(keyed, key=lambda k: (k[0], k[1]))]
    assert [items[i] for i in tie_order(mine, preferences)] == expected
    assert _same_state(mine, theirs)


@given(preferences=PREFERENCES, seed=st.integers(0, 2**32))
def test_exims_mx_order_as_its_random_keys_make_it(preferences: list[int], seed: int) -> None:
    mine, theirs = random.Random(seed), random.Random(seed)
    items = [(p, f"mx{i}") for i, p in enumerate(preferences)]
    expected = [item for _k, item in sorted(((p * 1000 + theirs.randrange(500), (p, name)) for p, name in items),
                                            key=lambda k: k[0])]
    assert [items[i] for i in exim_mx_order(mine, preferences)] == expected
    assert _same_state(mine, theirs)


@given(later=st.lists(st.booleans(), max_size=8), seed=st.integers(0, 2**32))
def test_exims_address_order_as_a_sort_with_random_keys_makes_it(later: list[bool], seed: int) -> None:
    mine, theirs = random.Random(seed), random.Random(seed)
    items = [(f"192.0.2.{i}", behind) for i, behind in enumerate(later)]
    expected = list(items)
    expected.sort(key=lambda item: theirs.randrange(500) + (500 if item[1] else 0))
    assert [items[i] for i in exim_address_order(mine, later)] == expected
    assert _same_state(mine, theirs)


@given(preferences=PREFERENCES, seed=st.integers(0, 2**32))
def test_postfixs_shuffle_then_stable_sort_as_the_list_itself_gets_it(preferences: list[int], seed: int) -> None:
    mine, theirs = random.Random(seed), random.Random(seed)
    items = [(p, f"192.0.2.{i}") for i, p in enumerate(preferences)]
    expected = list(items)
    theirs.shuffle(expected)
    expected.sort(key=lambda item: item[0])
    assert [items[i] for i in shuffled_by_preference(mine, preferences)] == expected
    assert _same_state(mine, theirs)
