"""What every MTA profile shares: the steps of one delivery, by one set of names.

A profile is its parameters (by the MTA's own names, with Debian bookworm's defaults),
its own rule for each step below, and its own words. `deliver` runs the steps in order.
Every profile names the same step the same way, so "where is Exim's rule for X" is
answered by the step's name in exim.py; the steps marked (default) are written here
once and a profile writes its own only where it differs.

Routing, the recipient's domain to the addresses tried:
    route            the whole decision: the MX lookup, then MX hosts, implicit MX,
                     null MX, CNAMEs and re-routing, or a failure
    lookup_failure   an MX lookup that failed (NXDOMAIN, SERVFAIL ...): defer or
                     bounce, and the words; None where the MTA routes on regardless
    sort_mx          the order of the MX records: preferences, ties, duplicates
    families         the address families looked up for a host, in order
    host_addresses   one host's addresses (IP literals, each family in turn), and why
                     there are none; Sendmail looks hosts up only at connect_targets
    order            (default) all addresses in the order tried, cut at the address limit
    connect_targets  (default: none) a host routed lazily (`Route.hosts`), looked up
                     just before connecting: Sendmail's makeconnection
    finish           (default) lookups made after the attempt, in the same process
The sending host (mta/host_questions.py), only when it is described:
    at_start         (default: none) what a process asks about itself as it starts
    after_bounce     (default: none) what routing the bounce to the sender's domain asks
The attempt, one SMTP session per address:
    before_connect, after_connect   (default: none) lookups made around each connection:
                     the reverse (PTR) lookup of the address (OpenSMTPD before, Sendmail after)
    connect_timeout, greeting_timeout   how long a connect and the 220 greeting may take
    ATTEMPT_WORDS    the MTA's log words for each result; `classify` (written once, here)
                     decides the result of a session, TLS required by MTA-STS included
    TLS_WORDS        (default: RFC 8461's) the words for a host that fails required TLS
    failure          no address took the message: bounce or defer, and the words
    deferral_dsn     (default) the RFC 3463 code of a deferral
    no_address       (default) routing found hosts, none with an address
The queue, between attempts:
    retry_at         when a deferred message is tried again
    warn_after       the age at which the sender is warned of the delay
    expiry           the age at which a deferred message bounces
    suspended, blocked, all_blocked, remember   (default) the sender's memory of
                     destinations and hosts across messages
    kept, routed     (default: none) a route or session kept open for the next message
                     to the same domain (OpenSMTPD's relay and session)
Words:
    log_lines        the log lines of one delivery
    BOUNCE_WORDS     the bounce, sent at once or at expiry
    queue_id         (default) the queue ID in the log lines
"""

from __future__ import annotations

import functools
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Final, NamedTuple

import dns.name
import dns.rdatatype
import dns.rdtypes.ANY.MX
import dns.reversename

from mxsim import names
from mxsim.memo import name_from_text
from mxsim.mta import HELO_NAME
from mxsim.mta.draws import Order, tie_order
from mxsim.mta.host_questions import SendingHost
from mxsim.mta.params import Param, Settings
from mxsim.mta.queue import QueueEntry, SenderState
from mxsim.mta.results import (
    Attempt,
    AttemptResult,
    Delivery,
    Failure,
    HostRef,
    Kept,
    Outcome,
    Route,
    RouteKind,
    Target,
    TlsRequirement,
)
from mxsim.mta.sts import RFC8461_TLS_WORDS, CachedPolicy, tls_shortfall
from mxsim.mta.stub import Herrno, Library, Stub, StubAnswer
from mxsim.mta.tap import Draw, Tap
from mxsim.pickling import by_fields
from mxsim.transport.base import ConnectResult, SmtpProbe, SmtpSession, Step
from mxsim.transport.streams import RandomSource
from mxsim.units import format_duration

