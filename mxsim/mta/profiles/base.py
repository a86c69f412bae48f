"""The MTA profile base: plain RFC 5321 §5.1, written as hooks each real MTA overrides.

A profile is its parameters (by the MTA's own names, with Debian bookworm's defaults)
plus the few rules that really differ: how it routes (MX, CNAME, implicit and null MX),
how it orders and limits addresses, what one attempt's result means, and the words it
logs. Subclasses override only what differs, citing MTA-FACTS.md for each change
(sqlfluff's dialects: a base plus overrides).
"""

from __future__ import annotations

import functools
import ipaddress
import random
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import dns.name
import dns.rdatatype
import dns.rdtypes.ANY.MX

from mxsim import names
from mxsim.mta import HELO_NAME
from mxsim.mta.params import Kind, Param, Settings
from mxsim.mta.queue import QueueEntry, SenderState
from mxsim.mta.results import (
    Attempt,
    AttemptResult,
    Delivery,
    Failure,
    HostRef,
    Outcome,
    Route,
    RouteKind,
    Target,
)
from mxsim.mta.stub import Herrno, Library, Stub, StubAnswer
from mxsim.transport.base import ConnectResult, SmtpProbe, SmtpSession, Step
from mxsim.units import format_duration

A = dns.rdatatype.A
AAAA = dns.rdatatype.AAAA
MX = dns.rdatatype.MX
KERNEL_SYN_TIMEOUT = 127.0  # Linux, tcp_syn_retries=6: 1+2+4+8+16+32+64 s
LOG_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)  # virtual time 0 in log lines: fixed, so logs are seed-stable
_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})\b")


name_text = names.text


def log_time(seconds: float) -> datetime:
    return LOG_EPOCH + timedelta(seconds=seconds)


def enhanced_code(text: str, klass: int) -> str | None:
    """The RFC 3463 code at the start of a reply text, with its class set to `klass`."""
    match = _ENHANCED.match(text)
    if match is None:
        return None
    return f"{klass}.{match.group(2)}.{match.group(3)}"


@dataclass(frozen=True, slots=True)
class Mx:
    preference: int
    exchange: dns.name.Name

    @property
    def is_null(self) -> bool:
        return len(self.exchange.labels) <= 1 and not any(self.exchange.labels)  # "." or ""


def mx_records(answer: StubAnswer) -> list[Mx]:
    """All MX RRs of the answer, whatever their owner (MTA-FACTS Q1: none checks owners)."""
    found = []
    for rrset in answer.records(MX):
        for rdata in rrset:
            assert isinstance(rdata, dns.rdtypes.ANY.MX.MX)
            found.append(Mx(rdata.preference, rdata.exchange))
    return found


def addresses_in(answer: StubAnswer, rdtype: dns.rdatatype.RdataType) -> list[str]:
    return [str(rdata.address) for rrset in answer.records(rdtype) for rdata in rrset]


def ip_literal(name: dns.name.Name) -> str | None:
    """`192.0.2.25.` written as an MX exchange -> "192.0.2.25"."""
    return _ip_literal(name.labels)


@functools.lru_cache(maxsize=4096)
def _ip_literal(labels: tuple[bytes, ...]) -> str | None:
    looks_v4 = len(labels) == 5 and all(label.isdigit() for label in labels[:4])
    if not looks_v4 and not any(b":" in label for label in labels):
        return None  # most names: spare the text conversion
    text = dns.name.Name(labels).to_text(omit_final_dot=True)
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


