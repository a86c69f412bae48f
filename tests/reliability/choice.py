"""Where the mutation generators get their choices: a seeded `random.Random` or hypothesis.

The generators in `mutations` and `garbage` only ever ask for an integer in a range, so the
same code runs under hypothesis in the tests (which records every choice and shrinks the
inputs towards the first option of each choice) and from a plain seeded generator in the
long campaign (`tools/campaign.py`), where a hundred thousand inputs must be cheap.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol, TypeVar

from hypothesis import strategies as st

_T = TypeVar("_T")


class Chooser(Protocol):
    def integer(self, low: int, high: int) -> int:
        """An integer in [low, high]; `low` is the simplest answer."""


class RandomChooser:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def integer(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)


class DrawChooser:
    """Choices drawn from hypothesis's `st.data()`, so failing inputs shrink."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data

    def integer(self, low: int, high: int) -> int:
        return self.data.draw(st.integers(low, high))


def pick(chooser: Chooser, options: Sequence[_T]) -> _T:
    return options[chooser.integer(0, len(options) - 1)]


def coin(chooser: Chooser, one_in: int = 2) -> bool:
    """True about once in `one_in` draws (False is the simpler answer)."""
    return chooser.integer(0, one_in - 1) == one_in - 1


def some_bytes(chooser: Chooser, low: int, high: int) -> bytes:
    """Random bytes of a length in [low, high], made from one drawn seed (cheap for long runs)."""
    length = chooser.integer(low, high)
    return random.Random(chooser.integer(0, 2**32 - 1)).randbytes(length)
