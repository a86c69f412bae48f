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
from typing import Any

from mxsim.transport.xoshiro import Xoshiro128

STREAM_BITS = 64  # of the run's base
ATTEMPT_BITS = 24  # the attempt's number sits below the message's index


def stream_base(label: str) -> int:
    """A run's base for its attempts' streams, from the text that names the run."""
    return random.Random(label).getrandbits(STREAM_BITS)


def attempt_stream(base: int, message: int, attempt: int) -> random.Random:
    """The stream of one attempt of one message in the run of `base`."""
    return AttemptStream(base, (message << ATTEMPT_BITS) | attempt)


class AttemptStream(random.Random):
    """random.Random over xoshiro128** (mxsim/transport/xoshiro.py), started at its first
    draw: about half of replay's attempts draw nothing (every answer cached, one host).
    Every other method of random.Random (shuffle, choices, randrange, gauss) draws through
    `random` and `getrandbits`."""

    def __init__(self, base: int, key: int) -> None:
        self._base = base
        self._key = key
        self._generator: Xoshiro128 | None = None
        self.gauss_next: float | None = None  # what random.Random.seed sets: `gauss` keeps its spare value here

    def _started(self) -> Xoshiro128:
        generator = self._generator
        if generator is None:
            generator = self._generator = Xoshiro128(self._base, self._key)
            # From now on the generator's own methods answer, without this class in between.
            self.random = generator.random  # type: ignore[method-assign]
            self.getrandbits = generator.getrandbits  # type: ignore[method-assign]
        return generator

    def seed(self, a: Any = None, version: int = 2) -> None:
        raise TypeError("an attempt's stream starts from its attempt, not from a seed")

    def getstate(self) -> tuple[Any, ...]:
        generator = self._started()
        return ((generator.s0, generator.s1, generator.s2, generator.s3), self.gauss_next)

    def setstate(self, state: tuple[Any, ...]) -> None:
        generator = self._started()
        (generator.s0, generator.s1, generator.s2, generator.s3), self.gauss_next = state

    def random(self) -> float:
        return self._started().random()

    def getrandbits(self, k: int, /) -> int:
        return self._started().getrandbits(k)


class SwitchedRandom(random.Random):
    """Draws from `current`; every other method of `random.Random` reaches it through these two,
    so a draw through this object equals the same draw on `current` itself."""

    def __init__(self, current: random.Random) -> None:
        super().__init__(0)
        self.current = current

    def random(self) -> float:
        return self.current.random()

    def getrandbits(self, k: int, /) -> int:
        return self.current.getrandbits(k)
