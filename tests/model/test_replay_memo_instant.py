"""Replay's per-instant memory of lookups, and attempts that write no log lines.

A lookup answered wholly from the resolver's cache is remembered only while neither the
clock nor the cache moves; an attempt without log lines draws the same random numbers
as one with them (the queue ID), so every draw after it is the same.
"""

from __future__ import annotations

import random
from dataclasses import replace

import dns.name
import dns.rdatatype
import dns.rrset

from mxsim import names
from mxsim.clock import VirtualClock
from mxsim.engine import emulated_ask, emulated_at_hand, send
from mxsim.mta.attempt_memo import AttemptMemo
from mxsim.mta.profiles import make_profile
from mxsim.mta.queue import SenderState
from mxsim.mta.stub import Library, SameInstant, Stub
from mxsim.resolver.recursive import RecursiveResolver
from mxsim.scenario import load_scenario_text
from mxsim.transport.base import DnsReply
from mxsim.transport.model import ModelTransport
from mxsim.world import World

SCENARIO = """
mxsim: 1
name: instant
recipient: user@example.org
expect:
  deliver_to: [mx1.example.org]
zones:
  example.org: |
    $TTL 300
    @   SOA ns1.example.org. hostmaster.example.org. 1 3600 600 86400 60
    @   NS  ns1.example.org.
    @   MX  10 mx1.example.org.
    @   MX  10 mx2.example.org.
    mx1 A   192.0.2.25
    mx2 A   192.0.2.26
    ns1 A   192.0.2.53
servers:
  ns1.example.org:
    address: 192.0.2.53
    zones: [example.org]
hosts:
  mx1.example.org: {smtp: accept}
  mx2.example.org: {smtp: refuse}
"""
DOMAIN = dns.name.from_text("example.org.")
MX = dns.rdatatype.MX


def world() -> tuple[World, VirtualClock, random.Random, RecursiveResolver, ModelTransport]:
    spec = load_scenario_text(SCENARIO, file="instant.yaml")
    place = World(spec)
    clock = VirtualClock()
    rng = random.Random(5)
    return place, clock, rng, RecursiveResolver(place.root_hints, clock, rng), ModelTransport(place, clock, rng)


def stub(resolver: RecursiveResolver, clock: VirtualClock, instant: SameInstant) -> Stub:
    return Stub(emulated_ask(resolver), Library.GLIBC, clock.now, at_hand=emulated_at_hand(resolver),
                instant=instant)


def test_a_cached_lookup_is_reused_only_while_clock_and_cache_stand_still() -> None:
    _place, clock, _rng, resolver, transport = world()
    instant = SameInstant(resolver.cache, clock.now)
    first = stub(resolver, clock, instant)
    asked = transport.run(first.query(DOMAIN, MX))  # a miss: time passes, nothing is remembered
    assert asked.resolved[0].upstream
    cached = transport.run(first.query(DOMAIN, MX))
    again = stub(resolver, clock, instant)
    assert transport.run(again.query(DOMAIN, MX)) is cached  # the same instant, the same cache
    assert again.log == [cached]  # and it is logged: the resolver saw the question
    clock.advance(1.0)
    later = transport.run(again.query(DOMAIN, MX))
    assert later is not cached and later.at == cached.at + 1.0
    resolver.cache.put_message(DOMAIN, MX, later.response, clock.now())  # the cache moved
    assert transport.run(again.query(DOMAIN, MX)) is not later
    assert len(again.log) == 3


def test_an_attempt_without_log_lines_draws_what_one_with_them_draws_but_its_queue_id() -> None:
    """The queue ID is an attempt's last draw: leaving it out (replay, one stream per
    attempt) moves no draw the attempt makes, and so changes nothing it reports."""
    for mta in ("postfix", "exim", "opensmtpd", "sendmail", "rfc5321"):
        states = []
        for logs in (True, False):
            _place, clock, rng, resolver, transport = world()
            profile = make_profile(mta)
            delivery = transport.run(send(profile, emulated_ask(resolver), rng, "user@example.org", clock.now,
                                          SenderState(), logs=logs))
            assert bool(delivery.log) == logs
            if not logs:
                profile.queue_id(rng)  # the one draw left out: after it, both streams stand alike
            states.append((rng.getstate(), replace(delivery, log=())))
        assert states[0] == states[1], mta


def test_a_walked_attempt_hands_on_the_delivery_its_path_ended_in() -> None:
    """Replay works out a path's label and target once: `template` gives, for the delivery
    a walk just rebuilt, the delivery the path was written with; for any other, itself."""
    place, clock, rng, resolver, _transport = world()
    transport = ModelTransport(place, clock, rng, memo=True)  # one session object per probe, as in replay
    memo = AttemptMemo(make_profile("postfix"), "user@example.org", clock.now)
    sender = SenderState()
    deliveries = []
    for _ in range(2):
        step = memo.attempt(sender, resolver.cache, emulated_ask(resolver), emulated_at_hand(resolver),
                            SameInstant(resolver.cache, clock.now), random.Random(7))  # the same draws
        deliveries.append(transport.run(step))
        clock.advance(1.0)
    ran, walked = deliveries
    assert (memo.ran, memo.walked) == (1, 1)
    assert memo.template(walked) is ran and memo.template(ran) is ran
    assert walked is not ran and walked.started == ran.started + 1.0 + ran.elapsed
    assert walked.elapsed < ran.elapsed  # its answers came from the cache: no time passed asking
    assert replace(walked, started=ran.started, elapsed=ran.elapsed, attempts=ran.attempts) == ran
    assert [attempt.host for attempt in walked.attempts] == [attempt.host for attempt in ran.attempts]


def test_a_row_of_cached_answers_is_walked_in_one_step_until_one_is_written_over() -> None:
    """A walk takes questions in a row that the cache answered in one step while all those
    answers live; a reply written over a live one (another lookup of the same question
    finished first) ends that, and the walk reads the new answer."""
    place, clock, rng, resolver, _transport = world()
    transport = ModelTransport(place, clock, rng, memo=True)
    memo = AttemptMemo(make_profile("postfix"), "user@example.org", clock.now)
    sender = SenderState()

    def attempt() -> None:
        step = memo.attempt(sender, resolver.cache, emulated_ask(resolver), emulated_at_hand(resolver),
                            SameInstant(resolver.cache, clock.now), random.Random(7))
        transport.run(step)
        clock.advance(1.0)

    attempt()  # the rules run, asking
    attempt()  # walked read by read: the row of answers is leased on the way
    (asked,) = memo.root.children.values()  # postfix first asks its memory whether the domain is suspended
    lease = asked.lease
    assert lease is not None and len(lease.trail) == 5  # MX, then A and AAAA of both hosts
    assert lease.trail[0][0] is asked and asked.desc == (names.key(DOMAIN), MX)
    attempt()  # walked through the lease
    assert (memo.ran, memo.walked) == (1, 2)
    cached = resolver.cache.get_message(DOMAIN, MX, clock.now())
    assert cached is not None
    one = dns.rrset.from_text("example.org.", 300, "IN", "MX", "10 mx1.example.org.")
    rewritten = resolver.cache.rewritten
    resolver.cache.put_message(DOMAIN, MX, DnsReply(cached.rcode_value, (one,)), clock.now())
    assert resolver.cache.rewritten == rewritten + 1
    attempt()  # the new answer has no branch yet: the rules run again
    assert (memo.ran, memo.walked) == (2, 2)
