"""The model's two phases of a retry case: the first attempt, then a forced queue run.

Both phases are one sender (`SenderState`: what the MTA remembers about hosts and
destinations) on one virtual clock. Between them the world changes and the resolver
starts empty, as unbound does when the lab restarts it; the clock moves on by the pause
the real run takes. What a forced queue run forgets of the sender's memory is each MTA's
own rule (`forced_queue_run`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from mxsim.agree.compare import Levels, _levels
from mxsim.agree.mtas import driver
from mxsim.agree.mtas.base import SENDER_DOMAIN
from mxsim.agree.observation import Observation, Question, Try
from mxsim.clock import VirtualClock
from mxsim.engine import emulated_ask, profiles_for, recipient_of, resolver_for, send
from mxsim.mta.host_questions import SendingHost
from mxsim.mta.profiles.base import Context, Profile
from mxsim.mta.queue import SenderState
from mxsim.mta.results import Delivery, Failure, Outcome
from mxsim.mta.stub import Ask, Stub, StubAnswer
from mxsim.report.trace_json import delivery_json
from mxsim.scenario import ScenarioSpec, load_scenario
from mxsim.transport.base import Step
from mxsim.transport.model import ModelTransport
from mxsim.world import World, parse_pins

# Seconds the harness takes between the first attempt's outcome and the queue run:
# the settle time, the lab's new serve process and a fresh unbound.
WORLD_CHANGE = 2.0
# The first attempt is the submission's own delivery, not a queue run: off the queue-run
# grid that starts at 0 (Sendmail's host status depends on which process tried).
SUBMITTED = 1.0


def profile_of(mta: str, overrides: Mapping[str, str]) -> Profile:
    """The MTA's profile with the overrides it knows (the others are the real MTA's alone).

    As for a first attempt (`mxsim.agree.compare.model_observation`), the stub library
    searches the domain of the worker's host name: the model is told the same."""
    known = {p.name for p in profiles_for((mta,), {})[0].PARAMS}
    chosen = {"search_domains": SENDER_DOMAIN} if "search_domains" in known else {}
    chosen.update({k: v for k, v in overrides.items() if k in known})
    return profiles_for((mta,), {f"{mta}:{k}": v for k, v in chosen.items()})[0]


def expired_notice(delivery: Delivery, mta: str, overrides: Mapping[str, str]) -> tuple[str, str]:
    """(DSN status, logged words) the model gives for `delivery` returned for its age."""
    failure = Failure.defer(delivery.dsn, delivery.reason)
    return profile_of(mta, overrides).expired_notice(delivery.envelope_recipient, failure)


def forced_queue_run(profile: Profile, sender: SenderState) -> None:
    """Forget what the MTA's forced queue run forgets (`mxsim.agree.requeue`).

    Postfix: `postqueue -f` sends the queue manager `QMGR_REQ_FLUSH_DEAD` with its scan
    requests (src/global/mail_flush.c `mail_flush_deferred`), which "purges all
    information about dead transports and destinations" (src/qmgr/qmgr.c). Exim:
    `-qff` is a forced delivery, attempted whatever the retry times (exim(8), `-qf`);
    measured: the host that refused was tried again two seconds later.
    Sendmail: nothing to forget here; its host status never outlives the process
    that found it (`Sendmail.remember`). OpenSMTPD: the daemon keeps its route
    penalties (smtpd/mta.c `mta_route_disable`): nothing is forgotten.
    """
    if profile.name in ("postfix", "exim"):
        sender.dead.clear()
        sender.hosts.clear()


def returned_for_age(profile: Profile, delivery: Delivery) -> bool:
    """A failed attempt by a message older than its queue lifetime: the queue returns it
    (replay's rule; seen in the `expires` case for Postfix, Exim and Sendmail)."""
    age = delivery.started + delivery.elapsed - SUBMITTED
    return delivery.outcome == Outcome.DEFERRED and age >= profile.expiry()


