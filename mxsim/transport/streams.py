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

STREAM_BITS = 64  # of the run's base; the message index and attempt number sit below it
ATTEMPT_BITS = 24


def stream_base(label: str) -> int:
    """A run's base for its attempts' streams, from the text that names the run."""
    return random.Random(label).getrandbits(STREAM_BITS)


def attempt_stream(base: int, message: int, attempt: int) -> random.Random:
    """The stream of one attempt: seeded from an integer (a few microseconds; a text seed costs more)."""
    return random.Random((base << (STREAM_BITS + ATTEMPT_BITS)) | (message << ATTEMPT_BITS) | attempt)


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
