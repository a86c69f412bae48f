"""Streaming tallies for replays: memory flat in the number of messages.

Delays go into a log-bucketed histogram (1% relative resolution) instead of a list;
paths and bounce texts into counters of distinct strings (capped).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Final

from mxsim.pickling import by_fields

BUCKET_BASE: Final = math.log(1.01)  # each bucket spans 1%: percentiles are exact to within 1%
MAX_DISTINCT: Final = 2000  # distinct paths or texts kept; the rest are counted as "other"
OTHER: Final = "(other paths)"


class DelayHistogram:
    def __init__(self) -> None:
        self.buckets: Counter[int] = Counter()
        self.count = 0
        self.maximum = 0.0
        self.total = 0.0

    def add(self, seconds: float) -> None:
        self.buckets[math.floor(math.log1p(max(seconds, 0.0)) / BUCKET_BASE)] += 1
        self.count += 1
        self.total += seconds
        self.maximum = max(self.maximum, seconds)

    def percentile(self, share: float) -> float | None:
        """The smallest bucket value below which `share` of the delays lie; None when empty."""
        if not self.count:
            return None
        rank = max(1, math.ceil(share * self.count))
        seen = 0
        for bucket in sorted(self.buckets):
            seen += self.buckets[bucket]
            if seen >= rank:
                upper = math.expm1((bucket + 1) * BUCKET_BASE)
                return min(upper, self.maximum)
        return self.maximum


class CappedCounter:
    def __init__(self, cap: int = MAX_DISTINCT) -> None:
        self.counts: Counter[str] = Counter()
        self.cap = cap

    def add(self, key: str) -> None:
        if key in self.counts or len(self.counts) < self.cap:
            self.counts[key] += 1
        else:
            self.counts[OTHER] += 1

    def ranked(self) -> tuple[tuple[str, int], ...]:
        """Most frequent first; ties by text, so the order is the same on every run."""
        return tuple(sorted(self.counts.items(), key=lambda item: (-item[1], item[0])))


@dataclass(frozen=True, slots=True)
class Gate:
    name: str  # "min_success" | "max_delay"
    passed: bool
    expected: str
    observed: str

    @property
    def message(self) -> str:
        return f"{self.name}: expected {self.expected}, observed {self.observed}"


by_fields(globals())  # frozen dataclasses pickle alike in the compiled build (mxsim/pickling.py)
