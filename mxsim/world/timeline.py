"""The world over time: one `World` per stretch of a scenario's `timeline`, built on first use.

The world at time t is the base scenario with every change due by t applied
(`mxsim.scenario.timeline.spec_at`); between two changes it is one frozen `World`, so a
driver swaps worlds at the change times and nothing else moves. No I/O here.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping

import dns.name

from mxsim.scenario.spec import ScenarioSpec
from mxsim.scenario.timeline import epochs
from mxsim.world import World


class WorldTimeline:
    """The scenario's worlds by start time; `epoch(t)` numbers the stretch t falls in."""

    def __init__(self, spec: ScenarioSpec, pins: Mapping[dns.name.Name, str] | None = None) -> None:
        found = epochs(spec)
        self.starts = [start for start, _spec in found]
        self._specs = [stretch for _start, stretch in found]
        self._pins = dict(pins or {})
        self._worlds: dict[int, World] = {}

    def __len__(self) -> int:
        return len(self.starts)

    def epoch(self, at: float) -> int:
        return max(0, bisect.bisect_right(self.starts, at) - 1)

    def world(self, epoch: int) -> World:
        built = self._worlds.get(epoch)
        if built is None:
            built = self._worlds[epoch] = World(self._specs[epoch], self._pins)
        return built

    def at(self, at: float) -> World:
        """The world as it stands `at` seconds after the start."""
        return self.world(self.epoch(at))
