"""Delivery attempts remembered, and followed again without running the MTA's rules.

Replay makes the same attempt thousands of times: the same questions, answered from the
same cache entries, the same hosts tried. An attempt reads from outside itself only
through a few doors (mta/tap.py): the DNS answers its stub library gets, the random
choices it draws, the sender's memory of hosts and destinations, and the SMTP sessions
it opens. Whatever the MTA does between those reads depends on nothing else, so an
attempt is a path through a tree whose branches are what each read returned.

A run of the MTA's rules is written down as such a path. A later attempt walks the tree,
making each read for itself: it checks that the cache entry a question would be answered
from is alive and says the same (`resolver.cache.content_token`), draws the same draws
from its own stream and keeps the order they decide, asks the sender's memory the same
question, and opens the same session. While every read finds a branch it takes it; at
the end it builds the delivery the path ends in, with its own times, and updates the
sender's memory as the MTA would. Where a read finds no branch, the MTA's rules are run
from the start, handed what the walk has read so far (the answers, the draws already
made, the sessions already had, the times each came at), and go on from there live,
written down as a new branch.

A question the cache cannot answer is asked for real, as the rules would ask it at that
point, and the walk goes on by what the reply says. A run that fetched an MTA-STS policy
or found one cached is not written down. What a remembered delivery carries as its DNS
answers are those of the run that wrote the path: the same records, read at another time
(replay reads only what they say).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from typing import Any, Final, cast

import dns.name
import dns.rdatatype

from mxsim import names
from mxsim.mta.profiles.base import Profile, deliver
from mxsim.mta.queue import SenderState
from mxsim.mta.results import Attempt, Delivery
from mxsim.mta.sts import CachedPolicy
from mxsim.mta.stub import Ask, AtHand, SameInstant, Stub, StubAnswer
from mxsim.mta.tap import Draw, Order, Read, V
from mxsim.resolver.cache import Cache, reply_token
from mxsim.transport.base import SmtpProbe, Step
from mxsim.transport.streams import RandomSource

# What a node of the tree reads next.
UNSET: Final = -1
QUESTION: Final = 0
DRAW: Final = 1
READ: Final = 2
SESSION: Final = 3
END: Final = 4
ASKED: Final = "asked"  # heads the branch of a question that was not answered from the cache
MAX_NODES: Final = 50_000  # past this, the tree starts again: memory stays bounded however long the run


class MemoError(Exception):
    """Running the MTA's rules again with what an attempt read did not retrace its steps.
    (An Exception, not a RuntimeError: mypyc compiles a class derived from Exception alone.)"""


class Node:
    """One read of a remembered attempt (or its end), and a branch for each value it gave."""

    __slots__ = ("arg", "children", "desc", "fed", "kind", "lease")

    def __init__(self, fed: Any = None) -> None:
        self.kind = UNSET
        self.desc: Any = None  # what is read, comparable between two runs of the rules
        self.arg: Any = None  # what the walk needs to make the read (or, at END, the delivery)
        self.children: dict[Hashable, Node] = {}
        self.fed: Any = fed  # what the rules were handed when the read on the way here gave this branch
        self.lease: Lease | None = None  # at the first of several questions in a row, all answered from the cache


class Lease:
    """Questions in a row that one cache answered, and where they led, for as long as the
    answers stand. No cached answer can change while every one of them lives, unless one
    is written over while still alive (`Cache.rewritten`): the resolver writes a reply
    only for a question it found nothing alive for. So until the first of them expires,
    a walk with the same cache takes the whole row in one step."""

    __slots__ = ("end", "last", "messages", "rewritten", "trail")

    def __init__(self, messages: dict[Any, Any], rewritten: int, last: int,
                 trail: list[tuple[Node, Hashable, Any]], end: Node) -> None:
        self.messages = messages  # the cache's replies, by question: whose answers these are
        self.rewritten = rewritten
        self.last = last  # the last second every answer of the row is alive
        self.trail = trail  # what the walk writes down for the row, read by read
        self.end = end


# (kind, desc, arg, branch, fed): one read as written down, and as handed back.
Item = tuple[int, Hashable, Any, Hashable, Any]


def _no_policies(sender: SenderState, _now: float) -> bool:
    return not sender.sts


class _Recorder:
    """The tap of one run of the rules: hands back `feed` in order, then writes down what is read live."""

    def __init__(self, feed: list[Item], times: list[float], sender: SenderState, cache: Cache,
                 clock: Callable[[], float]) -> None:
        self.feed = feed
        self.pos = 0
        self.items: list[Item] = []
        self.pure = True  # nothing was asked beyond the cache, and no MTA-STS policy was in play
        self.sender = sender
        self.cache = cache
        self._clock = clock
        self._times = times  # when each part of the walk ran: its start, then after each session or question asked
        self._part = 0
        self.asking = False

    def now(self) -> float:
        """While the rules retrace the walk, the time that part of the walk ran; then the clock."""
        if self.pos < len(self.feed):
            return self._times[self._part]
        return self._clock()

    def fed(self, kind: int, desc: Hashable) -> Item | None:
        if self.pos >= len(self.feed):
            return None
        item = self.feed[self.pos]
        if item[0] != kind or item[1] != desc:
            raise MemoError(f"the rules read {kind}:{desc!r} where the walk read {item[0]}:{item[1]!r}")
        self.pos += 1
        self.items.append(item)
        if kind == SESSION or (kind == QUESTION and item[4][2]):
            self._part += 1
        return item

    def decide(self, rng: RandomSource, draw: Draw, args: tuple[Any, ...]) -> Order:
        desc = (draw, args)
        item = self.fed(DRAW, desc)
        if item is not None:
            return cast(Order, item[3])
        order = draw(rng, *args)
        self.items.append((DRAW, desc, desc, order, None))
        return order

    def read(self, what: str, subject: Hashable, call: Read[V], now: float) -> V:
        desc = (what, subject)
        item = self.fed(READ, desc)
        if item is not None:
            return cast(V, item[3])
        value = call(self.sender, now)
        self.items.append((READ, desc, call, value, None))
        return value

    def policies(self, sender: SenderState) -> dict[str, CachedPolicy]:
        desc = ("policies", None)
        item = self.fed(READ, desc)
        if item is not None:
            # The walk found none cached. Retracing a part of it that is over, later writes
            # must not show; in the part under way (nothing ran since), the cache is the sender's.
            return sender.sts if not item[3] or not sender.sts else {}
        empty = not sender.sts
        self.items.append((READ, desc, _no_policies, empty, None))
        self.pure = self.pure and empty
        return sender.sts


class _RecordingStub(Stub):
    """The stub library, handing back the walk's answers, then writing down each cache entry read."""

    def __init__(self, recorder: _Recorder, ask: Ask, profile: Profile, at_hand: AtHand | None,
                 instant: SameInstant | None) -> None:
        super().__init__(ask, profile.library, recorder.now, at_hand=at_hand, instant=instant)
        self.recorder = recorder

    def query(self, qname: dns.name.Name, qtype: dns.rdatatype.RdataType) -> Step[StubAnswer]:
        recorder = self.recorder
        slot = (names.key(qname), qtype)
        item = recorder.fed(QUESTION, slot)
        if item is not None:
            logged, answer, _asked = item[4]
            self.log.extend(logged)
            known: StubAnswer = answer
            return known
        entry = readable(recorder.cache).get(slot)
        cached = entry is not None and entry.alive(recorder.now())
        start = len(self.log)
        recorder.asking = True  # what the resolver sends meanwhile is this question's
        answer = yield from super().query(qname, qtype)
        recorder.asking = False
        logged = tuple(self.log[start:])
        value: Hashable = entry.token if cached and entry is not None else said(logged)
        recorder.items.append((QUESTION, slot, (slot, qname, qtype), value, (logged, answer, not cached)))
        return answer


