"""Random streams per delivery attempt, so an attempt's draws are its own.

Replay runs many attempts at once on one virtual clock; with one shared generator, which
backend a farm serves or how equal MX hosts are ordered would depend on how the other
attempts' draws happened to interleave. Each attempt instead draws from a stream derived
from the run, the message and the attempt's number, and the resolver and the transport,
which outlive attempts, draw through a `SwitchedRandom` that the simulation points at the
stream of the attempt it is resuming.
"""

from __future__ import annotations

import _random
import random
from typing import Any

STREAM_BITS = 64  # of the run's base; the message index and attempt number sit below it
ATTEMPT_BITS = 24


def stream_base(label: str) -> int:
    """A run's base for its attempts' streams, from the text that names the run."""
    return random.Random(label).getrandbits(STREAM_BITS)


def attempt_stream(base: int, message: int, attempt: int) -> random.Random:
    """The stream of one attempt, seeded from an integer when it first draws."""
    return LazyRandom((base << (STREAM_BITS + ATTEMPT_BITS)) | (message << ATTEMPT_BITS) | attempt)


class LazyRandom(random.Random):
    """`random.Random(seed)`, seeded at its first draw: seeding the Mersenne Twister costs
    about 4 µs, and about half of replay's attempts draw nothing (every answer cached, one
    host). Its draws are those of `random.Random(seed)`, value for value."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._generator: _random.Random | None = None
        self.gauss_next: float | None = None  # what random.Random.seed sets: `gauss` keeps its spare value here

    def _seeded(self) -> _random.Random:
        generator = self._generator
        if generator is None:
            # The bare generator: its `random` and `getrandbits` are random.Random's own,
            # seeded the same way, without the Python layer's seeding (a sixth of the cost).
            generator = self._generator = _random.Random(self._seed)
            # From now on the generator's own methods answer, without this class in between.
            self.random = generator.random  # type: ignore[method-assign]
            self.getrandbits = generator.getrandbits  # type: ignore[method-assign]
        return generator

    def getstate(self) -> tuple[Any, ...]:
        return (self.VERSION, self._seeded().getstate(), self.gauss_next)

    def setstate(self, state: tuple[Any, ...]) -> None:
        self._seeded().setstate(state[1])
        self.gauss_next = state[2]

    def random(self) -> float:
        return self._seeded().random()

    def getrandbits(self, k: int, /) -> int:
        return self._seeded().getrandbits(k)


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