A: Final = dns.rdatatype.A
AAAA: Final = dns.rdatatype.AAAA
MX: Final = dns.rdatatype.MX
PTR: Final = dns.rdatatype.PTR
KERNEL_SYN_TIMEOUT: Final = 127.0  # Linux, tcp_syn_retries=6: 1+2+4+8+16+32+64 s
LOG_EPOCH: Final = datetime(2026, 1, 1, tzinfo=UTC)  # virtual time 0 in log lines: fixed, so logs are seed-stable
_ENHANCED: Final = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})\b")
_CONNECT_FAILED: Final[dict[ConnectResult, AttemptResult]] = {
    ConnectResult.TIMEOUT: AttemptResult.TIMEOUT,
    ConnectResult.REFUSED: AttemptResult.REFUSED,
    ConnectResult.UNREACHABLE: AttemptResult.UNREACHABLE,
}

name_text = names.text
Addresses = tuple[list[Target], Failure | None]  # a host's addresses; if none, why


class AttemptWords(NamedTuple):
    """An MTA's log words for each result of a session, as str.format templates of `host`
    (as the MTA names it), `address` and `line` (the greeting, when there was one)."""

    timeout: str  # the connect timed out
    refused: str
    unreachable: str
    banner_timeout: str  # connected, no greeting in time
    closed: str  # connected, closed before the greeting
    greeting_refused: str  # a 4xx or 5xx greeting: the same words for both
    accepted: str

    def of(self, result: AttemptResult) -> str:
        return self[_WORDS_INDEX[result]]


_WORDS_INDEX: Final = {
    AttemptResult.TIMEOUT: 0, AttemptResult.REFUSED: 1, AttemptResult.UNREACHABLE: 2,
    AttemptResult.BANNER_TIMEOUT: 3, AttemptResult.CLOSED: 4,
    AttemptResult.TEMPFAIL: 5, AttemptResult.REJECTED: 5, AttemptResult.ACCEPTED: 6,
}


class BounceWords(NamedTuple):
    """What a bounce says, as str.format templates of `recipient`, `text` (the reason),
    `dsn`, `expired_dsn` (the same code in class 5) and `lifetime` (the queue's, in the
    MTA's own words: `Profile.lifetime_words`)."""

    now: str  # bounced at once
    expired: str  # deferred until the message expired in the queue
    expired_logged: str = ""  # the words the MTA logs as it returns a message for its age
    expired_status: str = ""  # the DSN status of an expired recipient; "" where not known


def log_time(seconds: float) -> datetime:
    return LOG_EPOCH + timedelta(seconds=seconds)


def enhanced_code(text: str, klass: int) -> str | None:
    """The RFC 3463 code at the start of a reply text, with its class set to `klass`."""
    match = _ENHANCED.match(text)
    if match is None:
        return None
    return f"{klass}.{match.group(2)}.{match.group(3)}"


def reply_text(attempt: Attempt) -> str:
    """The greeting's text after its code; "" without a greeting."""
    if attempt.reply is None:
        return ""
    return attempt.reply.partition(" ")[2]


def classify(session: SmtpSession, tls: TlsRequirement | None = None) -> AttemptResult:
    """What one SMTP session came to, the same for every MTA: only a 2xx greeting lets
    the transaction go on (RFC 5321 §4.3.2), a 5xx refuses, anything else is temporary.
    With TLS required (MTA-STS in enforce mode), a session that did not meet it fails."""
    if tls is not None and tls.enforce and tls_shortfall(session, tls) is not None:
        return AttemptResult.TLS_FAILED
    if session.connect != ConnectResult.CONNECTED:
        return _CONNECT_FAILED[session.connect]
    if session.greeting_timeout:
        return AttemptResult.BANNER_TIMEOUT
    if session.greeting is None:
        return AttemptResult.CLOSED
    code = session.greeting.code
    if 200 <= code < 300:
        return AttemptResult.ACCEPTED
    return AttemptResult.REJECTED if code >= 500 else AttemptResult.TEMPFAIL


