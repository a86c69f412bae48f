"""Plain RFC 5321 §5.1 (and RFC 7505), with no MTA's quirks: the yardstick the real MTAs are read against."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import ClassVar, Final

import dns.name

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
    by_preference,
    enhanced_code,
    log_time,
    mx_records,
    name_text,
    reply_text,
)
from mxsim.mta.queue import QueueEntry, SenderState
from mxsim.mta.results import (
    Attempt,
    AttemptResult,
    Delivery,
    Failure,
    Route,
    RouteKind,
    Target,
    TlsRequirement,
)
from mxsim.mta.sts import CacheRule, current_policy, enforced
from mxsim.mta.stub import Herrno, StubAnswer
from mxsim.names import ip_literal
from mxsim.scenario.mta_sts import StsMode
from mxsim.transport.base import Step


def rfc8461_route(ctx: Context, domain: dns.name.Name, route: Route, timeout: float) -> Step[Route]:
    """RFC 8461 section 5: hosts that fail an enforce policy are skipped; none left defers.

    Kept hosts must then offer TLS with a certificate for their name (section 4.2); in
    testing mode every host is tried and failures are only reported.
    """
    cache = ctx.policies()
    found = yield from current_policy(ctx.lookup, domain, cache, ctx.stub.now, CacheRule.RFC8461, timeout=timeout)
    route = replace(route, policy_fetches=found.fetches)
    policy = found.policy
    if policy is None or policy.mode == StsMode.NONE:
        return route
    strict = enforced(policy)
    matching = [t for t in route.targets if policy.allows(t.mx)]
    notes = [f"MTA-STS {policy.mode}: MX host {t.mx} does not match the policy of {route.domain}"
             for t in route.targets if not policy.allows(t.mx)]
    kept = matching if strict else list(route.targets)
    route = replace(route, notes=(*route.notes, *dict.fromkeys(notes)))
    if not kept:
        hosts = ", ".join(dict.fromkeys(t.mx for t in route.targets))
        return replace(route, targets=(), failure=Failure.defer(
            "4.7.5", f"MTA-STS policy of {route.domain} (enforce) allows none of its MX hosts: {hosts}"))
    return replace(route, targets=tuple(
        replace(t, tls=TlsRequirement(policy.mx, enforce=strict, host=t.mx)) for t in kept))

_WHERE: Final = "{host}[{address}]"
ATTEMPT_WORDS: Final = AttemptWords(
    timeout=f"connect to {_WHERE}:25: Connection timed out",
    refused=f"connect to {_WHERE}:25: Connection refused",
    unreachable=f"connect to {_WHERE}:25: No route to host",
    banner_timeout=f"{_WHERE}: timeout waiting for the greeting",
    closed=f"{_WHERE}: connection closed before the greeting",
    greeting_refused=f"{_WHERE}: greeting {{line}}",
    accepted=f"{_WHERE}: {{line}}",
)
BOUNCE_WORDS: Final = BounceWords(
    now="<{recipient}>: delivery failed: {dsn} {text}",
    expired="<{recipient}>: delivery failed after {lifetime} in the queue: {dsn} {text}",
)


class Rfc5321(Profile):
    name = "rfc5321"
    title = "RFC 5321"
    version = "RFC 5321 (2008), RFC 7505 (2015)"
    ATTEMPT_WORDS = ATTEMPT_WORDS
    BOUNCE_WORDS = BOUNCE_WORDS
    PARAMS: ClassVar[tuple[Param, ...]] = (
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
        Param("mta_sts", Kind.CHOICE, "off", "MTA-STS: enforce applies RFC 8461 policies; off ignores them",
              "RFC 8461 §5 (docs/mta-behaviour.md#mta-sts)", choices=("off", "enforce")),
        Param("mta_sts_fetch_timeout", Kind.DURATION, 60.0, "wait for the HTTPS policy fetch",
              "RFC 8461 §3.3: SHOULD use a timeout; 60 s here"),
    )

    # ---- routing: RFC 5321 §5.1, then RFC 8461 when MTA-STS is on -------------------------
    def route(self, ctx: Context, domain: dns.name.Name) -> Step[Route]:
        route = yield from self._route(ctx, domain)
        if self.settings.text("mta_sts") == "off" or route.failure is not None or not route.targets:
            return route
        return (yield from rfc8461_route(ctx, domain, route, self.settings.seconds("mta_sts_fetch_timeout")))

    def _route(self, ctx: Context, domain: dns.name.Name) -> Step[Route]:
        """MX first; a CNAME's target is processed as the initial name."""
        answer = yield from ctx.lookup(domain, MX)
        failure = self.lookup_failure(domain, answer)
        if failure is not None:
            return Route(RouteKind.FAILED, name_text(domain), failure=failure)
        cnames = answer.cnames()
        canonical = cnames[-1][1] if cnames else domain
        mxs = mx_records(answer)
        if len(mxs) == 1 and mxs[0].is_null:
            return Route(RouteKind.NULL_MX, name_text(domain), failure=Failure.bounce(
                "5.1.10", f"556 5.1.10 Recipient address rejected: {name_text(domain)} "
                "does not accept mail (null MX, RFC 7505)"))
        mxs = [mx for mx in mxs if not mx.is_null]
        if not mxs:
            targets, _why = yield from self.host_addresses(ctx, canonical, 0)
            if not targets:
                return Route(RouteKind.IMPLICIT_MX, name_text(canonical), failure=Failure.bounce(
                    "5.4.4", f"no MX and no address records for {name_text(canonical)}"))
            return Route(RouteKind.IMPLICIT_MX, name_text(canonical), self.order(ctx, targets))
        targets = []
        for mx in self.sort_mx(ctx, mxs):
            found, _why = yield from self.host_addresses(ctx, mx.exchange, mx.preference)
            targets.extend(found)
        if not targets:
            return Route(RouteKind.MX, name_text(domain), failure=Failure.bounce(
                "5.4.4", f"no MX host for {name_text(domain)} has an address"))
        return Route(RouteKind.MX, name_text(domain), self.order(ctx, targets))

    def lookup_failure(self, domain: dns.name.Name, answer: StubAnswer) -> Failure | None:
        if answer.status == Herrno.TRY_AGAIN:
            return Failure.defer("4.4.3", f"DNS lookup of {name_text(domain)} MX failed temporarily")
        if answer.status in (Herrno.HOST_NOT_FOUND, Herrno.NO_RECOVERY):
            return Failure.bounce("5.1.2", f"{name_text(domain)}: no such domain")
        return None

    def sort_mx(self, ctx: Context, mxs: Iterable[Mx]) -> list[Mx]:
        """By preference, equal preferences in random order."""
        return by_preference(ctx, mxs)

    def families(self) -> tuple[dns.rdatatype.RdataType, ...]:
        protocols = self.settings.text("inet_protocols")
        return {"ipv4": (A,), "ipv6": (AAAA,)}.get(protocols, (A, AAAA))

    def host_addresses(self, ctx: Context, host: dns.name.Name, preference: int) -> Step[Addresses]:
        literal = ip_literal(host)
        if literal is not None:
            return [Target(name_text(host), literal, preference, name_text(host))], None
        targets: list[Target] = []
        for rdtype in self.families():
            _first, answer = yield from ctx.follow(host, rdtype, 1)
            targets.extend(
                Target(name_text(host), address, preference, name_text(host))
                for address in addresses_in(answer, rdtype)
            )
        return targets, None

    def order(self, ctx: Context, targets: list[Target]) -> tuple[Target, ...]:
        limit = self.settings.integer("address_limit")
        return tuple(targets[:limit] if limit else targets)

    # ---- the attempt -------------------------------------------------------------------
    def connect_timeout(self) -> float:
        return min(self.settings.seconds("connect_timeout"), KERNEL_SYN_TIMEOUT)

    def greeting_timeout(self) -> float:
        return self.settings.seconds("greeting_timeout")

    def deferral_dsn(self, attempt: Attempt) -> str:
        return "4.7.5" if attempt.result == AttemptResult.TLS_FAILED else super().deferral_dsn(attempt)

    def failure(self, route: Route, attempts: list[Attempt]) -> Failure:
        """A 5xx greeting everywhere bounces, anything else defers."""
        last = attempts[-1]
        if all(a.result == AttemptResult.REJECTED for a in attempts):
            return Failure.bounce(enhanced_code(reply_text(last), 5) or "5.0.0", last.reason)
        return Failure.defer(self.deferral_dsn(last), last.reason)

    # ---- the queue: RFC 5321 §4.5.4.1 --------------------------------------------------
    def retry_at(self, entry: QueueEntry, delivery: Delivery, sender: SenderState) -> float:
        return delivery.started + delivery.elapsed + self.settings.seconds("retry_interval")

    def warn_after(self) -> float | None:
        return None

    def expiry(self) -> float:
        return self.settings.seconds("give_up_time")

    # ---- words -------------------------------------------------------------------------
    def log_lines(self, delivery: Delivery, queue_id: str) -> tuple[str, ...]:
        stamp = log_time(delivery.started + delivery.elapsed).strftime("%Y-%m-%dT%H:%M:%SZ")
        lines = [f"{stamp} {a.reason}" for a in delivery.attempts if a.result != AttemptResult.ACCEPTED]
        lines.append(f"{stamp} {queue_id}: to=<{delivery.envelope_recipient}> "
                     f"outcome={delivery.outcome} dsn={delivery.dsn} ({delivery.reason})")
        return tuple(lines)
