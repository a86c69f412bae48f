"""`mxsim replay`: many messages per MTA, each to the end of its life, on a virtual clock.

Messages arrive over a window and share their sender's resolver (its cache keeps a
broken answer for the CNAME's TTL) and their sender's memory of hosts. Farms draw a
backend per query. Each message is retried on its MTA's schedule until it is delivered
or bounced (the queue schedules: docs/mta-behaviour.md#postfix-queue-schedule and the
same section for each MTA), and only tallies are kept.
"""

from __future__ import annotations

import gc
import random
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Final

from mxsim.clock import VirtualClock
from mxsim.commands.replay_senders import plan_senders, sender_ask
from mxsim.commands.replay_series import Bucket, Deferrals, Migration
from mxsim.commands.replay_timeline import follow, watch_for
from mxsim.commands.tally import CappedCounter, DelayHistogram, Gate
from mxsim.engine import emulated_at_hand, profiles_for, recipient_of, send
from mxsim.errors import UsageError
from mxsim.memo import IdentityMemo, shortcuts_enabled
from mxsim.mta.attempt_memo import AttemptMemo
from mxsim.mta.profiles.base import Profile
from mxsim.mta.queue import QueueEntry, SenderState
from mxsim.mta.results import Delivery, Failure, Outcome, RouteKind
from mxsim.mta.stub import SameInstant, StubAnswer
from mxsim.mta.verdict import failed_at
from mxsim.pickling import by_fields
from mxsim.resolver.recursive import RecursiveResolver, SharedQueries
from mxsim.scenario.spec import ScenarioSpec
from mxsim.transport.model import ModelTransport
from mxsim.transport.simulation import Simulation
from mxsim.transport.streams import SwitchedRandom
from mxsim.transport.xoshiro import attempt_stream, stream_base
from mxsim.units import format_duration
from mxsim.world import parse_pins
from mxsim.world.timeline import WorldTimeline


class ArrivalProcess(StrEnum):
    UNIFORM = "uniform"  # evenly spaced over the window
    POISSON = "poisson"  # exponential gaps at rate messages / window


@dataclass(frozen=True, slots=True)
class ReplayConfig:
    specs: tuple[ScenarioSpec, ...]
    messages: int = 1000
    mtas: tuple[str, ...] = ()
    overrides: Mapping[str, str] = field(default_factory=dict)
    seed: int = 0
    arrival: float = 3600.0  # the window over which messages arrive, seconds
    process: ArrivalProcess = ArrivalProcess.UNIFORM
    resolvers: int = 1  # senders, each with its own resolver, cache and MTA memory
    pins: tuple[str, ...] = ()
    recipient: str | None = None
    first_attempt_only: bool = False  # stop after one attempt: a deferral stays "queued"
    horizon: float | None = None  # stop the clock here: what is left is "queued"
    fail_on: frozenset[str] = frozenset()  # "bounce", "defer": any such message fails the run
    bucket: float | None = None  # seconds per time bucket of the series (replay --bucket)


@dataclass(frozen=True, slots=True)
class MtaReplay:
    """What happened to one scenario's messages under one MTA."""

    mta: str
    mta_version: str
    messages: int
    delivered_expected: int
    delivered_elsewhere: int
    bounced: int
    queued: int
    first_attempt_success: int
    warned: int
    attempts: int
    delay_p50: float | None
    delay_p95: float | None
    delay_max: float | None
    bounce_texts: tuple[tuple[str, int], ...]
    paths: tuple[tuple[str, int], ...]
    gates: tuple[Gate, ...]
    first_failures: tuple[tuple[str, int], ...] = ()  # where first attempts that failed ended
    buckets: tuple[Bucket, ...] = ()  # with --bucket: the run over time
    migration: Migration | None = None  # when the timeline changes the MX: mail that still reached the old hosts
    deferrals: Deferrals | None = None  # with --bucket: mail deferred on its first attempt, and how it drained

    def share(self, count: int) -> float:
        return count / self.messages if self.messages else 0.0

    @property
    def passed(self) -> bool:
        return all(gate.passed for gate in self.gates)

    @property
    def status(self) -> str:
        """"pass", "fail", or "no gates": a run that checked nothing never reads as a pass."""
        if not self.gates:
            return NO_GATES
        return "pass" if self.passed else "fail"