@dataclass(frozen=True, slots=True)
class Mx:
    preference: int
    exchange: dns.name.Name

    @property
    def is_null(self) -> bool:
        return len(self.exchange.labels) <= 1 and not any(self.exchange.labels)  # "." or ""


def mx_records(answer: StubAnswer) -> list[Mx]:
    """All MX RRs of the answer, whatever their owner: no MTA checks the owner name."""
    found = []
    for rrset in answer.records(MX):
        for rdata in rrset:
            assert isinstance(rdata, dns.rdtypes.ANY.MX.MX)
            found.append(Mx(rdata.preference, rdata.exchange))
    return found


def by_preference(ctx: Context, mxs: Iterable[Mx]) -> list[Mx]:
    """By preference, equal preferences in random order (RFC 5321 §5.1)."""
    records = list(mxs)
    return [records[i] for i in ctx.decide(tie_order, tuple(mx.preference for mx in records))]


def addresses_in(answer: StubAnswer, rdtype: dns.rdatatype.RdataType) -> list[str]:
    return [str(rdata.address) for rrset in answer.records(rdtype) for rdata in rrset]


def search_names(name: dns.name.Name, domains: Iterable[str]) -> list[dns.name.Name]:
    """`name` with each domain of a resolv.conf search list appended, as the stub library
    asks them after the name itself found nothing (glibc resolv/res_query.c
    __res_context_search; OpenSMTPD's libasr, openbsd-compat/libasr/asr.c _asr_iter_domain)."""
    return list(_search_names(name.labels, tuple(domains)))


@functools.lru_cache(maxsize=1024)
def _search_names(labels: tuple[bytes, ...], domains: tuple[str, ...]) -> tuple[dns.name.Name, ...]:
    """Names are immutable: each (name, search list) is worked out once (every attempt asks)."""
    relative = dns.name.Name(labels).relativize(dns.name.root)
    return tuple(relative.concatenate(dns.name.from_text(domain)) for domain in domains if domain.strip("."))


SEARCH_DOMAINS_DOC: Final = ("the stub library's search list (resolv.conf `search`, else the domain of the "
                      "host name): names a lookup of a host's address also tries")
SEARCH_DOMAINS_SOURCE: Final = "resolv.conf(5); the lab runs with the domain of its host name (docs/agreement.md)"


def reverse_lookup(ctx: Context, address: str) -> Step[StubAnswer]:
    """The PTR question for an address (in-addr.arpa or ip6.arpa)."""
    answer: StubAnswer = yield from ctx.lookup(_reverse_name(address), PTR)
    return answer


@functools.lru_cache(maxsize=4096)
def _reverse_name(address: str) -> dns.name.Name:
    """The in-addr.arpa or ip6.arpa name of an address, made once per address (a Name is immutable)."""
    return dns.reversename.from_address(address)


