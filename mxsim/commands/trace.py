"""`mxsim trace`: one delivery attempt of one message under each MTA profile, explained."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field

import dns.name
import dns.rdatatype

from mxsim.clock import VirtualClock
from mxsim.errors import ParameterError, UsageError
from mxsim.mta.profiles import make_profile
from mxsim.mta.profiles.base import deliver
from mxsim.mta.results import Delivery
from mxsim.mta.stub import Ask, Stub
from mxsim.resolver.recursive import RecursiveResolver, Resolved
from mxsim.scenario.spec import ScenarioSpec
from mxsim.transport.base import DnsReply, Step
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


@dataclass(frozen=True, slots=True)
class TraceResult:
    scenario: str
    seed: int
    pins: tuple[tuple[str, str], ...]
    deliveries: tuple[Delivery, ...]


def emulated_ask(resolver: RecursiveResolver) -> Ask:
    """The stub's view of an emulated recursive resolver: no answer within the wait is none."""

    def ask(qname: dns.name.Name, qtype: dns.rdatatype.RdataType, wait: float) -> Step[
            tuple[DnsReply | None, Resolved | None]]:
        resolved = yield from resolver.resolve(qname, qtype, budget=wait)
        if resolved.timed_out:
            return None, resolved
        return resolved.response, resolved

    return ask


def recipient_of(spec: ScenarioSpec, recipient: str | None) -> str:
    chosen = recipient or spec.recipient
    if not chosen:
        raise UsageError(f"scenario {spec.name} names no recipient: give --recipient USER@DOMAIN")
    if "@" not in chosen or not chosen.rpartition("@")[2]:
        raise UsageError(f"--recipient {chosen!r}: expected USER@DOMAIN")
    return chosen


def run_trace(config: TraceConfig) -> TraceResult:
    """Each MTA gets its own fresh world, resolver and clock, all seeded alike."""
    spec = config.spec
    recipient = recipient_of(spec, config.recipient)
    pins = parse_pins(spec, list(config.pins))
    mtas = config.mtas or spec.mta
    check_override_targets(config.overrides, mtas)
    profiles = [make_profile(name, overrides_for(name, config.overrides, mtas)) for name in mtas]
    deliveries = []
    for profile in profiles:
        rng = random.Random(f"{config.seed}:{profile.name}")
        clock = VirtualClock()
        world = World(spec, pins)
        transport = ModelTransport(world, clock, rng)
        resolver = RecursiveResolver(
            world.root_hints, clock, rng,
            cache=spec.resolver.cache, server_choice=spec.resolver.server_choice,
        )
        stub = Stub(emulated_ask(resolver), profile.library, clock.now)
        deliveries.append(transport.run(deliver(profile, stub, rng, recipient, clock.now)))
    shown_pins = tuple(sorted((name.to_text(omit_final_dot=True), backend) for name, backend in pins.items()))
    return TraceResult(spec.name, config.seed, shown_pins, tuple(deliveries))


def check_override_targets(overrides: Mapping[str, str], mtas: tuple[str, ...]) -> None:
    """`-o MTA:PARAM=VALUE` must name a profile, and one that runs: a typo must not pass unseen."""
    from mxsim.mta import PROFILE_NAMES

    for key, value in overrides.items():
        mta, sep, _param = key.partition(":")
        if not sep:
            continue
        if mta not in PROFILE_NAMES:
            raise ParameterError(f"-o {key}={value}: no MTA profile named {mta!r}; "
                                 f"expected one of: {', '.join(PROFILE_NAMES)}")
        if mta not in mtas:
            raise ParameterError(f"-o {key}={value}: {mta} is not among the MTAs run ({', '.join(mtas)})")


def overrides_for(name: str, overrides: Mapping[str, str], mtas: tuple[str, ...]) -> dict[str, str]:
    """`-o PARAM=VALUE` applies to the profile that has PARAM; `-o postfix:PARAM=VALUE` to one."""
    from mxsim.mta.profiles import PROFILES

    chosen: dict[str, str] = {}
    for key, value in overrides.items():
        mta, sep, param = key.partition(":")
        if sep:
            if mta == name:
                chosen[param] = value
            continue
        owners = [m for m in mtas if key in {p.name for p in PROFILES[m].PARAMS}]
        if not owners and name == mtas[0]:
            chosen[key] = value  # let the first profile report the unknown name
        elif name in owners:
            chosen[key] = value
    return chosen
