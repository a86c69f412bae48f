"""OpenSMTPD 6.8.0p2 (Debian bookworm), as docs/mta-behaviour.md#opensmtpd describes it.

Its parameters have no main.cf-style names; they take smtpd.conf's words where one
exists (`queue ttl`, `bounce warn-interval`, `limit mta family`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar, Final

import dns.name

from mxsim.mta.host_questions import SendingHost
from mxsim.mta.params import Kind, Param
from mxsim.mta.profiles.base import (
    AAAA,
    KERNEL_SYN_TIMEOUT,
    MX,
    SEARCH_DOMAINS_DOC,
    SEARCH_DOMAINS_SOURCE,
    A,
    Addresses,
    AttemptWords,
    BounceWords,
    Context,
    Mx,
    Profile,
    addresses_in,
    log_time,
    mx_records,
    name_text,
    reverse_lookup,
    search_names,
)
from mxsim.mta.profiles.opensmtpd_sessions import KEEPALIVE, MAIL_MAX, Relays
from mxsim.mta.queue import QueueEntry, SenderState
from mxsim.mta.results import Attempt, AttemptResult, Delivery, Failure, Kept, Outcome, Route, RouteKind, Target
from mxsim.mta.stub import Herrno, Library, StubAnswer
from mxsim.names import ip_literal
from mxsim.transport.base import Step
from mxsim.transport.streams import RandomSource

RETRY_STEP: Final = 400.0  # scheduler_ramqueue.c: next try = creation + 400 s x n^2
IO_TIMEOUT: Final = 300.0  # mta_session.c L553 io_set_timeout(s->io, 300000)
NO_MX: Final = "No MX found for domain"
NETWORK_ERROR: Final = "Network error on destination MXs"
# mta_session.c: what `mta error reason=` says (and the banner, as logged in the lab).
ATTEMPT_WORDS: Final = AttemptWords(
    timeout="mta error reason=Connection timeout",
    refused="mta error reason=IO Error: Connection refused",
    unreachable="mta error reason=IO Error: Network is unreachable",
    banner_timeout="mta error reason=Connection timeout",  # as for a SYN unanswered (the lab's tarpit)
    closed="mta error reason=Connection closed unexpectedly",
    greeting_refused="mta error reason=BANNER rejected: {line}",
    accepted="mta connected: {line}",
)
# bounce.c: the recipient and the last error. At expiry smtpd/queue.c
# (IMSG_QUEUE_EXPIRE) sets the envelope's error to "Envelope expired" in place of the last
# one, bounces it and logs `relay: Expire for ...: stat=Envelope expired`; the bounce
# reports `user@example.com: Envelope expired`. Its DSN status is not logged.
BOUNCE_WORDS: Final = BounceWords(
    now="{recipient}: {text}",
    expired="{recipient}: Envelope expired",
    expired_logged="Envelope expired",
)


class OpenSmtpd(Profile):
    name = "opensmtpd"
    title = "OpenSMTPD"
    version = "OpenSMTPD 6.8.0p2 (Debian bookworm defaults)"
    ATTEMPT_WORDS = ATTEMPT_WORDS
    BOUNCE_WORDS = BOUNCE_WORDS
    library = Library.LIBASR
    expires_in_queue = True  # the scheduler expires an envelope at creation + queue ttl
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("queue_ttl", Kind.DURATION, 4 * 86400.0, "smtpd.conf `queue ttl`: expiry",
              "usr.sbin/smtpd/smtpd.h L62, usr.sbin/smtpd/config.c L64", unit="d"),
        Param("bounce_warn_interval", Kind.DURATION, 4 * 3600.0, "first delay warning",
              "usr.sbin/smtpd/config.c L83", unit="h"),
        Param("mta_family", Kind.CHOICE, "any", "smtpd.conf `limit mta family`",
              "usr.sbin/smtpd/parse.y", choices=("any", "inet4", "inet6")),
        Param("ipv6_configured", Kind.BOOL, True,
              "the host has a non-loopback IPv6 address (getaddrinfo AI_ADDRCONFIG asks AAAA)",
              "openbsd-compat/libasr/getaddrinfo_async.c; docs/lab.md#opensmtpd-68"),
        Param("io_timeout", Kind.DURATION, IO_TIMEOUT, "connect and greeting timeout",
              "usr.sbin/smtpd/mta_session.c L553"),
        Param("search_domains", Kind.LIST, (), SEARCH_DOMAINS_DOC, SEARCH_DOMAINS_SOURCE),
        Param("session_keepalive", Kind.DURATION, KEEPALIVE,
              "smtpd.conf `mta limit session-keepalive`: an idle session waits this long for the "
              "next message to the same domain (its relay and DNS answer with it)",
              "usr.sbin/smtpd/limit.c, usr.sbin/smtpd/mta_session.c (MTA_READY)"),
        Param("session_mail_max", Kind.INT, MAIL_MAX,
              "smtpd.conf `mta limit session-mail-max`: messages one session sends",
              "usr.sbin/smtpd/limit.c, usr.sbin/smtpd/mta_session.c (MTA_READY)"),
    )

    # ---- routing: dns.c dns_dispatch_mx, mta.c mta_on_mx -------------------------
    def route(self, ctx: Context, domain: dns.name.Name) -> Step[Route]:
        answer = yield from ctx.lookup(domain, MX)
        here = name_text(domain)
        failure = self.lookup_failure(domain, answer)
        if failure is not None:
            return Route(RouteKind.FAILED, here, failure=failure)
        mxs = mx_records(answer)
        if not mxs:
            # "fallback to host if no MX is found": the ORIGINAL name, preference 0.
            targets, _none = yield from self.host_addresses(ctx, domain, 0)
            if not targets:
                return Route(RouteKind.IMPLICIT_MX, here, failure=Failure.defer("4.4.4", NO_MX))
            return Route(RouteKind.IMPLICIT_MX, here, self.order(ctx, targets))
        targets = []
        for mx in self.sort_mx(ctx, mxs):
            if mx.is_null:
                continue
            found, _none = yield from self.host_addresses(ctx, mx.exchange, mx.preference)
            targets.extend(found)
        if not targets:
            # 6.8 knows no null MX: "0 ." is a host named "" without addresses.
            kind = RouteKind.NULL_MX if any(mx.is_null for mx in mxs) else RouteKind.MX
            return Route(kind, here, failure=Failure.defer("4.4.4", NO_MX))
        return Route(RouteKind.MX, here, self.order(ctx, targets))

    def after_bounce(self, ctx: Context, host: SendingHost) -> Step[None]:
        """The bounce is a message of its own to the sender (bounce.c `bounce_add`), queued a
        second or two later (`bounce_drain` runs on a whole-second timer) and routed as any
        other: the MX of the sender's domain (the lab: `MX`, then nothing after NXDOMAIN)."""
        yield from self.route_bounce(ctx, host)

    def lookup_failure(self, domain: dns.name.Name, answer: StubAnswer) -> Failure | None:
        """dns.c dns_dispatch_mx: the resolver's error, in mta.c's words."""
        if answer.status == Herrno.HOST_NOT_FOUND:
            return Failure.bounce("5.1.2", "Domain does not exist")
        if answer.status == Herrno.TRY_AGAIN:
            return Failure.defer("4.4.3", "Temporary failure in MX lookup")
        if answer.status == Herrno.NO_RECOVERY:
            return Failure.bounce("5.1.2", "Invalid domain name")
        return None

    def sort_mx(self, ctx: Context, mxs: Iterable[Mx]) -> list[Mx]:
        """Insertion sort on preference; equal preferences keep the order DNS gave: no shuffle."""
        return sorted(mxs, key=lambda m: m.preference)

    def families(self) -> tuple[dns.rdatatype.RdataType, ...]:
        """getaddrinfo(AF_UNSPEC, AI_ADDRCONFIG): libasr asks inet6 (if the host has IPv6), then inet4."""
        family = self.settings.text("mta_family")
        families: list[dns.rdatatype.RdataType] = []
        if self.settings.flag("ipv6_configured") and family != "inet4":
            families.append(AAAA)
        if family != "inet6":
            families.append(A)
        return tuple(families)

    def host_addresses(self, ctx: Context, host: dns.name.Name, preference: int) -> Step[Addresses]:
        """getaddrinfo_async: each family in turn, no CNAME chasing of its own; when the name
        has no address, the same with each search domain appended (the lab: NAME.DOMAIN AAAA
        and A after a host with no address, docs/agreement.md)."""
        literal = ip_literal(host)
        if literal is not None:
            return [Target(name_text(host), literal, preference, name_text(host))], None
        targets: list[Target] = []
        for name in (host, *search_names(host, self.settings.items("search_domains"))):
            temporary = False
            for rdtype in self.families():
                answer = yield from ctx.lookup(name, rdtype)
                temporary = temporary or answer.status == Herrno.TRY_AGAIN
                targets.extend(Target(name_text(host), address, preference, name_text(host))
                               for address in addresses_in(answer, rdtype))
            if targets or temporary:
                break
        return targets, None

    def before_connect(self, ctx: Context, target: Target) -> Step[None]:
        """The PTR of the address, asked before connecting: the host name it logs (mta.c
        mta_connect asks getnameinfo when the host has no ptrname yet; the lab: one PTR
        question per address tried, after all address lookups)."""
        yield from reverse_lookup(ctx, target.address)

    # ---- the attempt: mta_session.c ------------------------------------------------------
    def connect_timeout(self) -> float:
        return min(self.settings.seconds("io_timeout"), KERNEL_SYN_TIMEOUT)

    def greeting_timeout(self) -> float:
        return self.settings.seconds("io_timeout")

    def failure(self, route: Route, attempts: list[Attempt]) -> Failure:
        # Each failed route is disabled and the next MX tried; none left: TempFail (mta.c L1113-1146).
        return Failure.defer(self.deferral_dsn(attempts[-1]), NETWORK_ERROR)

    # ---- what is kept for the next message: mta.c relays, mta_session.c hangon ----------
    def _relays(self, sender: SenderState) -> Relays:
        if sender.relays is None:
            sender.relays = Relays(self.settings.seconds("session_keepalive"),
                                   self.settings.integer("session_mail_max"))
        return sender.relays

    def kept(self, sender: SenderState, domain: str, now: float) -> Kept | None:
        return self._relays(sender).kept(domain, now)

    def routed(self, sender: SenderState, domain: str, route: Route, answers: tuple[StubAnswer, ...]) -> None:
        self._relays(sender).routed(domain, route, answers)

    def remember(self, sender: SenderState, delivery: Delivery) -> None:
        self._relays(sender).done(delivery.recipient.rpartition("@")[2].lower(), delivery)

    def session_seconds(self) -> float:
        # The hangon polls run whole seconds from the end of the last transaction.
        keepalive = self.settings.seconds("session_keepalive")
        return keepalive + 1.0 if keepalive > 0 else 0.0

    # ---- the queue: scheduler_ramqueue.c -----------------------------------------------
    def retry_at(self, entry: QueueEntry, delivery: Delivery, sender: SenderState) -> float:
        """creation + 400 s x n^2, n the retry count, skipping slots already past (L164-184)."""
        now = delivery.started + delivery.elapsed
        n = max(entry.attempts, 1)
        while entry.arrival + RETRY_STEP * n * n <= now:
            n += 1
        return entry.arrival + RETRY_STEP * n * n

    def warn_after(self) -> float | None:
        return self.settings.seconds("bounce_warn_interval") or None

    # ---- words ------------------------------------------------------------------------
    def expiry(self) -> float:
        return self.settings.seconds("queue_ttl")

    def queue_id(self, rng: RandomSource) -> str:
        return f"{rng.getrandbits(64):016x}"

    def log_lines(self, delivery: Delivery, queue_id: str) -> tuple[str, ...]:
        session = queue_id[:16]
        lines = []
        for attempt in delivery.attempts:
            stamp = log_time(attempt.at).strftime("%b %e %H:%M:%S")
            lines.append(f"{stamp} mxsim smtpd[4242]: {session} mta connecting "
                         f"address=smtp://{attempt.address}:25 host={attempt.address}")
            if attempt.result != AttemptResult.ACCEPTED:
                lines.append(f"{stamp} mxsim smtpd[4242]: {session} {attempt.reason}")
                # mta_route_disable: the first penalty is 15 s x 1^2 (mta.c L1335-1358).
                # The host text is the address's PTR name; the scenarios have none: the address.
                lines.append(f"{stamp} mxsim smtpd[4242]: smtp-out: Disabling route [] <-> "
                             f"{attempt.address} ({attempt.address}) for 15s")
        stamp = log_time(delivery.started + delivery.elapsed).strftime("%b %e %H:%M:%S")
        if delivery.delivered_to is not None:
            result, stat = "Ok", "250 2.0.0 Ok"
        elif delivery.outcome == Outcome.DEFERRED:
            result, stat = "TempFail", delivery.reason
        else:
            result, stat = "PermFail", delivery.reason
        if not delivery.attempts and delivery.delivered_to is None:
            lines.append(f"{stamp} mxsim smtpd[4242]: smtp-out: Failed to resolve MX for "
                         f"[relay:{delivery.route.domain},smtp]: {delivery.reason}")
        # A delivery names the host it used, as "ADDRESS (PTR name, else ADDRESS)"; a relay
        # that never connected is named by its domain (both seen in the lab: docs/agreement.md).
        target = delivery.delivered_to
        relay = f"{target.address} ({target.address})" if target is not None else delivery.route.domain
        lines.append(
            f'{stamp} mxsim smtpd[4242]: {session} mta delivery evpid={queue_id} '
            f'from=<postmaster@mxsim.invalid> to=<{delivery.envelope_recipient}> rcpt=<-> '
            f'source="127.0.0.1" relay="{relay}" delay={round(delivery.elapsed)}s '
            f'result="{result}" stat="{stat}"')
        return tuple(lines)
