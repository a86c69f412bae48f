"""Random streams per delivery attempt, so an attempt's draws are its own.

Replay runs many attempts at once on one virtual clock; with one shared generator, which
backend a farm serves or how equal MX hosts are ordered would depend on how the other
attempts' draws happened to interleave. Each attempt instead draws from a stream derived
from the run, the message and the attempt's number, and the resolver and the transport,
which outlive attempts, draw through a `SwitchedRandom` that the simulation points at the
stream of the attempt it is resuming.
"""

from __future__ import annotations

import random
from typing import Protocol

from mxsim.transport.xoshiro import Xoshiro128

STREAM_BITS = 64  # of the run's base
ATTEMPT_BITS = 24  # the attempt's number sits below the message's index


class RandomSource(Protocol):
    """What an MTA's random choices draw from (mxsim/mta/draws.py): an attempt's own stream
    in replay, a `random.Random` elsewhere. Every draw is made from these two, as
    random.Random makes its others."""

    def random(self) -> float: ...

    def getrandbits(self, k: int, /) -> int: ...


def stream_base(label: str) -> int:
    """A run's base for its attempts' streams, from the text that names the run."""
    return random.Random(label).getrandbits(STREAM_BITS)


def attempt_stream(base: int, message: int, attempt: int) -> Xoshiro128:
    """The stream of one attempt of one message in the run of `base`: xoshiro128**
    (mxsim/transport/xoshiro.py), which starts in two scrambles where a Mersenne Twister
    is seeded in thousands of steps, and replay starts one for nearly every message."""
    return Xoshiro128(base, (message << ATTEMPT_BITS) | attempt)


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
