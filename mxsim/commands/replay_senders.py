"""Replay's senders: how many resolver caches, of which kinds, warm or cold, and who uses which.

Without `resolver.population`, `--resolvers N` gives N caches of the one kind the
resolver model has (unbound's rules, docs/resolver-population.md), and message i uses
cache i mod N. With a population, each kind has its share of the messages and its own
caches; each message's sender uses one cache, drawn once per message (kind by share,
then a cache of that kind uniformly), the same draw for every MTA so they compare.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import dns.name
import dns.rcode
import dns.rdatatype

from mxsim.clock import Clock
from mxsim.engine import emulated_ask, resolver_for
from mxsim.mta.stub import Ask
from mxsim.pickling import by_fields
from mxsim.resolver.cache import Cache
from mxsim.resolver.policy import PolicyCache
from mxsim.resolver.recursive import RecursiveResolver, Resolved
from mxsim.resolver.warm import warm_from, warm_template
from mxsim.scenario.spec import ScenarioSpec
from mxsim.transport.base import DnsReply, Step
from mxsim.world import World


@dataclass(frozen=True, slots=True)
class SenderPlan:
    resolvers: tuple[RecursiveResolver, ...]
    chosen: Sequence[int] | None  # message index -> resolver index; None: round robin

    def of(self, index: int) -> int:
        return index % len(self.resolvers) if self.chosen is None else self.chosen[index]


def plan_senders(spec: ScenarioSpec, world: World, clock: Clock, rng: random.Random, *, resolvers: int,
                 messages: int, seed: int, recipient: str) -> SenderPlan:
    population = spec.resolver.population
    made: list[RecursiveResolver] = []
    chosen: list[int] | None = None
    if not population:
        made = [resolver_for(world, clock, rng) for _ in range(max(1, resolvers))]
    else:
        firsts: list[int] = []
        for kind in population:
            firsts.append(len(made))
            for _ in range(kind.caches):
                resolver = resolver_for(world, clock, rng)
                resolver.cache = PolicyCache(kind.policy, enabled=spec.resolver.cache)
                made.append(resolver)
        draw = random.Random(f"{seed}:{spec.name}:senders")
        shares = [kind.share for kind in population]
        chosen = []
        for _ in range(messages):
            which = draw.choices(range(len(population)), shares)[0]
            chosen.append(firsts[which] + draw.randrange(population[which].caches))
    if spec.resolver.starts_warm(bool(spec.timeline)) and spec.resolver.cache:
        _warm(made, world, spec, recipient, seed)
    return SenderPlan(tuple(made), chosen)


def _warm(resolvers: list[RecursiveResolver], world: World, spec: ScenarioSpec, recipient: str, seed: int) -> None:
    domain = dns.name.from_text(recipient.rpartition("@")[2])
    template = warm_template(world, domain, spec.resolver.server_choice, random.Random(f"{seed}:{spec.name}:warm"))
    ages = random.Random(f"{seed}:{spec.name}:ages")
    for resolver in resolvers:
        cache = resolver.cache
        clamp = cache.clamp if isinstance(cache, PolicyCache) else None
        if clamp is None:
            warm_from(template, cache, ages)
        else:
            warm_from(template, cache, ages, clamp)


def sender_ask(resolver: RecursiveResolver) -> Ask:
    """The stub's view of the resolver; a kind that serves stale answers on failure does so here."""
    ask = emulated_ask(resolver)
    cache: Cache = resolver.cache
    if not isinstance(cache, PolicyCache) or not cache.policy.stale_on_failure:
        return ask
    policy_cache = cache

    def stale_on_failure(qname: dns.name.Name, qtype: dns.rdatatype.RdataType,
                         wait: float) -> Step[tuple[DnsReply | None, Resolved | None]]:
        response, resolved = yield from ask(qname, qtype, wait)
        if response is None or response.rcode() == dns.rcode.SERVFAIL:
            stale = policy_cache.stale_reply(qname, qtype, resolver.clock.now())
            if stale is not None:
                return stale, resolved
        return response, resolved

    return stale_on_failure


by_fields(globals())  # frozen dataclasses pickle alike in the compiled build (mxsim/pickling.py)