@dataclass(frozen=True, slots=True)
class ScenarioReplay:
    scenario: str
    description: str
    deliver_to: tuple[str, ...]
    results: tuple[MtaReplay, ...]

    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.results)

    @property
    def status(self) -> str:
        return _worst(r.status for r in self.results)


@dataclass(frozen=True, slots=True)
class ReplayResult:
    seed: int
    messages: int
    arrival: float
    process: ArrivalProcess
    resolvers: int
    scenarios: tuple[ScenarioReplay, ...]

    @property
    def passed(self) -> bool:
        return all(s.passed for s in self.scenarios)

    @property
    def status(self) -> str:
        return _worst(s.status for s in self.scenarios)


NO_GATES: Final = "no gates"
YOUNG_COLLECTION: Final = 50_000  # allocations between young collections while a replay runs


def _worst(statuses: Iterable[str]) -> str:
    seen = set(statuses)
    return "fail" if "fail" in seen else "pass" if "pass" in seen else NO_GATES


def arrivals(count: int, window: float, process: ArrivalProcess, rng: random.Random) -> Iterator[float]:
    """Arrival times, one at a time: the queue never holds messages that have not arrived."""
    if count <= 0:
        return
    if process == ArrivalProcess.UNIFORM or window <= 0:
        step = window / count
        yield from (i * step for i in range(count))
        return
    rate = count / window
    now = 0.0
    for _ in range(count):
        yield now
        now += rng.expovariate(rate)


def expected(patterns: tuple[str, ...], delivery: Delivery) -> bool:
    target = delivery.delivered_to
    if target is None:
        return False
    names = (target.host.lower(), target.mx.lower(), target.address)
    return any(fnmatchcase(name, pattern.lower().rstrip(".")) for pattern in patterns for name in names)


def attempt_label(delivery: Delivery) -> str:
    """One attempt in a path: how the MTA routed, and where it ended."""
    route = delivery.route
    answers = delivery.dns or delivery.relay_dns  # a message that joined a kept relay asked none
    via_cname = bool(answers) and _via_cname(answers[0])
    kind = {
        RouteKind.MX: "MX", RouteKind.IMPLICIT_MX: "no MX→address", RouteKind.NULL_MX: "null MX",
        RouteKind.FAILED: "DNS" if delivery.dns else "held",
    }[route.kind]
    if via_cname:
        kind = "MX→CNAME chain→address" if route.kind == RouteKind.IMPLICIT_MX else f"CNAME→{kind}"
    if delivery.delivered_to is not None:
        if not delivery.attempts:  # taken by a session an earlier message opened (OpenSMTPD)
            return f"kept session {delivery.delivered_to.host}"
        return f"{kind} {delivery.delivered_to.host}"
    if delivery.attempts:
        last = delivery.attempts[-1]
        return f"{kind} {last.host} {last.result.value}"
    # The reason's head ("delivery temporarily suspended", "retry time not reached ...")
    # names the case; what follows (the remembered error) is in the attempt it repeats.
    reason = delivery.reason.split(": ", 1)[0]
    return f"{kind}: {reason if len(reason) <= 70 else reason[:67] + '...'}"


def _via_cname(answer: StubAnswer) -> bool:
    """Whether the first answer came through a CNAME; once per answer object (a remembered
    attempt hands the same answers on: mxsim/mta/attempt_memo.py)."""
    known = _VIA_CNAME.get(answer)
    if known is None:
        known = _VIA_CNAME.put(answer, bool(answer.cnames()))
    return known


_VIA_CNAME: Final[IdentityMemo[bool]] = IdentityMemo(4096)


