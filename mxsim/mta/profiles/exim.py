"""Exim 4.96 (Debian bookworm), with its own option names (docs/mta-behaviour.md#exim)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import ClassVar, Final

import dns.name

from mxsim import names
from mxsim.mta.draws import below, choice, exim_address_order, exim_mx_order
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
from mxsim.mta.queue import HostRecord, QueueEntry, SenderState, next_tick, parse_retry_rules, retry_interval
from mxsim.mta.results import Attempt, AttemptResult, Delivery, Failure, Outcome, Route, RouteKind, Target
from mxsim.mta.stub import Herrno, StubAnswer
from mxsim.names import ip_literal
from mxsim.transport.base import Step
from mxsim.transport.streams import RandomSource

MAX_REROUTES: Final = 5  # a guard; Exim itself stops when the name no longer changes
# Debian's ROUTER_DNSLOOKUP_IGNORE_TARGET_HOSTS, from the exim4 router file 200_exim4-config_primary
# (docs/mta-behaviour.md#exim-ip-literal-mx-and-loops).
DEBIAN_IGNORE_TARGET_HOSTS: Final = (
    "0.0.0.0", "127.0.0.0/8", "192.168.0.0/16", "172.16.0.0/12", "10.0.0.0/8", "169.254.0.0/16",
    "255.255.255.255", "::/128", "::1/128", "fc00::/7", "fe80::/10", "100::/64",
)
UNROUTEABLE: Final = "Unrouteable address"
NO_SMTP_SERVICE: Final = "an MX or SRV record indicated no SMTP service"
NON_EXISTENT: Final = "all relevant MX records point to non-existent hosts"
IP_MX: Final = "all relevant MX records point to non-existent hosts or (invalidly) to IP addresses"
LOOKUP_DEFERRED: Final = "host lookup did not complete"
_WHERE: Final = "H={host} [{address}]"
# transports/smtp.c: the connect errors, then "... after initial connection".
ATTEMPT_WORDS: Final = AttemptWords(
    timeout=f"{_WHERE} Connection timed out",
    refused=f"{_WHERE} Connection refused",
    unreachable=f"{_WHERE} Network is unreachable",
    banner_timeout=f"{_WHERE}: SMTP timeout after initial connection: Connection timed out",
    closed=f"{_WHERE}: Remote host closed connection in response to initial connection",
    greeting_refused=f"{_WHERE}: SMTP error from remote mail server after initial connection: {{line}}",
    accepted=f"{_WHERE} {{line}}",
)
# deliver.c: the address, then the reason indented. At expiry src/retry.c
# (`retry_update`) gives the address the message "retry timeout exceeded" in place of the
# host error, logged `** user@example.com: retry timeout exceeded`; the bounce names the
# address and those words, its DSN `Status: 5.0.0` (seen in the bounce Exim queued).
BOUNCE_WORDS: Final = BounceWords(
    now="{recipient}\n    {text}",
    expired="{recipient}\n    retry timeout exceeded",
    expired_logged="retry timeout exceeded",
    expired_status="5.0.0",
)


class Exim(Profile):
    name = "exim"
    title = "Exim"
    version = "Exim 4.96 (Debian bookworm defaults)"
    ATTEMPT_WORDS = ATTEMPT_WORDS
    BOUNCE_WORDS = BOUNCE_WORDS
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("dns_cname_loops", Kind.INT, 1, "CNAME hops dns_lookup follows by asking again",
              "src/src/globals.c L886"),
        Param("hosts_max_try", Kind.INT, 5, "hosts/addresses tried per delivery",
              "src/src/transports/smtp.c L185-191"),
        Param("hosts_max_try_hardlimit", Kind.INT, 50, "addresses tried per delivery, across preferences",
              "src/src/transports/smtp.c L185-191"),
        Param("connect_timeout", Kind.DURATION, 300.0, "smtp transport connect timeout",
              "src/src/transports/smtp.c L186"),
        Param("command_timeout", Kind.DURATION, 300.0, "wait for the greeting and each reply",
              "src/src/transports/smtp.c L2113"),
        Param("hosts_try_fastopen", Kind.TEXT, "*", "TCP Fast Open; a dropped SYN then shows as an SMTP timeout",
              "src/src/transports/smtp.c; docs/lab.md#exim"),
        Param("allow_mx_to_ip", Kind.BOOL, False, "accept MX records that name IP addresses",
              "src/src/globals.c L344"),
        Param("disable_ipv6", Kind.BOOL, False, "no AAAA lookups, no IPv6 connections",
              "src/src/globals.c"),
        Param("ipv4_prefer", Kind.BOOL, False, "router option: IPv4 before IPv6",
              "src/src/routers/dnslookup.c"),
        Param("ignore_target_hosts", Kind.LIST, DEBIAN_IGNORE_TARGET_HOSTS,
              "router option: addresses treated as absent (Debian's list by default)",
              "Debian exim4 router 200_exim4-config_primary: ROUTER_DNSLOOKUP_IGNORE_TARGET_HOSTS"),
        Param("retry", Kind.TEXT, "F,2h,15m; G,16h,1h,1.5; F,4d,6h", "the retry rule for every host",
              "src/src/configure.default L939"),
        Param("queue_interval", Kind.DURATION, 1800.0, "queue runner interval (Debian QUEUEINTERVAL)",
              "Debian /etc/default/exim4; not confirmed by running it"),
        Param("delay_warning", Kind.DURATION, 86400.0, "delay warning after", "src/src/globals.c L823"),
    )

    def __init__(self, overrides: dict[str, str] | None = None) -> None:
        super().__init__(overrides)
        self._ignored = [ipaddress.ip_network(n, strict=False) for n in self.settings.items("ignore_target_hosts")]
        self._rules = parse_retry_rules(self.settings.text("retry"))
        self._ignored_cache: dict[str, bool] = {}
        if self._fastopen():
            # TFO: connect() returns at once, so a dropped SYN shows as an SMTP timeout.
            self.attempt_words = ATTEMPT_WORDS._replace(timeout=ATTEMPT_WORDS.banner_timeout)

    # ---- routing: routers/dnslookup.c, host.c host_find_bydns -----------------------
    def route(self, ctx: Context, domain: dns.name.Name) -> Step[Route]:
        current = domain
        route = Route(RouteKind.FAILED, name_text(domain))
        for _ in range(MAX_REROUTES):
            route, fully_qualified = yield from self._route_once(ctx, current)
            if route.failure is not None or fully_qualified == current:
                break
            # dnslookup.c L398-417: a different "fully qualified name" re-routes the address.
            current = fully_qualified
        if current != domain:
            return Route(route.kind, route.domain, route.targets, route.failure,
                         envelope_domain=name_text(current), notes=route.notes)
        return route

    def after_bounce(self, ctx: Context, host: SendingHost) -> Step[None]:
        """The bounce goes to the sender's domain at once: it is a new message, handed to a
        new Exim process that routes it as any other (src/exim/deliver.c, child_open_exim;
        the lab: its MX, and after NXDOMAIN nothing more, as for the recipient's domain;
        docs/agreement.md)."""
        yield from self.route_bounce(ctx, host)

    def lookup_failure(self, domain: dns.name.Name, answer: StubAnswer) -> Failure | None:
        """dnslookup.c: HOST_FIND_FAILED is "Unrouteable address", HOST_FIND_AGAIN defers."""
        if answer.status == Herrno.HOST_NOT_FOUND:
            return Failure.bounce("5.0.0", UNROUTEABLE)
        if answer.status in (Herrno.TRY_AGAIN, Herrno.NO_RECOVERY):
            return Failure.defer("4.0.0", LOOKUP_DEFERRED)
        return None

    def _ask(self, ctx: Context, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> Step[StubAnswer]:
        """dns.c dns_basic_lookup: failures (NXDOMAIN, NODATA) are remembered per process
        (dns_fail_return), so a second routing in the same delivery does not ask them
        again; positive answers are asked again (confirmed against unbound's log:
        docs/agreement.md, the re-route of the 2017 broken case)."""
        slot = (names.key(name), rdtype)
        remembered = ctx.negative.get(slot)
        if remembered is not None:
            return remembered
        answer = yield from ctx.lookup(name, rdtype)
        if answer.status in (Herrno.NO_DATA, Herrno.HOST_NOT_FOUND):
            ctx.negative[slot] = answer
        return answer

    def _lookup(self, ctx: Context, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> Step[
            tuple[StubAnswer, StubAnswer, dns.name.Name]]:
        """dns.c dns_lookup: CNAME-only answers are followed dns_cname_loops times; the
        first answer names the "fully qualified name"."""
        first = answer = yield from self._ask(ctx, name, rdtype)
        for _ in range(self.settings.integer("dns_cname_loops")):
            cnames = answer.cnames()
            if answer.status != Herrno.SUCCESS or answer.records(rdtype) or not cnames:
                break
            answer = yield from self._ask(ctx, cnames[-1][1], rdtype)
        cnames = first.cnames()
        data = first.records(rdtype)
        fully_qualified = cnames[-1][0] if cnames else data[0].name if data else name
        return first, answer, fully_qualified

    def _route_once(self, ctx: Context, domain: dns.name.Name) -> Step[tuple[Route, dns.name.Name]]:
        _first, answer, fully_qualified = yield from self._lookup(ctx, domain, MX)
        here = name_text(domain)
        failure = self.lookup_failure(domain, answer)
        if failure is not None:
            return Route(RouteKind.FAILED, here, failure=failure), domain
        mxs = mx_records(answer)
        if answer.status == Herrno.SUCCESS and not mxs:
            note = f"CNAME loop for {here} encountered"
            return Route(RouteKind.FAILED, here, failure=Failure.defer("4.0.0", LOOKUP_DEFERRED),
                         notes=(note,)), domain
        if answer.status == Herrno.NO_DATA:
            targets, failure = yield from self.host_addresses(ctx, domain, 0)
            if not targets:
                return Route(RouteKind.IMPLICIT_MX, here, failure=failure or Failure.bounce("5.0.0", UNROUTEABLE)), \
                    fully_qualified
            return Route(RouteKind.IMPLICIT_MX, here, self.order(ctx, targets)), fully_qualified
        return (yield from self._mx_route(ctx, domain, mxs)), fully_qualified

    def _mx_route(self, ctx: Context, domain: dns.name.Name, mxs: list[Mx]) -> Step[Route]:
        here = name_text(domain)
        ordered = self.sort_mx(ctx, mxs)
        first_is_null = bool(ordered) and ordered[0].is_null
        targets: list[Target] = []
        soft = False
        saw_ip = False
        for mx in ordered:
            if mx.is_null:
                continue
            if ip_literal(mx.exchange) is not None and not self.settings.flag("allow_mx_to_ip"):
                saw_ip = True  # dns_basic_lookup refuses to look up an IP address as a name
                continue
            found, failure = yield from self.host_addresses(ctx, mx.exchange, mx.preference)
            targets.extend(found)
            soft = soft or failure is not None
        if targets:
            return Route(RouteKind.MX, here, self.order(ctx, targets))
        if first_is_null:
            return Route(RouteKind.NULL_MX, here, failure=Failure.bounce("5.0.0", NO_SMTP_SERVICE))
        if soft:
            return Route(RouteKind.MX, here, failure=Failure.defer("4.0.0", LOOKUP_DEFERRED))
        words = IP_MX if saw_ip else NON_EXISTENT
        return Route(RouteKind.MX, here, failure=Failure.bounce("5.0.0", words))

    def sort_mx(self, ctx: Context, mxs: Iterable[Mx]) -> list[Mx]:
        """Random order among equal preferences; duplicates keep their lowest preference
        (host.c L2785-2916)."""
        records = list(mxs)
        ordered: list[Mx] = []
        seen: set[names.NameKey] = set()  # exchanges compared as DNS names: case-insensitively
        for index in ctx.decide(exim_mx_order, tuple(mx.preference for mx in records)):
            mx = records[index]
            exchange = names.key(mx.exchange)
            if exchange not in seen:
                seen.add(exchange)
                ordered.append(mx)
        return ordered

    def families(self) -> tuple[dns.rdatatype.RdataType, ...]:
        return (A,) if self.settings.flag("disable_ipv6") else (AAAA, A)

    def host_addresses(self, ctx: Context, host: dns.name.Name, preference: int) -> Step[Addresses]:
        """host.c set_address_from_dns: AAAA then A; the host takes its canonical name.
        No address because a lookup failed softly defers the routing."""
        literal = ip_literal(host)
        if literal is not None:
            return [Target(name_text(host), literal, preference, name_text(host))], None
        found: list[tuple[str, str]] = []
        soft = False
        canonical = name_text(host)
        for rdtype in self.families():
            _first, answer, _fqn = yield from self._lookup(ctx, host, rdtype)
            records = answer.records(rdtype)
            if records and not found:
                canonical = name_text(records[0].name)  # host.c L2430-2433
            found.extend((address, "v6" if rdtype == AAAA else "v4") for address in addresses_in(answer, rdtype))
            if answer.status == Herrno.TRY_AGAIN:
                soft = True
        usable = [(address, family) for address, family in found if not self._ignored_address(address)]
        # Random order per host, A records +500: IPv6 first unless ipv4_prefer (L2435-2460).
        prefer_v4 = self.settings.flag("ipv4_prefer")
        order = ctx.decide(exim_address_order, tuple((family == "v4") != prefer_v4 for _address, family in usable))
        targets = [Target(canonical, usable[index][0], preference, name_text(host)) for index in order]
        return targets, Failure.defer("4.0.0", LOOKUP_DEFERRED) if soft and not found else None

    def _ignored_address(self, address: str) -> bool:
        known = self._ignored_cache.get(address)
        if known is None:
            ip = ipaddress.ip_address(address)
            known = self._ignored_cache[address] = any(ip.version == net.version and ip in net
                                                       for net in self._ignored)
        return known

    def order(self, ctx: Context, targets: list[Target]) -> tuple[Target, ...]:
        """IPv6 ahead of IPv4 within each MX preference (host.c L3104-3140), unless
        ipv4_prefer. Then hosts_max_try stops the hosts of one MX preference; a worse
        preference still gets tried, up to hosts_max_try_hardlimit (transports/smtp.c; the
        address-limit scenario run against Exim 4.96: five of seven refusing hosts, then
        the backup)."""
        if not self.settings.flag("ipv4_prefer"):
            targets = sorted(targets, key=lambda t: (t.preference, ":" not in t.address))
        limit = self.settings.integer("hosts_max_try")
        hard = self.settings.integer("hosts_max_try_hardlimit")
        if limit <= 0:
            return tuple(targets)
        chosen: list[Target] = []
        for target in targets:
            if len(chosen) < limit or (len(chosen) < hard and target.preference > chosen[-1].preference):
                chosen.append(target)
        return tuple(chosen)

    # ---- the attempt: transports/smtp.c ---------------------------------------------
    def connect_timeout(self) -> float:
        if self._fastopen():
            return KERNEL_SYN_TIMEOUT  # TFO: connect() returns at once; the SYN retries decide
        return min(self.settings.seconds("connect_timeout"), KERNEL_SYN_TIMEOUT)

    def greeting_timeout(self) -> float:
        return self.settings.seconds("command_timeout")

    def _fastopen(self) -> bool:
        return self.settings.text("hosts_try_fastopen").strip() not in ("", ":")

    def failure(self, route: Route, attempts: list[Attempt]) -> Failure:
        last = attempts[-1]
        reason = last.reason.split(": ", 1)[1] if ": " in last.reason else last.reason.split("] ", 1)[-1]
        if all(a.result == AttemptResult.REJECTED for a in attempts):
            return Failure.bounce(enhanced_code(reply_text(last), 5) or "5.0.0", reason)
        return Failure.defer("4.0.0", reason)

    # ---- the queue: retry.c, the retry database, queue runners ------------------------
    def retry_at(self, entry: QueueEntry, delivery: Delivery, sender: SenderState) -> float:
        """The next queue run. Each run routes the message again (fresh DNS); host retry
        records only decide which hosts are skipped ("retry time not reached"), so they
        gate connections, not the message (retry.c, deliver.c)."""
        now = delivery.started + delivery.elapsed
        return next_tick(now + 1e-6, self.settings.seconds("queue_interval"))

    def warn_after(self) -> float | None:
        return self.settings.seconds("delay_warning") or None

    def all_blocked(self, route: Route, sender: SenderState) -> Failure:
        return Failure.defer("4.0.0", f"retry time not reached for any host for '{route.domain}'")

    def remember(self, sender: SenderState, delivery: Delivery) -> None:
        for attempt in delivery.attempts:
            now = attempt.at + attempt.elapsed
            if attempt.result == AttemptResult.ACCEPTED:
                sender.hosts.pop(attempt.address, None)
                continue
            record = sender.hosts.get(attempt.address)
            first = record.first_failure if record else now
            last = record.last_interval if record else 0.0
            interval = retry_interval(self._rules, now - first, last)
            if interval is None:  # past the final cutoff: may be tried at every queue run
                interval = self.settings.seconds("queue_interval")
            sender.hosts[attempt.address] = HostRecord(first, now + interval, interval, attempt.reason)

    # ---- words ------------------------------------------------------------------------
    def expiry(self) -> float:
        return max(rule.cutoff for rule in self._rules)  # "retry timeout exceeded" after the last cutoff

    def queue_id(self, rng: RandomSource) -> str:
        alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        head = "".join(choice(rng, alphabet) for _ in range(6))
        tail = "".join(choice(rng, alphabet) for _ in range(2))
        return f"{head}-{below(rng, 1_000_000):06d}-{tail}"

    def log_lines(self, delivery: Delivery, queue_id: str) -> tuple[str, ...]:
        """mainlog lines (deliver.c, transports/smtp.c write_logs)."""
        lines: list[str] = []
        for attempt in delivery.attempts:
            stamp = log_time(attempt.at + attempt.elapsed).strftime("%Y-%m-%d %H:%M:%S")
            if attempt.result != AttemptResult.ACCEPTED:
                lines.append(f"{stamp} {queue_id} {attempt.reason}")
        stamp = log_time(delivery.started + delivery.elapsed).strftime("%Y-%m-%d %H:%M:%S")
        address = delivery.envelope_recipient
        parent = f" <{delivery.recipient}>" if address != delivery.recipient else ""
        for note in delivery.route.notes:
            lines.append(f"{stamp} {note}")
        if delivery.delivered_to is not None:
            target = delivery.delivered_to
            greeting = delivery.attempts[-1].reply or ""
            lines.append(f'{stamp} {queue_id} => {address}{parent} R=dnslookup T=remote_smtp '
                         f'H={target.host} [{target.address}] C="250 OK" ({greeting})')
        elif delivery.outcome == Outcome.DEFERRED:
            code = _errno(delivery.attempts[-1].result) if delivery.attempts else "-1"
            router = "R=dnslookup T=remote_smtp" if delivery.attempts else "R=dnslookup"
            lines.append(f"{stamp} {queue_id} == {address}{parent} {router} defer ({code}): {delivery.reason}")
        else:
            lines.append(f"{stamp} {queue_id} ** {address}{parent}: {delivery.reason}")
        return tuple(lines)


def _errno(result: AttemptResult) -> str:
    # Linux errno for connect failures; Exim's own negative codes are not modelled.
    return {AttemptResult.TIMEOUT: "110", AttemptResult.REFUSED: "111",
            AttemptResult.UNREACHABLE: "101"}.get(result, "-1")