def observation_of(delivery: Delivery, mta: str, spec: ScenarioSpec) -> tuple[Observation, Levels]:
    """One model delivery as an Observation, read by the real MTA's log parser."""
    data = delivery_json(delivery)
    parsed = driver(mta).parse(list(data["log"]), str(data["recipient"]))
    observation = Observation(
        mta=mta, version=str(data["mta_version"]),
        dns=[Question(str(q["qname"]).rstrip(".").lower() or ".", str(q["qtype"]), q.get("rcode"))
             for q in data["dns"]],
        attempts=[Try(str(a["host"]).rstrip(".").lower(), str(a["address"]), str(a["result"]))
                  for a in data["attempts"]],
        envelope_recipient=str(data["envelope_recipient"]), envelope_source="model",
        outcome=str(data["outcome"]), dsn=str(data["dsn"]) if data.get("dsn") else None,
        logged_names=parsed.names, logged=parsed.named(), evidence=[str(line) for line in data["log"]],
    )
    observation.notes = [f"route {data['route']['kind']}"]
    return observation, _levels(data, spec)


def model_retry(
    scenario: str, pins: Sequence[str], retry_scenario: str, retry_pins: Sequence[str], mta: str,
    overrides: Mapping[str, str], pause: float = 0.0, seed: int = 0, host: SendingHost | None = None,
) -> tuple[Delivery, Delivery]:
    """The first attempt in one world, the forced queue run in the other; with a `host`,
    each process also asks about the sending host and the sender (mta/host_questions.py)."""
    spec, later = load_scenario(scenario), load_scenario(retry_scenario)
    recipient = recipient_of(spec, None)
    profile = profile_of(mta, overrides)
    rng = random.Random(f"{seed}:{mta}")
    clock = VirtualClock(SUBMITTED)
    sender = SenderState()
    world = World(spec, parse_pins(spec, list(pins)))
    ask = emulated_ask(resolver_for(world, clock, rng))
    first = ModelTransport(world, clock, rng).run(send(profile, ask, rng, recipient, clock.now, sender,
                                                        host=host))
    clock.advance(WORLD_CHANGE + pause)
    if profile.expires_in_queue and clock.now() - SUBMITTED >= profile.expiry():
        # OpenSMTPD's scheduler expired the envelope on its own: the queue run finds nothing
        # but the bounce it made, a message of its own to the sender's domain (smtpd/bounce.c),
        # routed by the fresh resolver of the changed world.
        asked: tuple[StubAnswer, ...] = ()
        if host is not None:
            world = World(later, parse_pins(later, list(retry_pins)))
            asked = _asked(profile, world, clock, rng, emulated_ask(resolver_for(world, clock, rng)),
                           lambda ctx: profile.route_bounce(ctx, host))
        return first, replace(first, dns=asked, attempts=(), outcome=Outcome.BOUNCED, log=(), delivered_to=None,
                              started=clock.now(), elapsed=0.0)
    forced_queue_run(profile, sender)
    world = World(later, parse_pins(later, list(retry_pins)))
    ask = emulated_ask(resolver_for(world, clock, rng))
    retry = ModelTransport(world, clock, rng).run(send(profile, ask, rng, recipient, clock.now, sender, host=host))
    if returned_for_age(profile, retry):
        retry = replace(retry, outcome=Outcome.BOUNCED)
        if host is not None:
            # Returned for its age: the bounce goes to the sender, as after any bounce.
            retry = replace(retry, dns=retry.dns + _asked(profile, world, clock, rng, ask,
                                                          lambda ctx: profile.after_bounce(ctx, host)))
    return first, retry


def _asked(profile: Profile, world: World, clock: VirtualClock, rng: random.Random, ask: Ask,
           step: Callable[[Context], Step[None]]) -> tuple[StubAnswer, ...]:
    """The questions `step` asks through the profile's stub library, in the model world."""
    stub = Stub(ask, profile.library, clock.now)
    ModelTransport(world, clock, rng).run(step(Context(stub, rng)))
    return tuple(stub.log)
