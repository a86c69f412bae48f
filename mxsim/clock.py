"""Time as an object passed in.

Virtual for the model. A wire trace uses a virtual clock too, moved by what each exchange
took on the wire (scaled back), so the event loop's other work is never the engine's time;
`mxsim check` reads wall time (its waits are real and its samples run side by side)."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...

    def advance(self, seconds: float) -> None:
        """Let `seconds` pass: a virtual clock jumps, a wall clock has already moved."""


class VirtualClock:
    """Starts at `start` (seconds) and moves only when told; never backwards.

    `current` is the time itself, for the event loop that owns the clock to read and move
    without a call per event (mxsim/transport/simulation.py); everyone else calls `now`."""

    __slots__ = ("current",)

    def __init__(self, start: float = 0.0) -> None:
        self.current = start

    def now(self) -> float:
        return self.current

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"a clock does not go backwards (advance by {seconds})")
        self.current += seconds

    def jump_to(self, when: float) -> None:
        if when < self.current:
            raise ValueError(f"a clock does not go backwards ({self.current} -> {when})")
        self.current = when


class WallClock:
    """Monotonic seconds since creation; `advance` is a no-op since real time passed."""

    def __init__(self) -> None:
        self._start = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self._start

    def advance(self, seconds: float) -> None:
        return None
