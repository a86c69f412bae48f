"""Replay on a changing world: the world is swapped at each change time of the scenario's timeline.

An attempt's effects are answered by the world as it stands when each is sent (the
simulation asks the transport at that virtual time); resolver caches keep what they
fetched before a change, as real caches do. The swaps are scheduled before any message
arrives, so at a change time the new world is in place before anything else happens.
"""

from __future__ import annotations

from mxsim.commands.replay_series import SeriesWatch, mx_change
from mxsim.scenario.spec import ScenarioSpec
from mxsim.transport.model import ModelTransport
from mxsim.transport.simulation import Simulation
from mxsim.world.timeline import WorldTimeline


def follow(timeline: WorldTimeline, sim: Simulation, transport: ModelTransport) -> None:
    """Swap each later world into the transport at its start time."""
    for epoch in range(1, len(timeline)):
        sim.call_at(timeline.starts[epoch], _swap, transport, timeline, epoch)


def _swap(transport: ModelTransport, timeline: WorldTimeline, epoch: int) -> None:
    transport.world = timeline.world(epoch)


def watch_for(spec: ScenarioSpec, bucket: float | None, recipient: str) -> SeriesWatch:
    change = mx_change(spec, recipient.rpartition("@")[2]) if spec.timeline else None
    return SeriesWatch(bucket, change)
