"""The engine, assembled once: world -> transport -> resolver -> stub -> profile.

Every command that sends mail in a world (trace, its wire twin, replay, check's paths, the
agreement harness) builds its senders here, so that a change to how a sender is put
together is made in one place and every command sees it. Nothing here does I/O: the
transport handed in decides whether the steps meet the model, a simulation or sockets.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping

import dns.name
import dns.rdatatype

from mxsim.clock import Clock
from mxsim.errors import ParameterError, UsageError, shown
from mxsim.mta import PROFILE_NAMES
from mxsim.mta.host_questions import SendingHost
from mxsim.mta.profiles import make_profile
from mxsim.mta.profiles.base import Profile, deliver
from mxsim.mta.queue import SenderState
from mxsim.mta.results import Delivery
from mxsim.mta.stub import Ask, AtHand, SameInstant, Stub
from mxsim.recipients import recipient_problem
from mxsim.resolver.recursive import RecursiveResolver, Resolved
from mxsim.scenario.spec import ScenarioSpec
from mxsim.transport.base import DnsReply, Step
from mxsim.transport.streams import RandomSource
from mxsim.world import World

__all__ = [
    "check_override_targets", "emulated_ask", "emulated_at_hand", "overrides_for", "profiles_for", "recipient_of",
    "resolver_for", "send",
]


def emulated_ask(resolver: RecursiveResolver) -> Ask:
    """The stub's view of an emulated recursive resolver: no answer within the wait is none."""

    def ask(qname: dns.name.Name, qtype: dns.rdatatype.RdataType, wait: float) -> Step[
            tuple[DnsReply | None, Resolved | None]]:
        resolved = yield from resolver.resolve(qname, qtype, budget=wait)
        if resolved.timed_out:
            return None, resolved
        return resolved.response, resolved

    return ask


def emulated_at_hand(resolver: RecursiveResolver) -> AtHand:
    """What `emulated_ask` would return at once, without stepping through it: a cache hit."""

    def at_hand(qname: dns.name.Name, qtype: dns.rdatatype.RdataType) -> tuple[DnsReply, Resolved] | None:
        resolved = resolver.cached(qname, qtype)
        return None if resolved is None else (resolved.response, resolved)

    return at_hand


def resolver_for(world: World, clock: Clock, rng: random.Random) -> RecursiveResolver:
    """A recursive resolver for the world's senders, with the scenario's cache and server choice."""
    spec = world.spec
    return RecursiveResolver(world.root_hints, clock, rng,
                             cache=spec.resolver.cache, server_choice=spec.resolver.server_choice)


def send(profile: Profile, ask: Ask, rng: RandomSource, recipient: str, now: Callable[[], float],
         sender: SenderState | None = None, at_hand: AtHand | None = None, logs: bool = True,
         instant: SameInstant | None = None, host: SendingHost | None = None) -> Step[Delivery]:
    """One delivery attempt by `profile`, its lookups answered through `ask` (or `at_hand`,
    or `instant`'s memory of them); without `logs`, the delivery's log lines are left empty.
    With a `host`, the MTA also asks about the sending host and the sender (mta/host_questions.py)."""
    stub = Stub(ask, profile.library, now, at_hand=at_hand, instant=instant)
    return deliver(profile, stub, rng, recipient, now, sender=sender, logs=logs, host=host)


def recipient_of(spec: ScenarioSpec, recipient: str | None) -> str:
    chosen = recipient or spec.recipient
    if not chosen:
        raise UsageError(f"scenario {spec.name} names no recipient: give --recipient USER@DOMAIN")
    problem = recipient_problem(chosen)
    if problem is not None:
        raise UsageError(f"--recipient '{shown(chosen)}': {problem}")
    return chosen


def check_override_targets(overrides: Mapping[str, str], mtas: tuple[str, ...]) -> None:
    """`-o MTA:PARAM=VALUE` must name a profile, and one that runs: a typo must not pass unseen."""
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


def profiles_for(mtas: tuple[str, ...], overrides: Mapping[str, str]) -> list[Profile]:
    """The profiles to run, every override checked and applied."""
    check_override_targets(overrides, mtas)
    return [make_profile(name, overrides_for(name, overrides, mtas)) for name in mtas]
