"""What a replay saw over time: per-bucket tallies, and what became of mail during an MX change.

`replay --bucket 15m` cuts the virtual clock into buckets and counts, per bucket:
messages that arrived, first attempts and the host each went to, and the attempts that
ended in it (delivered, with the host; bounced; deferred). When the scenario's
timeline changes the recipient domain's MX set, the migration summary follows the mail
that arrived after the change: how much of it still reached an old host, when the last
attempt there was, and what became of those messages.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import dns.name
import dns.rdatatype

from mxsim.mta.results import Delivery, Outcome
from mxsim.pickling import by_fields
from mxsim.scenario.spec import ScenarioSpec
from mxsim.scenario.timeline import epochs


@dataclass(frozen=True, slots=True)
class Bucket:
    start_s: float
    end_s: float
    messages: int = 0
    first_attempts: int = 0
    first_attempt_hosts: tuple[tuple[str, int], ...] = ()
    delivered: int = 0
    bounced: int = 0
    deferred: int = 0
    delivered_to: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class MxChange:
    """The first change of the recipient domain's MX set, as the timeline has it."""

    at: float
    old_hosts: tuple[str, ...]
    new_hosts: tuple[str, ...]
    old_ttl: int  # the old MX set's TTL: how long a cache may keep it after the change


@dataclass(frozen=True, slots=True)
class Migration:
    change: MxChange
    after: int  # messages that arrived at or after the change
    reached_old: int  # of those, messages with at least one attempt at an old host
    last_old_s: float | None  # when the last attempt at an old host started
    fates: tuple[tuple[str, int], ...]  # what became of the messages that reached an old host

    @property
    def share(self) -> float:
        return self.reached_old / self.after if self.after else 0.0


@dataclass(frozen=True, slots=True)
class Deferrals:
    """With --bucket: the messages whose first attempt did not deliver, and how their queue drained."""

    messages: int  # deferred on their first attempt
    delivered: int  # of those, delivered later
    wait_p50_s: float | None  # arrival to delivery, of those delivered later
    wait_max_s: float | None
    last_drained_s: float | None  # when the last of them was delivered

    @property
    def still_queued(self) -> int:
        return self.messages - self.delivered


def mx_change(spec: ScenarioSpec, domain: str) -> MxChange | None:
    """The recipient domain's MX hosts before and after the first change to them, if any."""
    name = dns.name.from_text(domain)
    stretches = epochs(spec)
    before, ttl = _mx_hosts(stretches[0][1], name)
    for at, stretch in stretches[1:]:
        now, _ttl = _mx_hosts(stretch, name)
        if now != before:
            return MxChange(at, before, now, ttl)
    return None


def _mx_hosts(spec: ScenarioSpec, domain: dns.name.Name) -> tuple[tuple[str, ...], int]:
    for zone in spec.zones:
        if domain.is_subdomain(zone.origin):
            rdataset = zone.zone.get_rdataset(domain, dns.rdatatype.MX)
            if rdataset is None:
                return (), 0
            return tuple(sorted(_host(rdata.exchange.to_text()) for rdata in rdataset)), rdataset.ttl
    return (), 0


def _host(text: str) -> str:
    return text.rstrip(".").lower()


@dataclass(slots=True)
class _Tally:
    messages: int = 0
    first: Counter[str] = field(default_factory=Counter)
    first_attempts: int = 0
    delivered: int = 0
    bounced: int = 0
    deferred: int = 0
    delivered_to: Counter[str] = field(default_factory=Counter)