def said(logged: tuple[StubAnswer, ...]) -> Hashable:
    """A question the cache could not answer, by what the library logged: the rules go on
    from what the replies say, not from how they were got. One reply is told by the same
    number a cached one would be (`content_token`), so both follow one branch."""
    if len(logged) == 1 and logged[0].response is not None:
        return reply_token(logged[0].response)
    return ASKED, *((answer.status, None if answer.response is None else reply_token(answer.response))
                    for answer in logged)


_NOTHING_READABLE: Final[dict[Any, Any]] = {}


def readable(cache: Cache) -> dict[Any, Any]:
    """The cache entries a walk may read for itself. A resolver kind that serves stale
    answers or prefetches changes an entry as it reads it (mxsim/resolver/policy.py): its
    every question is asked, as the rules ask it."""
    return cache.messages() if type(cache) is Cache else _NOTHING_READABLE


def _as_cached(node: Node, branch: Hashable) -> Any:
    """What the rules are handed for a read the walk made on the way: what the branch was
    written with, a question marked as answered from the cache (no time passed)."""
    fed = node.children[branch].fed
    return (fed[0], fed[1], False) if node.kind == QUESTION else fed


class AttemptMemo:
    """The tree of one MTA's attempts at one recipient, shared by every sender of a replay
    (each walk reads its own sender's cache and memory)."""

    def __init__(self, profile: Profile, recipient: str, clock: Callable[[], float]) -> None:
        self.profile = profile
        self.recipient = recipient
        self.clock = clock
        self.root = Node()
        self.size = 1
        self.walked = 0  # attempts that ran to the end of a branch without the rules
        self.ran = 0  # attempts that ran the rules, from the start or from where a walk stopped
        self._last: tuple[Delivery | None, Delivery | None] = (None, None)  # (rebuilt, what from)

    @staticmethod
    def serves(profile: Profile) -> bool:
        """Whether attempts can be remembered: a profile that keeps nothing between
        messages beyond what the tap sees (OpenSMTPD's relays are routes kept outside it)."""
        return type(profile).kept is Profile.kept and type(profile).routed is Profile.routed

    def attempt(self, sender: SenderState, cache: Cache, ask: Ask, at_hand: AtHand | None,
                instant: SameInstant | None, stream: RandomSource) -> Step[Delivery]:
        """One attempt: the tree walked while it can be, the rules run where it cannot."""
        now = self.clock
        started = now()
        times = [started]
        second = math.floor(started)
        messages = readable(cache)
        node = self.root
        trail: list[tuple[Node, Hashable, Any]] = []
        before: list[float] = []  # the time each session was opened
        stopped: Item | None = None
        stub: Stub | None = None
        rewritten = cache.rewritten
        row: Node | None = None  # the first of the questions in a row answered from the cache so far
        row_at = row_last = 0  # where the row starts in the trail, and the last second all of it lives
        while True:
            kind = node.kind
            if kind == QUESTION:
                lease = node.lease
                if (lease is not None and lease.messages is messages and lease.rewritten == rewritten
                        and second <= lease.last):
                    if row is not None and lease.last < row_last:
                        row_last = lease.last  # a longer row takes this one in
                    trail.extend(lease.trail)
                    node = lease.end
                    continue
                entry = messages.get(node.desc)
                if entry is not None and entry.last >= second:
                    # The common read, on its own short way: answered from the cache, no time passes.
                    value: Hashable = entry.token
                    child = node.children.get(value)
                    if child is None:
                        break  # left for the rules to ask
                    if row is None:
                        row, row_at, row_last = node, len(trail), entry.last
                    elif entry.last < row_last:
                        row_last = entry.last
                    trail.append((node, value, None))
                    node = child
                    continue
            if row is not None:
                if len(trail) - row_at > 1:
                    row.lease = Lease(messages, rewritten, row_last, trail[row_at:], node)
                row = None
            got: Any = None  # what a read that let time pass brought: handed to the rules if the walk stops
            if kind == QUESTION:
                # Not in the cache: asked as the rules would ask it, and followed by what it says.
                _slot, qname, qtype = node.arg
                if stub is None:
                    stub = Stub(ask, self.profile.library, now, at_hand=at_hand, instant=instant)
                start = len(stub.log)
                answer = yield from stub.query(qname, qtype)
                logged = tuple(stub.log[start:])
                value = said(logged)
                got = (logged, answer, True)
            elif kind == DRAW:
                draw, args = node.arg
                value = draw(stream, *args)
            elif kind == READ:
                value = node.arg(sender, times[-1])
            elif kind == SESSION:
                before.append(times[-1])
                got = yield node.arg
                value = id(got)
            elif kind == END:
                self.walked += 1
                return self._rebuilt(node.arg, started, before, now(), sender)
            else:
                break
            if got is not None:
                at = now()
                times.append(at)
                second = math.floor(at)
                rewritten = cache.rewritten  # other attempts ran meanwhile, and may have written over answers
            child = node.children.get(value)
            if child is None:
                # A draw made, a read done, a session had or a question asked is handed over.
                stopped = (kind, node.desc, node.arg, value, got)
                break
            trail.append((node, value, got))
            node = child
        feed: list[Item] = [(n.kind, n.desc, n.arg, v, got if got is not None else _as_cached(n, v))
                            for n, v, got in trail]
        if stopped is not None:
            feed.append(stopped)
        return (yield from self._run(feed, times, sender, cache, ask, at_hand, instant, stream))

    def template(self, delivery: Delivery) -> Delivery:
        """For the delivery the last walk rebuilt, the delivery its path ended in (the same
        but for its times, and shared by every walk of that path); for any other, itself.
        What replay works out from a delivery's route and words is then worked out once per path."""
        rebuilt, template = self._last
        return template if rebuilt is delivery and template is not None else delivery

    def _rebuilt(self, template: Delivery, started: float, before: list[float], end: float,
                 sender: SenderState) -> Delivery:
        """The delivery a path ends in, with this attempt's times; the sender remembers it."""
        attempts = tuple([Attempt(a.host, a.address, a.port, a.result, at, a.elapsed, a.reply, a.reason)
                          for a, at in zip(template.attempts, before, strict=True)])
        delivery = Delivery(
            template.mta, template.mta_version, template.recipient, template.envelope_recipient, template.dns,
            template.route, attempts, template.outcome, template.dsn, template.reason, template.log,
            template.bounce, template.delivered_to, started, end - started, template.relay_dns)
        self.profile.remember(sender, delivery)
        self._last = (delivery, template)
        return delivery

    def _run(self, feed: list[Item], times: list[float], sender: SenderState, cache: Cache, ask: Ask,
             at_hand: AtHand | None, instant: SameInstant | None, stream: RandomSource) -> Step[Delivery]:
        """The MTA's rules, handed `feed` first, then live; a run that read only the cache is remembered."""
        self.ran += 1
        recorder = _Recorder(feed, times, sender, cache, self.clock)
        stub = _RecordingStub(recorder, ask, self.profile, at_hand, instant)
        step = deliver(self.profile, stub, stream, self.recipient, recorder.now, sender=sender, logs=False,
                       tap=recorder)
        value: Any = None
        while True:
            try:
                effect = step.send(value)
            except StopIteration as done:
                delivery: Delivery = done.value
                break
            if isinstance(effect, SmtpProbe):
                item = recorder.fed(SESSION, effect)
                if item is not None:
                    value = item[4]
                    continue
                value = yield effect
                recorder.items.append((SESSION, effect, effect, id(value), value))
            else:
                recorder.pure = recorder.pure and recorder.asking  # an MTA-STS policy fetch is not followed
                value = yield effect
        if recorder.pos != len(feed):
            raise MemoError(f"the rules ended after {recorder.pos} of the walk's {len(feed)} reads")
        if recorder.pure:
            self._insert(recorder.items, delivery)
        return delivery

    def _insert(self, items: list[Item], delivery: Delivery) -> None:
        node = self.root
        for kind, desc, arg, value, fed in items:
            if node.kind == UNSET:
                node.kind, node.desc, node.arg = kind, desc, arg
            elif node.kind != kind or node.desc != desc:
                raise MemoError(f"the same reads led to {kind}:{desc!r} and to {node.kind}:{node.desc!r}")
            child = node.children.get(value)
            if child is None:
                if self.size >= MAX_NODES:
                    self.root, self.size = Node(), 1
                    return
                child = node.children[value] = Node(fed)
                self.size += 1
            node = child
        if node.kind == UNSET:
            node.kind, node.arg = END, delivery
        elif node.kind != END:
            raise MemoError("the same reads led to the end of an attempt and to another read")
