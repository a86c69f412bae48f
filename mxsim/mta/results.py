"""What an MTA decided (a route) and what came of one delivery attempt. Values, never changed once made."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mxsim.mta.stub import StubAnswer
from mxsim.pickling import by_fields


class RouteKind(StrEnum):
    MX = "mx"
    IMPLICIT_MX = "implicit-mx"  # RFC 5321 §5.1: no MX, the domain's own addresses
    NULL_MX = "null-mx"  # RFC 7505
    FAILED = "failed"  # a DNS error decided the message's fate before any connection


class Outcome(StrEnum):
    DELIVERED = "delivered"
    DEFERRED = "deferred"
    BOUNCED = "bounced"


class AttemptResult(StrEnum):
    """The `result` of one host tried, as the trace JSON names it."""

    ACCEPTED = "accepted"
    TIMEOUT = "timeout"  # connect timed out (SYN unanswered)
    REFUSED = "refused"
    BANNER_TIMEOUT = "banner_timeout"  # connected, no greeting in time
    REJECTED = "rejected"  # 5xx greeting
    TEMPFAIL = "tempfail"  # 4xx greeting
    CLOSED = "closed"  # connected, closed before greeting
    UNREACHABLE = "unreachable"
    TLS_FAILED = "tls_failed"  # TLS was required (MTA-STS) and not had, or the certificate failed


@dataclass(frozen=True, slots=True)
class Target:
    """One address the MTA will try, and the names it knows it by."""

    host: str  # the name as the MTA logs it (no trailing dot)
    address: str
    preference: int
    mx: str  # the MX exchange (or the domain, for an implicit MX)
    tls: TlsRequirement | None = None  # set by a sender that requires TLS here (MTA-STS)


class MatchRule(StrEnum):
    """How a certificate's names are matched against a TLS requirement."""

    RFC8461 = "rfc8461"  # the certificate names the MX host itself (RFC 8461 section 4.2)
    POSTFIX = "postfix"  # Postfix `secure match=`: a name equal to a pattern, or below a `.domain` one


@dataclass(frozen=True, slots=True)
class TlsRequirement:
    """TLS a sender requires of a host before it sends (MTA-STS, RFC 8461 section 4)."""

    patterns: tuple[str, ...]  # the names the certificate must match, in the sender's own syntax
    enforce: bool = True  # False: testing mode, a failure is logged and delivery goes on
    rule: MatchRule = MatchRule.RFC8461
    host: str = ""  # the MX host name the certificate must name, under RFC8461


@dataclass(frozen=True, slots=True)
class Failure:
    """A decision to defer or bounce, with the words the MTA uses."""

    temporary: bool
    dsn: str  # RFC 3463 enhanced status, e.g. "4.4.1"
    text: str  # the reason as the MTA writes it in its log and bounce

    @classmethod
    def defer(cls, dsn: str, text: str) -> Failure:
        """Keep the message queued and try again later."""
        return cls(temporary=True, dsn=dsn, text=text)

    @classmethod
    def bounce(cls, dsn: str, text: str) -> Failure:
        """Return the message to its sender now."""
        return cls(temporary=False, dsn=dsn, text=text)


@dataclass(frozen=True, slots=True)
class HostRef:
    """A host whose addresses the MTA looks up only when it is about to connect (Sendmail)."""

    name: str
    preference: int
    family: str = "any"  # what to look up then: "inet6", "inet" or "any"
    as_written: bool = False  # the recipient's domain as written, not a name taken from DNS data


@dataclass(frozen=True, slots=True)
class Route:
    kind: RouteKind
    domain: str  # the domain routed (after any rewriting)
    targets: tuple[Target, ...] = ()  # resolved while routing, tried in this order
    failure: Failure | None = None
    envelope_domain: str | None = None  # set when the MTA rewrote the recipient's domain
    notes: tuple[str, ...] = ()  # what the MTA would warn about (e.g. numeric MX)
    hosts: tuple[HostRef, ...] = ()  # resolved one by one at connection time, after `targets`
    policy_fetches: tuple[str, ...] = ()  # MTA-STS policy URLs fetched while routing


@dataclass(frozen=True, slots=True)
class Kept:
    """What an earlier message to the same domain left for this one (OpenSMTPD's relay): its
    route, so no DNS is asked; and the session when one is open, which takes the message
    with no connection of its own."""

    route: Route
    answers: tuple[StubAnswer, ...] = ()  # what the earlier message's lookups read
    session: Target | None = None
    words: str = ""  # the delivery's words when a session takes it


# Attempt and Delivery are never changed once made, like the values above, but are not
# frozen dataclasses: replay makes one of each per attempt (hundreds of thousands), and a
# frozen dataclass takes five times as long to make (each field set through
# object.__setattr__). Their `__init__` is written out: the one `dataclasses` writes is
# not compiled in the compiled build (docs/architecture.md), and costs 5 % of a replay there.
@dataclass(slots=True, init=False)
class Attempt:
    host: str
    address: str
    port: int
    result: AttemptResult
    at: float
    elapsed: float
    reply: str | None  # greeting line, when there was one
    reason: str  # the MTA's words for what happened

    def __init__(self, host: str, address: str, port: int, result: AttemptResult, at: float, elapsed: float,
                 reply: str | None = None, reason: str = "") -> None:
        self.host = host
        self.address = address
        self.port = port
        self.result = result
        self.at = at
        self.elapsed = elapsed
        self.reply = reply
        self.reason = reason


@dataclass(slots=True, init=False)
class Delivery:
    """One delivery attempt of one message by one MTA, explained."""

    mta: str
    mta_version: str
    recipient: str
    envelope_recipient: str
    dns: tuple[StubAnswer, ...]
    route: Route
    attempts: tuple[Attempt, ...]
    outcome: Outcome
    dsn: str
    reason: str  # the status text (deferral or bounce reason, or the accepting reply)
    log: tuple[str, ...]
    bounce: str  # what the bounce says, now (bounced) or at queue expiry (deferred)
    delivered_to: Target | None
    started: float
    elapsed: float
    # What a kept relay's lookups read for an earlier message (OpenSMTPD); this one asked none.
    relay_dns: tuple[StubAnswer, ...]

    def __init__(self, mta: str, mta_version: str, recipient: str, envelope_recipient: str,
                 dns: tuple[StubAnswer, ...], route: Route, attempts: tuple[Attempt, ...], outcome: Outcome,
                 dsn: str, reason: str, log: tuple[str, ...], bounce: str, delivered_to: Target | None,
                 started: float, elapsed: float, relay_dns: tuple[StubAnswer, ...] = ()) -> None:
        self.mta = mta
        self.mta_version = mta_version
        self.recipient = recipient
        self.envelope_recipient = envelope_recipient
        self.dns = dns
        self.route = route
        self.attempts = attempts
        self.outcome = outcome
        self.dsn = dsn
        self.reason = reason
        self.log = log
        self.bounce = bounce
        self.delivered_to = delivered_to
        self.started = started
        self.elapsed = elapsed
        self.relay_dns = relay_dns


by_fields(globals())  # frozen dataclasses pickle alike in the compiled build (mxsim/pickling.py)