class Context:
    """What a routing step may use: the stub resolver, the seeded randomness, and what
    one delivery process remembers between its lookups."""

    def __init__(self, stub: Stub, rng: RandomSource, sender: SenderState | None = None,
                 tap: Tap | None = None) -> None:
        self.stub = stub
        self.rng = rng
        self.sender = sender  # the MTA's memory across messages, when it has one (MTA-STS cache)
        self.tap = tap  # sees each draw and each read of the sender's memory (mta/tap.py)
        self.notes: list[str] = []  # what the MTA warns about while routing (Route.notes)
        # Negative answers, by (name, type) (Exim's negative cache).
        self.negative: dict[tuple[names.NameKey, dns.rdatatype.RdataType], StubAnswer] = {}
        # Addresses already looked up at connection time, by (host, family) (Sendmail's v4 retry).
        self.resolved: dict[tuple[str, str], list[Target]] = {}
        # Names already canonified in this process, and the result (Sendmail's host map cache).
        self.canon: dict[names.NameKey, dns.name.Name] = {}

    def lookup(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> Step[StubAnswer]:
        return self.stub.query(name, rdtype)

    def decide(self, draw: Draw, *args: Any) -> Order:
        """A random choice (mta/draws.py), drawn from this delivery's randomness."""
        if self.tap is None:
            return draw(self.rng, *args)
        return self.tap.decide(self.rng, draw, args)

    def policies(self) -> dict[str, CachedPolicy]:
        """The sender's cache of MTA-STS policies (a fresh one without a sender)."""
        if self.sender is None:
            return {}
        if self.tap is None:
            return self.sender.sts
        return self.tap.policies(self.sender)

    def follow(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, max_queries: int
    ) -> Step[tuple[StubAnswer, StubAnswer]]:
        """Ask, and while the answer holds only CNAMEs, ask again at the last CNAME's target.

        Returns (first answer, last answer). Postfix asks up to 10 times, the libraries
        behind getaddrinfo once.
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


class Profile(ABC):
    """One MTA's rules: the steps listed at the top of this module."""

    # Class attributes, each MTA's own: ClassVar, so a compiled build (mypyc) keeps them on the class.
    name: ClassVar[str]
    title: ClassVar[str]
    version: ClassVar[str]
    library: ClassVar[Library] = Library.GLIBC
    expires_in_queue: ClassVar[bool] = False  # True: the queue bounces at expiry time, not at the next failed attempt
    PARAMS: ClassVar[tuple[Param, ...]] = ()
    ATTEMPT_WORDS: ClassVar[AttemptWords]
    BOUNCE_WORDS: ClassVar[BounceWords]
    # The words for a host that fails required TLS (MTA-STS), by mta/sts.py's shortfall keys.
    TLS_WORDS: ClassVar[Mapping[str, str]] = RFC8461_TLS_WORDS

    def __init__(self, overrides: Mapping[str, str] | None = None) -> None:
        self.settings = Settings(self.PARAMS, self.name, overrides)
        self.attempt_words: AttemptWords = self.ATTEMPT_WORDS

    # ---- routing ---------------------------------------------------------------------
    @abstractmethod
    def route(self, ctx: Context, domain: dns.name.Name) -> Step[Route]:
        """The recipient's domain to the addresses (or hosts) to try, or a failure."""

    @abstractmethod
    def lookup_failure(self, domain: dns.name.Name, answer: StubAnswer) -> Failure | None:
        """The failure an MX lookup's DNS error means; None: routing goes on."""

    @abstractmethod
    def sort_mx(self, ctx: Context, mxs: Iterable[Mx]) -> list[Mx]:
        """The MX records in the order their hosts are tried."""

    @abstractmethod
    def families(self) -> tuple[dns.rdatatype.RdataType, ...]:
        """The address families looked up for a host, in order."""

    def host_addresses(self, ctx: Context, host: dns.name.Name, preference: int) -> Step[Addresses]:
        """One host's addresses, and when there are none, the failure the MTA reports."""
        raise NotImplementedError(f"{self.name} looks hosts up at connect_targets")

    def order(self, ctx: Context, targets: list[Target]) -> tuple[Target, ...]:
        """All addresses, in the order tried: as found, no limit."""
        return tuple(targets)

    def connect_targets(self, ctx: Context, host: HostRef) -> Step[list[Target]]:
        """The addresses of a host routed lazily (Route.hosts), looked up just before connecting."""
        raise NotImplementedError(f"{self.name} routes to addresses, not to hosts looked up at connect time")

    def finish(self, ctx: Context, route: Route, delivered: bool) -> Step[None]:
        """Lookups the MTA makes after its attempt, in the same process: none."""
        return None
        yield  # a generator that asks nothing

    def at_start(self, ctx: Context, host: SendingHost) -> Step[None]:
        """Lookups a delivering process makes about its own host as it starts: none."""
        return None
        yield  # a generator that asks nothing

    def after_bounce(self, ctx: Context, host: SendingHost) -> Step[None]:
        """Lookups made once the message bounced, to send the bounce to the sender: none."""
        return None
        yield  # a generator that asks nothing

    def route_bounce(self, ctx: Context, host: SendingHost) -> Step[None]:
        """The sender's domain routed as any other, by a process of its own (a fresh
        context): where an MTA sends its bounce at once (Postfix, Exim)."""
        domain = host.sender_domain
        if domain is not None:
            yield from self.route(Context(ctx.stub, ctx.rng, tap=ctx.tap), name_from_text(domain))

    def before_connect(self, ctx: Context, target: Target) -> Step[None]:
        """Lookups the MTA makes just before it connects to an address: none."""
        return None
        yield  # a generator that asks nothing

    def after_connect(self, ctx: Context, target: Target, result: AttemptResult) -> Step[None]:
        """Lookups the MTA makes once a connection attempt is over: none."""
        return None
        yield  # a generator that asks nothing

    def no_address(self, route: Route) -> Failure:
        """Routing found hosts, but none had an address to connect to."""
        return Failure.defer("4.4.4", f"no usable address for {route.domain}")

    def rewrite_recipient(self, local: str, domain: str, route: Route) -> str:
        return f"{local}@{route.envelope_domain or domain}"

    # ---- the attempt -----------------------------------------------------------------
    @abstractmethod
    def connect_timeout(self) -> float: ...

    @abstractmethod
    def greeting_timeout(self) -> float: ...

    def probe(self, target: Target, helo: str) -> SmtpProbe:
        """Connect, greeting, EHLO; STARTTLS too where the sender requires TLS (target.tls)."""
        return SmtpProbe(target.address, 25, helo, self.connect_timeout(), self.greeting_timeout(),
                         starttls=target.tls is not None)

    def judge(self, target: Target, session: SmtpSession) -> tuple[AttemptResult, str]:
        """What one session means, and the MTA's words for it."""
        result = classify(session, target.tls)
        line = session.greeting.line if session.greeting is not None else ""
        words = self.attempt_words.of(result) if result != AttemptResult.TLS_FAILED else ""
        shortfall = tls_shortfall(session, target.tls) if target.tls is not None else None
        if shortfall is not None:
            refusal = session.starttls_refused.line if session.starttls_refused is not None else ""
            said = self.TLS_WORDS[shortfall].format(host=target.host, address=target.address, line=refusal)
            # Enforced: the MTA's words for the failure; testing: delivered, the failure reported beside it.
            words = said if result == AttemptResult.TLS_FAILED else f"{words} (MTA-STS testing, reported: {said})"
        return result, words.format(host=target.host, address=target.address, line=line)

    @abstractmethod
    def failure(self, route: Route, attempts: list[Attempt]) -> Failure:
        """No address accepted the message: bounce or defer, and why."""

    def deferral_dsn(self, attempt: Attempt) -> str:
        if attempt.result in (AttemptResult.TIMEOUT, AttemptResult.REFUSED, AttemptResult.UNREACHABLE):
            return "4.4.1"  # RFC 3463: no answer from host
        if attempt.result in (AttemptResult.BANNER_TIMEOUT, AttemptResult.CLOSED):
            return "4.4.2"  # bad connection
        return enhanced_code(reply_text(attempt), 4) or "4.0.0"

    # ---- the queue -------------------------------------------------------------------
    @abstractmethod
    def retry_at(self, entry: QueueEntry, delivery: Delivery, sender: SenderState) -> float:
        """When the queue next tries a message that was just deferred."""

    @abstractmethod
    def warn_after(self) -> float | None:
        """Age at which the sender gets a delay warning; None: this MTA sends none."""

    @abstractmethod
    def expiry(self) -> float:
        """Age at which a deferred message bounces."""

    def suspended(self, sender: SenderState, domain: str, now: float) -> Failure | None:
        """A deferral decided before any lookup (Postfix's dead destination): none."""
        return None

    def blocked(self, sender: SenderState, target: Target, now: float) -> bool:
        """Whether the sender remembers this host as failed and waits for its retry time."""
        record = sender.hosts.get(target.address)
        return record is not None and record.not_before > now

    def all_blocked(self, route: Route, sender: SenderState) -> Failure:
        return Failure.defer("4.4.1", f"every host for {route.domain} is waiting for its retry time")

    def remember(self, sender: SenderState, delivery: Delivery) -> None:
        """Update the sender's memory after an attempt: nothing is remembered."""
        return None

    def kept(self, sender: SenderState, domain: str, now: float) -> Kept | None:
        """A route, or an open session, an earlier message to `domain` left: none, each
        message routes afresh."""
        return None

    def routed(self, sender: SenderState, domain: str, route: Route, answers: tuple[StubAnswer, ...]) -> None:
        """Routing found where to go: nothing is kept for the next message."""
        return None

    def session_seconds(self) -> float:
        """How long a session kept open takes the next message to the same domain: none."""
        return 0.0

    # ---- words -----------------------------------------------------------------------
    @abstractmethod
    def log_lines(self, delivery: Delivery, queue_id: str) -> tuple[str, ...]: ...

    def lifetime_words(self) -> str:
        """The queue lifetime as the MTA writes it in an expiry notice."""
        return format_duration(self.expiry())

    def _words(self, template: str, recipient: str, failure: Failure) -> str:
        return template.format(recipient=recipient, text=failure.text, dsn=failure.dsn,
                               expired_dsn="5." + failure.dsn.partition(".")[2],
                               lifetime=self.lifetime_words())

    def bounce_text(self, recipient: str, failure: Failure, deferred: bool) -> str:
        template = self.BOUNCE_WORDS.expired if deferred else self.BOUNCE_WORDS.now
        return self._words(template, recipient, failure)

    def expired_notice(self, recipient: str, failure: Failure) -> tuple[str, str]:
        """(DSN status, logged words) for a message returned for its age after `failure`."""
        words = self.BOUNCE_WORDS
        return (self._words(words.expired_status, recipient, failure),
                self._words(words.expired_logged, recipient, failure))

    def queue_id(self, rng: RandomSource) -> str:
        return f"{rng.getrandbits(40):010X}"


def deliver(
    profile: Profile,
    stub: Stub,
    rng: RandomSource,
    recipient: str,
    now: Callable[[], float],
    helo: str = HELO_NAME,
    sender: SenderState | None = None,
    logs: bool = True,
    host: SendingHost | None = None,
    tap: Tap | None = None,
) -> Step[Delivery]:
    """One delivery attempt of one message: route, then try the targets in order.

    With a `sender`, the MTA's memory across messages applies (suspended destinations,
    hosts waiting for their retry time) and is updated afterwards. Without `logs` the
    log lines are not written and their queue ID is not drawn (replay never shows them):
    it is the attempt's last draw, and replay gives each attempt a stream of its own
    (transport/streams.py), so no later draw moves. With a `host`, the
    questions about the sending host and the sender are asked too (mta/host_questions.py).
    With a `tap`, every draw and every read of the sender's memory goes through it
    (mta/tap.py), and nothing else is read from outside but DNS answers and sessions.
    """
    started = now()
    local, _, domain_text = recipient.rpartition("@")
    domain = name_from_text(domain_text)
    ctx = Context(stub, rng, sender, tap)
    if host is not None:
        yield from profile.at_start(ctx, host)
    destination = domain_text.lower()
    held: Failure | None = None
    kept: Kept | None = None
    if sender is not None:
        if tap is None:
            held = profile.suspended(sender, destination, started)
            kept = profile.kept(sender, destination, started) if held is None else None
        else:  # a profile without memory of destinations or relays has nothing to read here
            if _has_own(profile, "suspended"):
                held = tap.read("suspended", destination, functools.partial(_suspended, profile, destination), started)
            if held is None and _has_own(profile, "kept"):
                kept = tap.read("kept", destination, functools.partial(_kept, profile, destination), started)
    if held is not None:
        route = Route(RouteKind.FAILED, domain_text.lower(), failure=held)
    elif kept is not None:
        route = kept.route  # no DNS: the relay still holds what an earlier message's lookups found
    else:
        route = yield from profile.route(ctx, domain)
        if sender is not None:
            profile.routed(sender, destination, route, tuple(stub.log))
    attempts: list[Attempt] = []
    delivered: Target | None = None
    failure = route.failure
    reason = ""
    if failure is None:
        blocked = False
        # A session kept open takes the message over its connection: nothing to try.
        batches: list[tuple[Target, ...] | HostRef] = (
            [] if kept is not None and kept.session is not None else [route.targets, *route.hosts])
        for batch in batches:
            found = batch if isinstance(batch, tuple) else (yield from profile.connect_targets(ctx, batch))
            for target in found:
                if sender is not None and (
                        profile.blocked(sender, target, now()) if tap is None else
                        tap.read("blocked", target, functools.partial(_blocked, profile, target), now())):
                    blocked = True
                    continue
                if kept is None:  # a relay that has connected before knows the address's name
                    yield from profile.before_connect(ctx, target)
                at = now()
                session: SmtpSession = yield profile.probe(target, helo)
                result, words = profile.judge(target, session)
                yield from profile.after_connect(ctx, target, result)
                attempts.append(Attempt(
                    target.host, target.address, 25, result, at, session.elapsed,
                    session.greeting.line if session.greeting else None, words,
                ))
                if result == AttemptResult.ACCEPTED:
                    delivered = target
                    break
            if delivered is not None:
                break
        if kept is not None and kept.session is not None:
            delivered = kept.session
        elif delivered is None:
            if attempts:
                failure = profile.failure(route, attempts)
            elif blocked and sender is not None:
                failure = (profile.all_blocked(route, sender) if tap is None else
                           tap.read("all_blocked", route, functools.partial(_all_blocked, profile, route), now()))
            else:
                failure = profile.no_address(route)
    yield from profile.finish(ctx, route, delivered is not None)
    envelope = profile.rewrite_recipient(local, destination, route)
    if delivered is not None:
        outcome, dsn = Outcome.DELIVERED, "2.0.0"
        reason = attempts[-1].reason if attempts else kept.words if kept is not None else ""
        bounce = ""
    else:
        assert failure is not None
        outcome = Outcome.DEFERRED if failure.temporary else Outcome.BOUNCED
        dsn, reason = failure.dsn, failure.text
        bounce = profile.bounce_text(envelope, failure, deferred=failure.temporary)
        if host is not None and outcome == Outcome.BOUNCED:
            yield from profile.after_bounce(ctx, host)
    delivery = Delivery(
        mta=profile.name, mta_version=profile.version, recipient=recipient,
        envelope_recipient=envelope, dns=tuple(stub.log), route=route,
        attempts=tuple(attempts), outcome=outcome, dsn=dsn, reason=reason, log=(),
        bounce=bounce, delivered_to=delivered, started=started, elapsed=now() - started,
        relay_dns=kept.answers if kept is not None else (),
    )
    if logs:
        delivery = replace(delivery, log=profile.log_lines(delivery, profile.queue_id(rng)))
    if sender is not None:
        profile.remember(sender, delivery)
    return delivery


def _has_own(profile: Profile, step: str) -> bool:
    """Whether the profile writes its own `step` rather than the default (which reads nothing)."""
    return getattr(type(profile), step) is not getattr(Profile, step)


# The reads of the sender's memory `deliver` makes, as calls a tap can make again later.
def _suspended(profile: Profile, domain: str, sender: SenderState, now: float) -> Failure | None:
    return profile.suspended(sender, domain, now)


def _kept(profile: Profile, domain: str, sender: SenderState, now: float) -> Kept | None:
    return profile.kept(sender, domain, now)


def _blocked(profile: Profile, target: Target, sender: SenderState, now: float) -> bool:
    return profile.blocked(sender, target, now)


def _all_blocked(profile: Profile, route: Route, sender: SenderState, _now: float) -> Failure:
    return profile.all_blocked(route, sender)


by_fields(globals())  # frozen dataclasses pickle alike in the compiled build (mxsim/pickling.py)