class Context:
    """What a routing step may use: the stub resolver and the seeded randomness."""

    def __init__(self, stub: Stub, rng: random.Random) -> None:
        self.stub = stub
        self.rng = rng
        # What one delivery process remembers between its lookups (Exim's negative cache).
        self.negative: dict[tuple[names.NameKey, dns.rdatatype.RdataType], StubAnswer] = {}
        # Addresses already looked up at connection time, by (host, family) (Sendmail's v4 retry).
        self.resolved: dict[tuple[str, str], list[Target]] = {}
        # Names already canonified in this process, and the result (Sendmail's host map cache).
        self.canon: dict[names.NameKey, dns.name.Name] = {}

    def lookup(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> Step[StubAnswer]:
        return self.stub.query(name, rdtype)

    def follow(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, max_queries: int
    ) -> Step[tuple[StubAnswer, StubAnswer]]:
        """Ask, and while the answer holds only CNAMEs, ask again at the last CNAME's target.

        Returns (first answer, last answer). Postfix asks up to 10 times, Exim twice
        (dns_cname_loops = 1), the libraries behind getaddrinfo once.
        """
        first = answer = yield from self.lookup(name, rdtype)
        for _ in range(max_queries - 1):
            if answer.status != Herrno.SUCCESS or answer.records(rdtype):
                break
            cnames = answer.cnames()
            if not cnames:
                break
            answer = yield from self.lookup(cnames[-1][1], rdtype)
        return first, answer


class Profile:
    """Plain RFC 5321 §5.1 (and RFC 7505), with no MTA's quirks."""

    name = "rfc5321"
    title = "RFC 5321"
    version = "RFC 5321 (2008), RFC 7505 (2015)"
    library = Library.GLIBC
    expires_in_queue = False  # True: the queue bounces at expiry time, not at the next failed attempt
    PARAMS: tuple[Param, ...] = (
        Param("connect_timeout", Kind.DURATION, KERNEL_SYN_TIMEOUT,
              "TCP connect timeout; RFC 5321 sets none, so the kernel's SYN retries decide",
              "Linux tcp_syn_retries=6"),
        Param("greeting_timeout", Kind.DURATION, 300.0, "wait for the 220 greeting",
              "RFC 5321 §4.5.3.2.1 Initial 220 Message: 5 minutes"),
        Param("address_limit", Kind.INT, 0, "addresses tried per attempt; 0: all",
              "RFC 5321 §5.1: SHOULD try at least two, MAY cap"),
        Param("inet_protocols", Kind.CHOICE, "all", "address families looked up",
              "RFC 5321 §5.1: A and AAAA", choices=("all", "ipv4", "ipv6")),
        Param("retry_interval", Kind.DURATION, 1800.0, "wait between attempts",
              "RFC 5321 §4.5.4.1: at least 30 minutes"),
        Param("give_up_time", Kind.DURATION, 4 * 86400.0, "queue lifetime before bouncing",
              "RFC 5321 §4.5.4.1: at least 4-5 days"),
    )

    def __init__(self, overrides: Mapping[str, str] | None = None) -> None:
        self.settings = Settings(self.PARAMS, self.name, overrides)

    # ---- routing -------------------------------------------------------------------
    def families(self) -> tuple[dns.rdatatype.RdataType, ...]:
        protocols = self.settings.text("inet_protocols")
        return {"ipv4": (A,), "ipv6": (AAAA,)}.get(protocols, (A, AAAA))

    def route(self, ctx: Context, domain: dns.name.Name) -> Step[Route]:
        """RFC 5321 §5.1: MX first; a CNAME's target is processed as the initial name."""
        answer = yield from ctx.lookup(domain, MX)
        if answer.status == Herrno.TRY_AGAIN:
            return self.dns_failure(domain, answer, temporary=True)
        if answer.status in (Herrno.HOST_NOT_FOUND, Herrno.NO_RECOVERY):
            return self.dns_failure(domain, answer, temporary=False)
        cnames = answer.cnames()
        canonical = cnames[-1][1] if cnames else domain
        mxs = mx_records(answer)
        if len(mxs) == 1 and mxs[0].is_null:
            return Route(RouteKind.NULL_MX, name_text(domain), failure=Failure(
                False, "5.1.10", f"556 5.1.10 Recipient address rejected: {name_text(domain)} "
                "does not accept mail (null MX, RFC 7505)"))
        mxs = [mx for mx in mxs if not mx.is_null]
        if not mxs:
            targets: list[Target] = yield from self.host_targets(ctx, canonical, 0, name_text(canonical))
            if not targets:
                return Route(RouteKind.IMPLICIT_MX, name_text(canonical), failure=Failure(
                    False, "5.4.4", f"no MX and no address records for {name_text(canonical)}"))
            return Route(RouteKind.IMPLICIT_MX, name_text(canonical), self.order(ctx, targets))
        targets = []
        for mx in self.sort_mx(ctx, mxs):
            targets.extend((yield from self.host_targets(ctx, mx.exchange, mx.preference,
                                                         name_text(mx.exchange))))
        if not targets:
            return Route(RouteKind.MX, name_text(domain), failure=Failure(
                False, "5.4.4", f"no MX host for {name_text(domain)} has an address"))
        return Route(RouteKind.MX, name_text(domain), self.order(ctx, targets))

    def dns_failure(self, domain: dns.name.Name, answer: StubAnswer, *, temporary: bool) -> Route:
        if temporary:
            failure = Failure(True, "4.4.3", f"DNS lookup of {name_text(domain)} MX failed temporarily")
        else:
            failure = Failure(False, "5.1.2", f"{name_text(domain)}: no such domain")
        return Route(RouteKind.FAILED, name_text(domain), failure=failure)

    def sort_mx(self, ctx: Context, mxs: Iterable[Mx]) -> list[Mx]:
        """By preference, equal preferences in random order (RFC 5321 §5.1)."""
        keyed = [(mx.preference, ctx.rng.random(), mx) for mx in mxs]
        return [mx for _pref, _tie, mx in sorted(keyed, key=lambda k: (k[0], k[1]))]

    def host_targets(
        self, ctx: Context, host: dns.name.Name, preference: int, logged: str
    ) -> Step[list[Target]]:
        literal = ip_literal(host)
        if literal is not None:
            return [Target(logged, literal, preference, name_text(host))]
        targets: list[Target] = []
        for rdtype in self.families():
            _first, answer = yield from ctx.follow(host, rdtype, 1)
            targets.extend(
                Target(logged, address, preference, name_text(host))
                for address in addresses_in(answer, rdtype)
            )
        return targets

    def order(self, ctx: Context, targets: list[Target]) -> tuple[Target, ...]:
        limit = self.address_limit()
        return tuple(targets[:limit] if limit else targets)

    def address_limit(self) -> int:
        return self.settings.integer("address_limit")

    def connect_targets(self, ctx: Context, host: HostRef) -> Step[list[Target]]:
        """The addresses of a host routed lazily (Route.hosts), looked up just before connecting."""
        name = dns.name.from_text(host.name)
        return (yield from self.host_targets(ctx, name, host.preference, host.name))

    def finish(self, ctx: Context, route: Route) -> Step[None]:
        """Lookups the MTA makes after its attempt, in the same process (Sendmail)."""
        return None
        yield  # a generator that asks nothing

    def no_address(self, route: Route) -> Failure:
        """Routing found hosts, but none had an address to connect to."""
        return Failure(True, "4.4.4", f"no usable address for {route.domain}")

    # ---- the attempt -----------------------------------------------------------------
    def connect_timeout(self) -> float:
        return min(self.settings.seconds("connect_timeout"), KERNEL_SYN_TIMEOUT)

    def greeting_timeout(self) -> float:
        return self.settings.seconds("greeting_timeout")

    def probe(self, target: Target, helo: str) -> SmtpProbe:
        return SmtpProbe(target.address, 25, helo, self.connect_timeout(), self.greeting_timeout())

    def judge(self, target: Target, session: SmtpSession) -> tuple[AttemptResult, str]:
        """What one session means, and the MTA's words for it."""
        where = f"{target.host}[{target.address}]"
        if session.connect == ConnectResult.TIMEOUT:
            return AttemptResult.TIMEOUT, f"connect to {where}:25: Connection timed out"
        if session.connect == ConnectResult.REFUSED:
            return AttemptResult.REFUSED, f"connect to {where}:25: Connection refused"
        if session.connect == ConnectResult.UNREACHABLE:
            return AttemptResult.UNREACHABLE, f"connect to {where}:25: No route to host"
        if session.greeting_timeout:
            return AttemptResult.BANNER_TIMEOUT, f"{where}: timeout waiting for the greeting"
        if session.greeting is None:
            return AttemptResult.CLOSED, f"{where}: connection closed before the greeting"
        code = session.greeting.code
        if 200 <= code < 300:
            return AttemptResult.ACCEPTED, f"{where}: {session.greeting.line}"
        kind = AttemptResult.REJECTED if code >= 500 else AttemptResult.TEMPFAIL
        return kind, f"{where}: greeting {session.greeting.line}"

    def failure(self, route: Route, attempts: list[Attempt]) -> Failure:
        """No address accepted: a 5xx greeting everywhere bounces, anything else defers."""
        last = attempts[-1]
        if all(a.result == AttemptResult.REJECTED for a in attempts):
            return Failure(False, enhanced_code(_reply_text(last), 5) or "5.0.0", last.reason)
        return Failure(True, self.deferral_dsn(last), last.reason)

    def deferral_dsn(self, attempt: Attempt) -> str:
        if attempt.result in (AttemptResult.TIMEOUT, AttemptResult.REFUSED, AttemptResult.UNREACHABLE):
            return "4.4.1"  # RFC 3463: no answer from host
        if attempt.result in (AttemptResult.BANNER_TIMEOUT, AttemptResult.CLOSED):
            return "4.4.2"  # bad connection
        return enhanced_code(_reply_text(attempt), 4) or "4.0.0"

    def rewrite_recipient(self, local: str, domain: str, route: Route) -> str:
        return f"{local}@{route.envelope_domain or domain}"

    # ---- the queue (MTA-FACTS Q9) ---------------------------------------------------------
    def retry_at(self, entry: QueueEntry, delivery: Delivery, sender: SenderState) -> float:
        """When the queue next tries a message that was just deferred."""
        return delivery.started + delivery.elapsed + self.settings.seconds("retry_interval")

    def warn_after(self) -> float | None:
        """Age at which the sender gets a delay warning; None: this MTA sends none."""
        return None

    def suspended(self, sender: SenderState, domain: str, now: float) -> Failure | None:
        """A deferral decided before any lookup (Postfix's dead destination)."""
        return None

    def blocked(self, sender: SenderState, target: Target, now: float) -> bool:
        """Whether the sender's memory of this host rules it out for now."""
        return False

    def all_blocked(self, route: Route, sender: SenderState) -> Failure:
        return Failure(True, "4.4.1", f"every host for {route.domain} is waiting for its retry time")

    def remember(self, sender: SenderState, delivery: Delivery) -> None:
        """Update the sender's memory after an attempt."""
        return None

    # ---- words ---------------------------------------------------------------------------
    def expiry(self) -> float:
        return self.settings.seconds("give_up_time")

    def log_lines(self, delivery: Delivery, queue_id: str) -> tuple[str, ...]:
        stamp = log_time(delivery.started + delivery.elapsed).strftime("%Y-%m-%dT%H:%M:%SZ")
        lines = [f"{stamp} {a.reason}" for a in delivery.attempts if a.result != AttemptResult.ACCEPTED]
        lines.append(f"{stamp} {queue_id}: to=<{delivery.envelope_recipient}> "
                     f"outcome={delivery.outcome} dsn={delivery.dsn} ({delivery.reason})")
        return tuple(lines)

    def bounce_text(self, recipient: str, failure: Failure, deferred: bool) -> str:
        when = f" after {format_duration(self.expiry())} in the queue" if deferred else ""
        return f"<{recipient}>: delivery failed{when}: {failure.dsn} {failure.text}"

    def queue_id(self, rng: random.Random) -> str:
        return f"{rng.getrandbits(40):010X}"


def _reply_text(attempt: Attempt) -> str:
    if attempt.reply is None:
        return ""
    return attempt.reply.partition(" ")[2]


def deliver(
    profile: Profile,
    stub: Stub,
    rng: random.Random,
    recipient: str,
    now: Callable[[], float],
    helo: str = HELO_NAME,
    sender: SenderState | None = None,
) -> Step[Delivery]:
    """One delivery attempt of one message: route, then try the targets in order.

    With a `sender`, the MTA's memory across messages applies (suspended destinations,
    hosts waiting for their retry time) and is updated afterwards.
    """
    started = now()
    local, _, domain_text = recipient.rpartition("@")
    domain = dns.name.from_text(domain_text)
    ctx = Context(stub, rng)
    held = profile.suspended(sender, domain_text.lower(), started) if sender is not None else None
    if held is not None:
        route = Route(RouteKind.FAILED, domain_text.lower(), failure=held)
    else:
        route = yield from profile.route(ctx, domain)
    attempts: list[Attempt] = []
    delivered: Target | None = None
    failure = route.failure
    reason = ""
    if failure is None:
        blocked = False
        batches: list[tuple[Target, ...] | HostRef] = [route.targets, *route.hosts]
        for batch in batches:
            found = batch if isinstance(batch, tuple) else (yield from profile.connect_targets(ctx, batch))
            for target in found:
                if sender is not None and profile.blocked(sender, target, now()):
                    blocked = True
                    continue
                at = now()
                session: SmtpSession = yield profile.probe(target, helo)
                result, words = profile.judge(target, session)
                attempts.append(Attempt(
                    target.host, target.address, 25, result, at, session.elapsed,
                    session.greeting.line if session.greeting else None, words,
                ))
                if result == AttemptResult.ACCEPTED:
                    delivered = target
                    break
            if delivered is not None:
                break
        if delivered is None:
            if attempts:
                failure = profile.failure(route, attempts)
            elif blocked and sender is not None:
                failure = profile.all_blocked(route, sender)
            else:
                failure = profile.no_address(route)
    yield from profile.finish(ctx, route)
    envelope = profile.rewrite_recipient(local, domain_text.lower(), route)
    if delivered is not None:
        outcome, dsn, reason = Outcome.DELIVERED, "2.0.0", attempts[-1].reason
        bounce = ""
    else:
        assert failure is not None
        outcome = Outcome.DEFERRED if failure.temporary else Outcome.BOUNCED
        dsn, reason = failure.dsn, failure.text
        bounce = profile.bounce_text(envelope, failure, deferred=failure.temporary)
    delivery = Delivery(
        mta=profile.name, mta_version=profile.version, recipient=recipient,
        envelope_recipient=envelope, dns=tuple(stub.log), route=route,
        attempts=tuple(attempts), outcome=outcome, dsn=dsn, reason=reason, log=(),
        bounce=bounce, delivered_to=delivered, started=started, elapsed=now() - started,
    )
    delivery = replace(delivery, log=profile.log_lines(delivery, profile.queue_id(rng)))
    if sender is not None:
        profile.remember(sender, delivery)
    return delivery
