"""Each attempt's random stream: xoshiro128**, started by SplitMix64.

Blackman and Vigna, "Scrambled linear pseudorandom number generators" (ACM TOMS, 2021):
four 32-bit words, shifted, rotated and xored; an output is the second word times 5,
rotated, times 9. Its state starts from two SplitMix64 values (Steele, Lea and Flood,
OOPSLA 2014), the seeding its authors recommend.

Why not the Mersenne Twister that random.Random uses: seeding one fills 624 words twice,
and replay starts a stream for nearly every message, drawing only a few values from each
(an order of MX hosts, a shuffle of addresses, a farm's backend). Starting this one costs
two scrambles. Every value a draw computes stays below 2**62, so the compiled build
(docs/architecture.md) draws in machine words.
"""

from __future__ import annotations

import random
from typing import Final

MASK64: Final = (1 << 64) - 1
MASK32: Final = (1 << 32) - 1
GOLDEN: Final = 0x9E3779B97F4A7C15  # SplitMix64's step: odd, so its counter visits every value
FLOAT_STEP: Final = 1.0 / (1 << 53)  # a double holds 53 bits
STREAM_BITS: Final = 64  # of the run's base
ATTEMPT_BITS: Final = 24  # the attempt's number sits below the message's index


def scramble(value: int) -> int:
    """SplitMix64's output function, a bijection of 64-bit values."""
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & MASK64
    return value ^ (value >> 31)


class Xoshiro128:
    """One stream: `random()` and `getrandbits(k)`, made from 32-bit outputs the way CPython
    makes them from the Mersenne Twister's. It starts at its first draw: about half of
    replay's attempts draw nothing (every answer cached, one host)."""

    __slots__ = ("base", "key", "s0", "s1", "s2", "s3", "started")

    def __init__(self, base: int, key: int) -> None:
        """The stream of `key` (below 2**62) in the run whose 64-bit base is `base`."""
        self.base = base
        self.key = key
        self.s0 = self.s1 = self.s2 = self.s3 = 0
        self.started = False

    def start(self) -> None:
        """Two SplitMix64 values from the counter base ^ key. Two keys below 2**62 give
        counters that differ by less than 2**62, less than the step either way round 2**64,
        so no stream's second value is another's first: no two streams start alike."""
        counter = self.base ^ self.key
        low = scramble((counter + GOLDEN) & MASK64)
        high = scramble((counter + 2 * GOLDEN) & MASK64)
        self.s0, self.s1 = low & MASK32, low >> 32
        self.s2, self.s3 = high & MASK32, high >> 32
        self.started = True

    def next32(self) -> int:
        if not self.started:
            self.start()
        s0, s1, s2, s3 = self.s0, self.s1, self.s2, self.s3
        times5 = (s1 * 5) & MASK32
        result = ((((times5 << 7) | (times5 >> 25)) & MASK32) * 9) & MASK32
        shifted = (s1 << 9) & MASK32
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= shifted
        self.s0, self.s1, self.s2 = s0, s1, s2
        self.s3 = ((s3 << 11) | (s3 >> 21)) & MASK32
        return result

    def random(self) -> float:
        """53 bits from two outputs: 27 of the first, 26 of the second (CPython's random())."""
        high = self.next32() >> 5
        low = self.next32() >> 6
        return (high * 67108864 + low) * FLOAT_STEP

    def getrandbits(self, k: int, /) -> int:
        """The top `k` bits of one output; past 32, outputs from the lowest word up, the
        last one's top bits (CPython's getrandbits())."""
        if k <= 32:
            if k < 0:
                raise ValueError("number of bits must be non-negative")
            return self.next32() >> (32 - k)
        value, shift = 0, 0
        while k > 32:
            value |= self.next32() << shift
            shift += 32
            k -= 32
        return value | ((self.next32() >> (32 - k)) << shift)


def stream_base(label: str) -> int:
    """A run's base for its attempts' streams, from the text that names the run."""
    return random.Random(label).getrandbits(STREAM_BITS)


def attempt_stream(base: int, message: int, attempt: int) -> Xoshiro128:
    """The stream of one attempt of one message in the run of `base`."""
    return Xoshiro128(base, (message << ATTEMPT_BITS) | attempt)