class _Path:
    """A message's attempts as labels, repeats folded ("x3"), kept short."""

    __slots__ = ("labels",)

    def __init__(self) -> None:
        self.labels: list[list[str | int]] = []

    def add(self, label: str) -> None:
        if self.labels and self.labels[-1][0] == label:
            self.labels[-1][1] = int(self.labels[-1][1]) + 1
        else:
            self.labels.append([label, 1])

    def text(self) -> str:
        if len(self.labels) == 1 and self.labels[0][1] == 1:
            return str(self.labels[0][0])  # most messages: one attempt
        parts = [f"{label} ×{count}" if int(count) > 1 else str(label) for label, count in self.labels]
        if len(parts) > 6:
            parts = [*parts[:3], "…", *parts[-2:]]
        return " then ".join(parts)


class _Sender:
    """One sender: its resolver as its MTA's stub reaches it, and its MTA's memory of hosts."""

    __slots__ = ("ask", "at_hand", "cache", "instant", "state")

    def __init__(self, resolver: RecursiveResolver, shortcuts: bool) -> None:
        self.ask = sender_ask(resolver)
        self.cache = resolver.cache
        self.at_hand = emulated_at_hand(resolver) if shortcuts else None
        self.instant = SameInstant(resolver.cache, resolver.clock.now) if shortcuts else None
        self.state = SenderState()