class SeriesWatch:
    """Told of every arrival, attempt and bounce of one scenario under one MTA."""

    def __init__(self, bucket: float | None, change: MxChange | None) -> None:
        self.bucket = bucket
        self.change = change
        self._tallies: dict[int, _Tally] = {}
        self._old = frozenset(change.old_hosts) if change else frozenset()
        self._after: set[int] = set()
        self._reached_old: set[int] = set()
        self._fate: dict[int, str] = {}
        self._last_old: float | None = None
        self._arrival: dict[int, float] = {}
        self._deferred: set[int] = set()
        self._waits: list[tuple[float, float]] = []  # (wait, delivered at) of mail deferred first

    def _tally(self, at: float) -> _Tally | None:
        if self.bucket is None:
            return None
        slot = int(at // self.bucket)
        tally = self._tallies.get(slot)
        if tally is None:
            tally = self._tallies[slot] = _Tally()
        return tally

    @property
    def active(self) -> bool:
        return self.bucket is not None or self.change is not None

    def arrived(self, index: int, at: float) -> None:
        if not self.active:
            return
        tally = self._tally(at)
        if tally is not None:
            tally.messages += 1
            self._arrival[index] = at
        if self.change is not None and at >= self.change.at:
            self._after.add(index)

    def attempted(self, index: int, number: int, delivery: Delivery, now: float) -> None:
        if not self.active:  # a plain replay pays one test per attempt
            return
        hosts = [_host(attempt.host) for attempt in delivery.attempts]
        if number == 1:
            tally = self._tally(delivery.started)
            if tally is not None:
                tally.first_attempts += 1
                tally.first[hosts[0] if hosts else "(no host)"] += 1
        ended = self._tally(now)
        delivered_to = _host(delivery.delivered_to.host) if delivery.delivered_to is not None else None
        if ended is not None:
            if delivery.outcome == Outcome.DELIVERED:
                ended.delivered += 1
                ended.delivered_to[delivered_to or "?"] += 1
            elif delivery.outcome != Outcome.BOUNCED:  # bounces are counted as they happen (`bounced`)
                ended.deferred += 1
            self._follow_deferral(index, number, delivery, now)
        if index not in self._after:
            return
        old_attempts = [attempt for attempt in delivery.attempts if _host(attempt.host) in self._old]
        if old_attempts:
            self._reached_old.add(index)
            last = old_attempts[-1].at
            self._last_old = last if self._last_old is None else max(self._last_old, last)
        if index in self._reached_old:
            self._fate[index] = self._fate_of(index, delivery, delivered_to)

    def _follow_deferral(self, index: int, number: int, delivery: Delivery, now: float) -> None:
        if number == 1 and delivery.outcome == Outcome.DEFERRED:
            self._deferred.add(index)
        elif delivery.outcome == Outcome.DELIVERED and index in self._deferred:
            self._waits.append((now - self._arrival.get(index, delivery.started), now))

    def deferrals(self) -> Deferrals | None:
        """With --bucket, when any message was deferred on its first attempt."""
        if self.bucket is None or not self._deferred:
            return None
        waits = sorted(wait for wait, _at in self._waits)
        return Deferrals(messages=len(self._deferred), delivered=len(waits),
                         wait_p50_s=waits[(len(waits) - 1) // 2] if waits else None,
                         wait_max_s=waits[-1] if waits else None,
                         last_drained_s=max((at for _wait, at in self._waits), default=None))

    def _fate_of(self, index: int, delivery: Delivery, delivered_to: str | None) -> str:
        if delivery.outcome == Outcome.DELIVERED:
            side = "the old provider" if delivered_to in self._old else "the new provider"
            deferred_first = self._fate.get(index, "").startswith("deferred")
            return f"deferred, then delivered by {side}" if deferred_first else f"delivered by {side}"
        if delivery.outcome == Outcome.BOUNCED:
            return f"bounced: {delivery.reason}"
        return "deferred, not delivered by the end"

    def bounced(self, now: float) -> None:
        tally = self._tally(now)
        if tally is not None:
            tally.bounced += 1

    def buckets(self) -> tuple[Bucket, ...]:
        if self.bucket is None or not self._tallies:
            return ()
        size = self.bucket
        return tuple(
            Bucket(start_s=slot * size, end_s=(slot + 1) * size, messages=t.messages,
                   first_attempts=t.first_attempts, first_attempt_hosts=_ranked(t.first), delivered=t.delivered,
                   bounced=t.bounced, deferred=t.deferred, delivered_to=_ranked(t.delivered_to))
            for slot in range(max(self._tallies) + 1)
            for t in [self._tallies.get(slot, _Tally())]
        )

    def migration(self) -> Migration | None:
        if self.change is None:
            return None
        fates = Counter(self._fate.values())
        return Migration(change=self.change, after=len(self._after), reached_old=len(self._reached_old),
                         last_old_s=self._last_old, fates=_ranked(fates))


def _ranked(counter: Counter[str]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(counter.items(), key=lambda item: (-item[1], item[0])))


by_fields(globals())  # frozen dataclasses pickle alike in the compiled build (mxsim/pickling.py)
