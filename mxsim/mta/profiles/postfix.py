"""Postfix 3.7 (Debian bookworm), with its own parameter names (docs/mta-behaviour.md#postfix)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import replace
from typing import ClassVar, Final

import dns.name

from mxsim.mta.draws import shuffled_by_preference
from mxsim.mta.host_questions import SendingHost
from mxsim.mta.params import Kind, Param
from mxsim.mta.profiles.base import (
    AAAA,
    KERNEL_SYN_TIMEOUT,
    MX,
    A,
    Addresses,
    AttemptWords,
    BounceWords,
    Context,
    Mx,
    Profile,
    addresses_in,
    enhanced_code,
    log_time,
    mx_records,
    name_text,
    reply_text,
)
from mxsim.mta.queue import QueueEntry, SenderState, next_tick
from mxsim.mta.results import Attempt, AttemptResult, Delivery, Failure, Outcome, Route, RouteKind, Target
from mxsim.mta.stub import Herrno, StubAnswer
from mxsim.names import ip_literal
from mxsim.transport.base import Step

MAX_CNAME_QUERIES: Final = 10  # dns_lookup.c dns_lookup_x: for (count = 0; count < 10; ...)
# dns_strerror(): the words Postfix puts after "Name service error for name=... type=...:"
HERRNO_TEXT: Final = {
    Herrno.HOST_NOT_FOUND: "Host not found",
    Herrno.TRY_AGAIN: "Host not found, try again",
    Herrno.NO_RECOVERY: "Non-recoverable error",
    Herrno.NO_DATA: "Host found but no data record of requested type",
}
_WHERE: Final = "{host}[{address}]"
# smtp_connect.c smtp_connect_addr, smtp_proto.c smtp_helo, smtp_trouble.c.
ATTEMPT_WORDS: Final = AttemptWords(
    timeout=f"connect to {_WHERE}:25: Connection timed out",
    refused=f"connect to {_WHERE}:25: Connection refused",
    unreachable=f"connect to {_WHERE}:25: No route to host",
    banner_timeout=f"conversation with {_WHERE} timed out while receiving the initial server greeting",
    closed=f"lost connection with {_WHERE} while receiving the initial server greeting",
    greeting_refused=f"host {_WHERE} refused to talk to me: {{line}}",
    accepted=f"{_WHERE}: {{line}}",
)
# bounce_notify_util.c: the recipient, the reason, the status; at expiry the deferral's
# code in class 5 (qmgr_active.c: "message expired").
BOUNCE_WORDS: Final = BounceWords(
    now="<{recipient}>: {text} (Status: {dsn})",
    expired="<{recipient}>: {text} (Status: {expired_dsn}; message expired after {lifetime} in the deferred queue: "
            "the last reason is reported)",
    # src/qmgr/qmgr_active.c: logged by the queue manager as it returns the message.
    expired_logged="status=expired, returned to sender",
    expired_status="{expired_dsn}",
)


class Postfix(Profile):
    name = "postfix"
    title = "Postfix"
    version = "Postfix 3.7 (Debian bookworm defaults)"
    ATTEMPT_WORDS = ATTEMPT_WORDS
    BOUNCE_WORDS = BOUNCE_WORDS
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("smtp_mx_address_limit", Kind.INT, 5, "addresses tried per delivery; 0: no limit",
              "src/global/mail_params.h L290"),
        Param("smtp_mx_session_limit", Kind.INT, 2, "SMTP sessions per delivery (handshake failures do not count)",
              "src/global/mail_params.h L296"),
        Param("smtp_connect_timeout", Kind.DURATION, 30.0, "TCP connect timeout",
              "src/global/mail_params.h L1072"),
        Param("smtp_helo_timeout", Kind.DURATION, 300.0, "wait for the greeting and the EHLO reply",
              "src/global/mail_params.h L1076"),
        Param("inet_protocols", Kind.CHOICE, "all", "address families: all looks up A then AAAA",
              "Debian main.cf; src/util/inet_proto.c L238-244",
              choices=("all", "ipv4", "ipv6", "ipv4, ipv6", "ipv6, ipv4")),
        Param("smtp_address_preference", Kind.CHOICE, "any", "family preference among addresses",
              "src/global/mail_params.h L3588", choices=("any", "ipv4", "ipv6")),
        Param("smtp_randomize_addresses", Kind.BOOL, True, "shuffle addresses of equal preference",
              "src/global/mail_params.h L1182"),
        Param("smtp_skip_5xx_greeting", Kind.BOOL, True, "a 5xx greeting moves on to the next MX",
              "src/smtp/smtp_proto.c L366-376"),
        Param("ignore_mx_lookup_error", Kind.BOOL, False, "fall back to A/AAAA after an MX lookup error",
              "src/global/mail_params.h L1132"),
        Param("smtp_cname_overrides_servername", Kind.BOOL, False,
              "log the CNAME target instead of the name looked up", "src/global/mail_params.h L3321"),
        Param("minimal_backoff_time", Kind.DURATION, 300.0, "least wait before a retry",
              "src/global/mail_params.h L770-782"),
        Param("maximal_backoff_time", Kind.DURATION, 4000.0, "longest wait before a retry",
              "src/global/mail_params.h L770-782"),
        Param("queue_run_delay", Kind.DURATION, 300.0, "deferred queue scan interval",
              "src/global/mail_params.h L770-782"),
        Param("maximal_queue_lifetime", Kind.DURATION, 5 * 86400.0, "bounce after this long in the queue",
              "src/global/mail_params.h L780-789", unit="d"),
        Param("bounce_queue_lifetime", Kind.DURATION, 5 * 86400.0, "lifetime of bounces",
              "src/global/mail_params.h", unit="d"),
        Param("delay_warning_time", Kind.DURATION, 0.0, "delay warning after; 0: never",
              "src/global/mail_params.h L792-793", unit="h"),
        Param("default_destination_concurrency_failed_cohort_limit", Kind.INT, 1,
              "failed sessions in a row that mark a destination dead; 0: never",
              "src/qmgr/qmgr_queue.c (qmgr_queue_throttle); docs/lab.md#running-many-messages-through-real-unbound"),
    )

    # ---- routing: smtp_addr.c smtp_domain_addr -------------------------------------------
    def route(self, ctx: Context, domain: dns.name.Name) -> Step[Route]:
        answer, _loop = yield from self._lookup(ctx, domain, MX)
        mxs = mx_records(answer)
        failure = self.lookup_failure(domain, answer)
        if failure is not None:
            return Route(RouteKind.FAILED, name_text(domain), failure=failure)
        if answer.status == Herrno.SUCCESS and mxs:
            if any(mx.is_null for mx in mxs):
                # dns_get_answer: any empty exchange aborts the whole answer (DNS_NULLMX).
                return Route(RouteKind.NULL_MX, name_text(domain), failure=Failure.bounce(
                    "5.1.0", f"Domain {name_text(domain)} does not accept mail (nullMX)"))
            return (yield from self._mx_route(ctx, domain, mxs))
        # DNS_NOTFOUND (NXDOMAIN, NODATA, CNAME loop): implicit MX on the ORIGINAL name.
        targets, failure = yield from self.host_addresses(ctx, domain, 0)
        if not targets:
            assert failure is not None
            return Route(RouteKind.IMPLICIT_MX, name_text(domain), failure=failure, notes=tuple(ctx.notes))
        return self._find_self(ctx, Route(RouteKind.IMPLICIT_MX, name_text(domain), notes=tuple(ctx.notes)),
                               targets, 0)

    def after_bounce(self, ctx: Context, host: SendingHost) -> Step[None]:
        """The bounce goes to the sender's domain at once: the bounce daemon hands it to
        cleanup and the queue manager, and smtp routes it as any other message (the lab:
        MX, then A and AAAA after NXDOMAIN, as for the recipient's domain; docs/agreement.md)."""
        yield from self.route_bounce(ctx, host)

    def lookup_failure(self, domain: dns.name.Name, answer: StubAnswer) -> Failure | None:
        """A soft or malformed MX answer stops routing; NXDOMAIN and NODATA go on to the
        implicit MX (smtp_addr.c smtp_domain_addr)."""
        if answer.status in (Herrno.TRY_AGAIN, Herrno.NO_RECOVERY) and not self.settings.flag("ignore_mx_lookup_error"):
            return self._name_service_error(domain, answer, "MX")
        return None

    def _lookup(
        self, ctx: Context, name: dns.name.Name, rdtype: dns.rdatatype.RdataType
    ) -> Step[tuple[StubAnswer, str | None]]:
        """dns_lookup_x: follow CNAME-only answers; after ten, a "Name server loop" (DNS_NOTFOUND)."""
        _first, answer = yield from ctx.follow(name, rdtype, MAX_CNAME_QUERIES)
        cnames = answer.cnames()
        if answer.status == Herrno.SUCCESS and not answer.records(rdtype) and cnames:
            looped = name_text(cnames[-1][1])
            ctx.notes.append(f"warning: dns_lookup: Name server loop for {looped}")
            return _no_data(answer), f"Name server loop for {looped}"
        return answer, None

    def _name_service_error(self, name: dns.name.Name, answer: StubAnswer, rdtype: str) -> Failure:
        status = answer.status
        words = (f"Host or domain name not found. Name service error for "
                 f"name={name_text(name)} type={rdtype}: {HERRNO_TEXT.get(status, 'Host not found')}")
        if status == Herrno.TRY_AGAIN:
            return Failure.defer("4.4.3", words)
        if status == Herrno.NO_RECOVERY:
            return Failure.bounce("5.4.3", words)
        return Failure.bounce("5.4.4", words)

    def _mx_route(self, ctx: Context, domain: dns.name.Name, mxs: list[Mx]) -> Step[Route]:
        targets: list[Target] = []
        last_failure: Failure | None = None
        soft = False
        for mx in self.sort_mx(ctx, mxs):
            if ip_literal(mx.exchange) is not None:
                ctx.notes.append(f"warning: numeric domain name in resource data of MX record for "
                                 f"{name_text(domain)}: {name_text(mx.exchange)}")
            found, failure = yield from self.host_addresses(ctx, mx.exchange, mx.preference)
            targets.extend(found)
            if not found and failure is not None:
                last_failure = failure
                soft = soft or failure.temporary
        if not targets:
            assert last_failure is not None
            # smtp_addr.c L597-608: hard unless some lookup failed softly.
            failure = Failure(temporary=soft, dsn="4.4.3" if soft else last_failure.dsn, text=last_failure.text)
            ctx.notes.append(f"warning: no MX host for {name_text(domain)} has a valid address record")
            return Route(RouteKind.MX, name_text(domain), failure=failure, notes=tuple(ctx.notes))
        best = min(mx.preference for mx in mxs)
        return self._find_self(ctx, Route(RouteKind.MX, name_text(domain), notes=tuple(ctx.notes)), targets, best)

    def sort_mx(self, ctx: Context, mxs: Iterable[Mx]) -> list[Mx]:
        """By preference only: the addresses are shuffled later (order)."""
        return sorted(mxs, key=lambda m: m.preference)

    def families(self) -> tuple[dns.rdatatype.RdataType, ...]:
        protocols = self.settings.text("inet_protocols").replace(" ", "")
        return {"ipv4": (A,), "ipv6": (AAAA,)}.get(protocols, (A, AAAA))

    def host_addresses(self, ctx: Context, host: dns.name.Name, preference: int) -> Step[Addresses]:
        """smtp_host_addr / smtp_addr_one: every family in turn; the last error is kept."""
        literal = ip_literal(host)
        if literal is not None:
            # valid_rr_name warns "numeric domain name in resource data of MX record" and
            # smtp_addr_one converts it directly (dns_lookup.c L699-727).
            return [Target(name_text(host), literal, preference, name_text(host))], None
        targets: list[Target] = []
        failure: Failure | None = None
        for rdtype in self.families():
            answer, loop = yield from self._lookup(ctx, host, rdtype)
            found = addresses_in(answer, rdtype)
            shown = self._logged_name(name_text(host), answer, rdtype)
            targets.extend(Target(shown, address, preference, name_text(host)) for address in found)
            if loop is not None and not found:
                failure = Failure.bounce("5.4.4", loop)
            elif not found:
                # dns_lookup_rv keeps the last result when statuses tie: AAAA's words win.
                status_answer = answer if answer.status != Herrno.SUCCESS else _no_data(answer)
                failure = self._name_service_error(host, status_answer, dns.rdatatype.to_text(rdtype))
        return targets, failure

    def _logged_name(self, logged: str, answer: StubAnswer, rdtype: dns.rdatatype.RdataType) -> str:
        if not self.settings.flag("smtp_cname_overrides_servername"):
            return logged
        records = answer.records(rdtype)
        return name_text(records[0].name) if records else logged

    def order(self, ctx: Context, targets: list[Target]) -> tuple[Target, ...]:
        """Shuffle all addresses, re-sort by preference, cut at smtp_mx_address_limit
        (src/smtp/smtp_addr.c; docs/mta-behaviour.md#postfix-address-limit)."""
        if self.settings.flag("smtp_randomize_addresses"):
            ordered = [targets[index] for index in ctx.decide(shuffled_by_preference,
                                                              tuple(t.preference for t in targets))]
        else:
            ordered = sorted(targets, key=lambda t: t.preference)
        preference = self.settings.text("smtp_address_preference")
        if preference != "any":
            want_v6 = preference == "ipv6"
            ordered.sort(key=lambda t: (t.preference, (":" in t.address) != want_v6))
        limit = self.settings.integer("smtp_mx_address_limit")
        return tuple(ordered[:limit] if limit > 0 else ordered)

    def _find_self(self, ctx: Context, route: Route, targets: list[Target], best: int) -> Route:
        """smtp_find_self and smtp_truncate_self, then order (src/smtp/smtp_addr.c L306-347, L613-625;
        docs/mta-behaviour.md#postfix-ip-literal-mx-and-loops).

        The loopback is one of this host's addresses (inet_interfaces = all). This host at
        the best MX preference is a loop; as a backup MX it cuts the list at its own
        preference, and if nothing is left the primary relay cannot be found.
        """
        mine = [t.preference for t in targets if ipaddress.ip_address(t.address).is_loopback]
        if mine:
            own = min(mine)
            if own <= best:
                return replace(route, failure=Failure.bounce("5.4.6", f"mail for {route.domain} loops back to myself"))
            targets = [t for t in targets if t.preference < own]
            if not targets:
                words = f"unable to find primary relay for {route.domain}"
                return replace(route, failure=Failure.defer("4.4.4", words))
        return replace(route, targets=self.order(ctx, targets))

    # ---- the attempt: smtp_connect.c, smtp_proto.c, smtp_trouble.c --------------------
    def connect_timeout(self) -> float:
        return min(self.settings.seconds("smtp_connect_timeout"), KERNEL_SYN_TIMEOUT)

    def greeting_timeout(self) -> float:
        return self.settings.seconds("smtp_helo_timeout")

    def failure(self, route: Route, attempts: list[Attempt]) -> Failure:
        last = attempts[-1]
        if last.result == AttemptResult.REJECTED and not self.settings.flag("smtp_skip_5xx_greeting"):
            return Failure.bounce(enhanced_code(reply_text(last), 5) or "5.0.0", last.reason)
        # A 5xx greeting with smtp_skip_5xx_greeting = yes is downgraded to 4xx.
        return Failure.defer(self.deferral_dsn(last), last.reason)

    def deferral_dsn(self, attempt: Attempt) -> str:
        if attempt.result in (AttemptResult.REJECTED, AttemptResult.TEMPFAIL):
            return enhanced_code(reply_text(attempt), 4) or "4.0.0"
        return super().deferral_dsn(attempt)

    # ---- the queue: qmgr_active.c, qmgr_queue.c ----------------------------------------
    def retry_at(self, entry: QueueEntry, delivery: Delivery, sender: SenderState) -> float:
        """Sleep clamp(age, minimal, maximal backoff), then wait for a deferred-queue scan."""
        now = delivery.started + delivery.elapsed
        age = now - entry.arrival
        backoff = min(max(age, self.settings.seconds("minimal_backoff_time")),
                      self.settings.seconds("maximal_backoff_time"))
        return next_tick(now + backoff, self.settings.seconds("queue_run_delay"))

    def warn_after(self) -> float | None:
        return self.settings.seconds("delay_warning_time") or None

    def suspended(self, sender: SenderState, domain: str, now: float) -> Failure | None:
        dead = sender.dead.get(domain)
        if dead is None or dead[0] <= now:
            return None
        return Failure.defer("4.4.1", f"delivery temporarily suspended: {dead[1]}")

    def remember(self, sender: SenderState, delivery: Delivery) -> None:
        domain = delivery.recipient.rpartition("@")[2].lower()
        now = delivery.started + delivery.elapsed
        if delivery.outcome == Outcome.DELIVERED:
            sender.dead.pop(domain, None)
            return
        cohort = self.settings.integer("default_destination_concurrency_failed_cohort_limit")
        site_failure = delivery.outcome == Outcome.DEFERRED and not delivery.reason.startswith("delivery temporarily")
        if cohort > 0 and site_failure:
            # The queue is throttled, then unthrottled after minimal_backoff_time.
            sender.dead[domain] = (now + self.settings.seconds("minimal_backoff_time"), delivery.reason)

    # ---- words ------------------------------------------------------------------------
    def expiry(self) -> float:
        return self.settings.seconds("maximal_queue_lifetime")

    def log_lines(self, delivery: Delivery, queue_id: str) -> tuple[str, ...]:
        """Debian syslog format; the delivery line's field order is log_adhoc.c L111-214."""
        end = delivery.started + delivery.elapsed
        stamp = log_time(end).strftime("%b %e %H:%M:%S")
        prefix = f"{stamp} mxsim postfix/smtp[4242]: "
        lines = [prefix + note for note in delivery.route.notes]
        tried = delivery.attempts
        for attempt in tried[:-1] if delivery.route.failure is None else ():
            lines.append(prefix + f"{queue_id}: {attempt.reason}" if attempt.result == AttemptResult.REJECTED
                         else prefix + attempt.reason)
        if delivery.delivered_to is not None:
            target = delivery.delivered_to
            relay = f"{target.host}[{target.address}]:25"
            status = "sent (250 2.0.0 Ok)"
        else:
            last = tried[-1] if tried else None
            relay = f"{last.host}[{last.address}]:25" if last and last.result not in (
                AttemptResult.TIMEOUT, AttemptResult.REFUSED, AttemptResult.UNREACHABLE) else "none"
            status = f"{delivery.outcome} ({delivery.reason})"
        delay = delivery.elapsed
        lines.append(prefix + f"{queue_id}: to=<{delivery.envelope_recipient}>, relay={relay}, "
                     f"delay={delay:.1f}, delays=0/0/{delay:.1f}/0, dsn={delivery.dsn}, status={status}")
        return tuple(lines)


def _no_data(answer: StubAnswer) -> StubAnswer:
    """A SUCCESS answer with nothing of the type asked (a CNAME chain to NODATA)."""
    return StubAnswer(answer.qname, answer.qtype, Herrno.NO_DATA, answer.response, answer.at, answer.resolved)