class _MtaRun:
    """One scenario under one MTA: the event loop and its tallies."""

    def __init__(self, spec: ScenarioSpec, profile: Profile, config: ReplayConfig, recipient: str) -> None:
        self.spec = spec
        self.profile = profile
        self.config = config
        self.recipient = recipient
        label = f"{config.seed}:{spec.name}:{profile.name}"
        # Each attempt draws from its own stream (message, attempt number), so its draws do
        # not depend on how other attempts interleave with it; the resolvers and the
        # transport, shared by attempts, draw through `self.rng` from the running one's.
        self.base = stream_base(label)
        self.rng = SwitchedRandom(random.Random(label))
        self.clock = VirtualClock()
        pins = parse_pins(spec, list(config.pins))
        timeline = WorldTimeline(spec, pins)
        self.world = timeline.world(0)
        shortcuts = shortcuts_enabled()
        self.transport = ModelTransport(self.world, self.clock, self.rng, memo=shortcuts)
        self.sim = Simulation(self.transport, self.rng)
        follow(timeline, self.sim, self.transport)
        self.logs = not shortcuts  # replay never shows log lines: with the shortcuts, none are written
        self.plan = plan_senders(spec, self.world, self.clock, self.rng, resolvers=config.resolvers,
                                 messages=config.messages, seed=config.seed, recipient=recipient)
        self.senders = [_Sender(resolver, shortcuts) for resolver in self.plan.resolvers]
        # Attempts followed again from memory while they read what an earlier one read.
        self.memo = (AttemptMemo(profile, recipient, self.clock.now)
                     if shortcuts and AttemptMemo.serves(profile) else None)
        if shortcuts:
            shared: SharedQueries = {}
            for resolver in self.plan.resolvers:
                resolver.share_queries(shared)
        self.watch = watch_for(spec, config.bucket, recipient)
        self.delays = DelayHistogram()
        self.paths = CappedCounter()
        self.bounces = CappedCounter()
        self.first_failures = CappedCounter()
        self.counts = {"expected": 0, "elsewhere": 0, "bounced": 0, "queued": 0, "first": 0, "warned": 0,
                       "attempts": 0}
        self.warn_after = profile.warn_after()
        self._expected_at: IdentityMemo[bool] = IdentityMemo(4096)
        # Worked out once per path a remembered attempt ends in (`AttemptMemo.template`):
        # the attempt's label, and whether it delivered where the scenario expects.
        self._facts: IdentityMemo[tuple[str, bool]] = IdentityMemo(4096)
        self._failed_at: IdentityMemo[str] = IdentityMemo(4096)
        self.lifetime = profile.expiry()
        self._progress: Callable[[int], None] | None = None

    def run(self, progress: Callable[[int], None] | None = None) -> MtaReplay:
        self._progress = progress
        self._arrivals = enumerate(arrivals(self.config.messages, self.config.arrival, self.config.process,
                                            random.Random(f"{self.config.seed}:arrivals")))
        self._next_arrival()
        # Each attempt makes thousands of short-lived objects and few cycles: the collector's
        # default (a young collection every 700 allocations) took a tenth of the time.
        threshold = gc.get_threshold()
        gc.set_threshold(YOUNG_COLLECTION, *threshold[1:])
        try:
            self.sim.run()
        finally:
            gc.set_threshold(*threshold)
        return self._result()

    def _next_arrival(self) -> None:
        """Schedule the next message; each arrival schedules the one after it."""
        following = next(self._arrivals, None)
        if following is None:
            return
        index, at = following

        def arrive() -> None:
            self._next_arrival()
            self.watch.arrived(index, at)
            self._attempt(index, QueueEntry(arrival=at), _Path())

        self.sim.call_at(at, arrive)

    def _schedule(self, index: int, entry: QueueEntry, path: _Path, at: float) -> None:
        self.sim.call_at(at, self._attempt, index, entry, path)

    def _attempt(self, index: int, entry: QueueEntry, path: _Path) -> None:
        chosen = self.senders[self.plan.of(index)]
        stream = attempt_stream(self.base, index, entry.attempts)
        if self.memo is not None:
            step = self.memo.attempt(chosen.state, chosen.cache, chosen.ask, chosen.at_hand, chosen.instant, stream)
        else:
            step = send(self.profile, chosen.ask, stream, self.recipient, self.clock.now, chosen.state,
                        chosen.at_hand, self.logs, chosen.instant)
        self.sim.start(step, self._after, index, entry, path, stream=stream)

    def _after(self, index: int, entry: QueueEntry, path: _Path, delivery: Delivery) -> None:
        entry.attempts += 1
        if self.watch.active:
            self.watch.attempted(index, entry.attempts, delivery, delivery.started + delivery.elapsed)
        self.counts["attempts"] += 1
        template = self.memo.template(delivery) if self.memo is not None else delivery
        outcome = delivery.outcome
        facts = self._facts.get(template)
        if facts is None:
            facts = self._facts.put(template, (attempt_label(delivery),
                                               outcome == _DELIVERED and self._expected(delivery)))
        label, to_expected = facts
        path.add(label)
        if entry.attempts == 1 and outcome != _DELIVERED:
            failure = self._failed_at.get(template)
            if failure is None:
                failure = self._failed_at.put(template, failed_at(delivery))
            self.first_failures.add(failure)
        now = delivery.started + delivery.elapsed
        age = now - entry.arrival
        if outcome == _DELIVERED:
            if to_expected:
                self.counts["expected"] += 1
                self.counts["first"] += entry.attempts == 1
            else:
                self.counts["elsewhere"] += 1
            self.delays.add(age)
            self._finish(path, age)
            return
        if outcome == _BOUNCED:
            self._bounce(path, delivery.bounce, age)
            return
        if self.config.first_attempt_only:
            self._queued(path)
            return
        lifetime = self.lifetime
        if age >= lifetime:
            self._bounce(path, self.profile.bounce_text(delivery.envelope_recipient, _failure(delivery), True), age)
            return
        # A queue never retries in the past; a second's floor keeps a faulty rule from spinning.
        sender = self.senders[self.plan.of(index)].state
        retry = max(self.profile.retry_at(entry, delivery, sender), now + 1.0)
        if self.profile.expires_in_queue and retry >= entry.arrival + lifetime:
            expiry_text = self.profile.bounce_text(delivery.envelope_recipient, _failure(delivery), True)
            self.sim.call_at(entry.arrival + lifetime, lambda: self._bounce(path, expiry_text, lifetime))
            return
        if self.config.horizon is not None and retry > self.config.horizon:
            self._queued(path)
            return
        self._schedule(index, entry, path, retry)

    def _expected(self, delivery: Delivery) -> bool:
        """`expected`, once per target object (remembered attempts hand the same targets on)."""
        target = delivery.delivered_to
        known = self._expected_at.get(target)
        if known is None:
            known = self._expected_at.put(target, expected(self.spec.expect.deliver_to, delivery))
        return known

    def _finish(self, path: _Path, age: float) -> None:
        self.paths.add(path.text())
        if self.warn_after is not None and age > self.warn_after:
            self.counts["warned"] += 1
        if self._progress is not None:
            self._progress(1)

    def _bounce(self, path: _Path, text: str, age: float) -> None:
        self.counts["bounced"] += 1
        self.watch.bounced(self.clock.now())
        self.bounces.add(text)
        path.add("bounced")
        self._finish(path, age)

    def _queued(self, path: _Path) -> None:
        self.counts["queued"] += 1
        path.add("still queued")
        self.paths.add(path.text())
        if self._progress is not None:
            self._progress(1)

    def _result(self) -> MtaReplay:
        c = self.counts
        messages = self.config.messages
        return MtaReplay(
            mta=self.profile.name, mta_version=self.profile.version, messages=messages,
            delivered_expected=c["expected"], delivered_elsewhere=c["elsewhere"], bounced=c["bounced"],
            queued=c["queued"], first_attempt_success=c["first"], warned=c["warned"], attempts=c["attempts"],
            delay_p50=self.delays.percentile(0.50), delay_p95=self.delays.percentile(0.95),
            delay_max=self.delays.maximum if self.delays.count else None,
            bounce_texts=self.bounces.ranked(), paths=self.paths.ranked(),
            gates=self._gates(c["expected"] / messages if messages else 0.0),
            first_failures=self.first_failures.ranked(),
            buckets=self.watch.buckets(), migration=self.watch.migration(),
            deferrals=self.watch.deferrals(),
        )

    def _gates(self, success: float) -> tuple[Gate, ...]:
        gates = []
        expect = self.spec.expect
        if expect.min_success is not None:
            gates.append(Gate("min_success", success >= expect.min_success, f">= {expect.min_success:.2%}",
                              f"{success:.2%}"))
        if expect.max_delay is not None:
            p95 = self.delays.percentile(0.95)
            observed = format_duration(p95) if p95 is not None else "nothing delivered"
            gates.append(Gate("max_delay", p95 is not None and p95 <= expect.max_delay,
                              f"p95 <= {format_duration(expect.max_delay)}", observed))
        if "bounce" in self.config.fail_on:
            bounced = self.counts["bounced"]
            gates.append(Gate("no_bounce", bounced == 0, "0 bounced", f"{bounced} bounced"))
        if "defer" in self.config.fail_on:
            queued = self.counts["queued"]
            gates.append(Gate("no_queued", queued == 0, "0 still queued", f"{queued} still queued"))
        return tuple(gates)


