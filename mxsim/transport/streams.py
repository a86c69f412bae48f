"""Random streams per delivery attempt, so an attempt's draws are its own.

Replay runs many attempts at once on one virtual clock; with one shared generator, which
backend a farm serves or how equal MX hosts are ordered would depend on how the other
attempts' draws happened to interleave. Each attempt instead draws from a stream derived
from the run, the message and the attempt's number, and the resolver and the transport,
which outlive attempts, draw through a `SwitchedRandom` that the simulation points at the
stream of the attempt it is resuming. The streams themselves are in
mxsim/transport/xoshiro.py, compiled in the compiled build.
"""

from __future__ import annotations

import random
from typing import Protocol


class RandomSource(Protocol):
    """What an MTA's random choices draw from (mxsim/mta/draws.py): an attempt's own stream
    in replay, a `random.Random` elsewhere. Every draw is made from these two, as
    random.Random makes its others."""

    def random(self) -> float: ...

    def getrandbits(self, k: int, /) -> int: ...


class SwitchedRandom(random.Random):
    """Draws from `current`; every other method of `random.Random` reaches it through these two,
    so a draw through this object equals the same draw on `current` itself."""

    def __init__(self, current: RandomSource) -> None:
        super().__init__(0)
        self.current = current

    def random(self) -> float:
        return self.current.random()

    def getrandbits(self, k: int, /) -> int:
        return self.current.getrandbits(k)
