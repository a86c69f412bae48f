"""The random choices an MTA makes while routing, each as an order of indices.

Every draw a profile makes goes through one of these, by way of `Context.decide`: the
draws are the MTA's own (Exim's random keys, Postfix's shuffle, equal preferences in
random order), made in the order the MTA makes them, and what comes out is only the
order they decide. A replay that remembers an attempt (mta/attempt_memo.py) makes the
same draws from the attempt's own stream and follows the remembered attempt only while
they decide the same order.
"""

from __future__ import annotations

from collections.abc import MutableSequence, Sequence

from mxsim.transport.streams import RandomSource

Order = tuple[int, ...]


def below(rng: RandomSource, n: int) -> int:
    """`rng.randrange(n)` for n > 0, draw for draw: the fewest bits that hold n - 1, drawn
    again while too large (CPython's random.py, `_randbelow_with_getrandbits`), without
    `randrange`'s checks of its arguments (Exim draws at every attempt)."""
    bits = n.bit_length()
    value = rng.getrandbits(bits)
    while value >= n:
        value = rng.getrandbits(bits)
    return value


def tie_order(rng: RandomSource, preferences: Sequence[int]) -> Order:
    """By preference, equal preferences in random order (RFC 5321 section 5.1): one draw per record."""
    keyed = [(preference, rng.random(), index) for index, preference in enumerate(preferences)]
    return tuple(index for _preference, _tie, index in sorted(keyed, key=lambda k: (k[0], k[1])))


def exim_mx_order(rng: RandomSource, preferences: Sequence[int]) -> Order:
    """Exim's MX sort key: preference x 1000 plus a random 0-499 (host.c), ties kept in
    the order the records came."""
    keyed = [(preference * 1000 + below(rng, 500), index) for index, preference in enumerate(preferences)]
    return tuple(index for _key, index in sorted(keyed, key=lambda k: k[0]))


def exim_address_order(rng: RandomSource, later: Sequence[bool]) -> Order:
    """Exim's order of one host's addresses: a random 0-499 each, the other family +500
    (host.c); a stable sort, so the draws are made in the addresses' order."""
    keys = [below(rng, 500) + (500 if behind else 0) for behind in later]
    return tuple(sorted(range(len(keys)), key=keys.__getitem__))


def choice(rng: RandomSource, letters: str) -> str:
    """`random.choice(letters)`, draw for draw (queue ids)."""
    return letters[below(rng, len(letters))]


def shuffle(rng: RandomSource, items: MutableSequence[int]) -> None:
    """`random.shuffle(items)`, draw for draw (CPython's random.py): from the end, each
    place swapped with one at or before it."""
    for i in range(len(items) - 1, 0, -1):
        j = below(rng, i + 1)
        items[i], items[j] = items[j], items[i]


def shuffled_by_preference(rng: RandomSource, preferences: Sequence[int]) -> Order:
    """Postfix's order: all addresses shuffled (`random.shuffle`, whose draws depend on the
    count alone), then sorted by preference, a stable sort, so equal preferences stay
    shuffled (smtp_addr.c)."""
    order = list(range(len(preferences)))
    shuffle(rng, order)
    order.sort(key=preferences.__getitem__)
    return tuple(order)