# A member read through its class is a call (enum.py).
_DELIVERED: Final = Outcome.DELIVERED
_BOUNCED: Final = Outcome.BOUNCED


def _failure(delivery: Delivery) -> Failure:
    return Failure.defer(delivery.dsn, delivery.reason)


Progress = Callable[[str, int], Callable[[int], None]]


def run_replay(config: ReplayConfig, progress: Progress | None = None) -> ReplayResult:
    """Every scenario under every MTA; `progress(label, total)` returns a per-message tick."""
    if config.messages < 1:
        raise UsageError("--messages must be at least 1")
    if config.resolvers < 1:
        raise UsageError("--resolvers must be at least 1")
    # Every recipient, profile and override is checked before the first message is sent.
    planned = [(spec, recipient_of(spec, config.recipient), profiles_for(config.mtas or spec.mta, config.overrides))
               for spec in config.specs]
    scenarios = []
    for spec, recipient, profiles in planned:
        runs = []
        for profile in profiles:
            name = profile.name
            tick = progress(f"{spec.name} · {name}", config.messages) if progress else None
            runs.append(_MtaRun(spec, profile, config, recipient).run(tick))
        scenarios.append(ScenarioReplay(spec.name, spec.description, spec.expect.deliver_to, tuple(runs)))
    return ReplayResult(config.seed, config.messages, config.arrival, config.process, config.resolvers,
                        tuple(scenarios))


by_fields(globals())  # frozen dataclasses pickle alike in the compiled build (mxsim/pickling.py)
