"""`mxsim trace`: one delivery attempt of one message under each MTA profile, explained."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from mxsim.clock import VirtualClock
from mxsim.engine import emulated_ask, profiles_for, recipient_of, resolver_for, send
from mxsim.mta.host_questions import SendingHost
from mxsim.mta.results import Delivery
from mxsim.scenario.spec import ScenarioSpec
from mxsim.transport.model import ModelTransport
from mxsim.world import World, parse_pins


@dataclass(frozen=True, slots=True)
class TraceConfig:
    spec: ScenarioSpec
    mtas: tuple[str, ...] = ()
    recipient: str | None = None
    overrides: Mapping[str, str] = field(default_factory=dict)
    seed: int = 0
    pins: tuple[str, ...] = ()
    # The host the MTA runs on; None (the default): no question about it or the sender is asked.
    host: SendingHost | None = None


@dataclass(frozen=True, slots=True)
class TraceResult:
    scenario: str
    seed: int
    pins: tuple[tuple[str, str], ...]
    deliveries: tuple[Delivery, ...]


def run_trace(config: TraceConfig) -> TraceResult:
    """Each MTA gets its own fresh world, resolver and clock, all seeded alike."""
    spec = config.spec
    recipient = recipient_of(spec, config.recipient)
    pins = parse_pins(spec, list(config.pins))
    deliveries = []
    for profile in profiles_for(config.mtas or spec.mta, config.overrides):
        rng = random.Random(f"{config.seed}:{profile.name}")
        clock = VirtualClock()
        world = World(spec, pins)
        transport = ModelTransport(world, clock, rng)
        ask = emulated_ask(resolver_for(world, clock, rng))
        deliveries.append(transport.run(send(profile, ask, rng, recipient, clock.now, host=config.host)))
    shown_pins = tuple(sorted((name.to_text(omit_final_dot=True), backend) for name, backend in pins.items()))
    return TraceResult(spec.name, config.seed, shown_pins, tuple(deliveries))

