"""Sendmail 8.17.1.9 (Debian bookworm's sendmail.mc), as docs/mta-behaviour.md#sendmail describes it.

The one rule that sets it apart: ruleset 3 canonifies the recipient's domain through
DNS (`$[ ... $]`, getcanonname), so a CNAME'd domain is rewritten to the end of its
chain in the envelope and the headers; running the real Sendmail confirmed it
(docs/mta-behaviour.md#sendmail-recipient-rewriting). Running it also corrected what
reading the source had suggested about the null-MX and host-unknown texts and the
order and count of its questions; the agreement tests hold the model to the real one
(docs/agreement.md#sendmail-81719).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import ClassVar, Final

import dns.name

from mxsim import names
from mxsim.memo import name_from_text
from mxsim.mta.draws import choice
from mxsim.mta.host_questions import SendingHost, interface_names, own_name
from mxsim.mta.params import Kind, Param
from mxsim.mta.profiles.base import (
    AAAA,
    KERNEL_SYN_TIMEOUT,
    MX,
    SEARCH_DOMAINS_DOC,
    SEARCH_DOMAINS_SOURCE,
    A,
    AttemptWords,
    BounceWords,
    Context,
    Mx,
    Profile,
    addresses_in,
    by_preference,
    log_time,
    mx_records,
    name_text,
    reverse_lookup,
    search_names,
)
from mxsim.mta.queue import QueueEntry, SenderState, next_tick
from mxsim.mta.results import Attempt, AttemptResult, Delivery, Failure, HostRef, Outcome, Route, RouteKind, Target
from mxsim.mta.stub import Herrno, StubAnswer
from mxsim.names import ip_literal
from mxsim.transport.base import Step
from mxsim.transport.streams import RandomSource
from mxsim.units import format_duration

MAXCNAMEDEPTH: Final = 10  # domain.c L64
FAMILY: Final = {AAAA: "inet6", A: "inet"}  # HostRef.family: what connect_targets looks up
NOT_CONNECTED: Final = (AttemptResult.TIMEOUT, AttemptResult.REFUSED, AttemptResult.UNREACHABLE)
# daemon.c and usersmtp.c: the connect errors (sm_errstring), the greeting as received.
ATTEMPT_WORDS: Final = AttemptWords(
    timeout="Connection timed out with {host}.",
    refused="Connection refused by {host}.",
    unreachable="Network is unreachable with {host}.",
    banner_timeout="timeout waiting for input from {host}. during client greeting",
    closed="Connection reset by {host}.",
    greeting_refused="{line}",
    accepted="{line}",
)
# savemail.c / the DSN: the address and the reason. At expiry sendmail/envelope.c
# (`dropenvelope`) logs "DSN: Cannot send message for <Timeout.queuereturn>", writes
# "Message could not be delivered for ..." into the transcript, and sets the recipient's
# status to 4.4.7; the lifetime is written by `pintvl` (sendmail/convtime.c).
BOUNCE_WORDS: Final = BounceWords(
    now="<{recipient}>... {text}",
    expired="<{recipient}>... Deferred: {text}\nMessage could not be delivered for {lifetime}\n"
            "Message will be deleted from queue",
    expired_logged="Cannot send message for {lifetime}",
    expired_status="4.4.7",
)


def interval_words(seconds: float) -> str:
    """A duration as sendmail/convtime.c `pintvl` writes it (not brief): weeks, days,
    hours, minutes, seconds, those that are not zero, joined by ", " (`5 seconds`,
    `5 days`, `1 week, 2 days`); `zero seconds` for none."""
    left = int(seconds)
    parts = []
    for unit, size in (("week", 7 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count} {unit}{'' if count == 1 else 's'}")
    return ", ".join(parts) or "zero seconds"


class Sendmail(Profile):
    name = "sendmail"
    title = "Sendmail"
    version = "Sendmail 8.17.1.9 (Debian bookworm sendmail.mc)"
    ATTEMPT_WORDS = ATTEMPT_WORDS
    BOUNCE_WORDS = BOUNCE_WORDS
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("nocanonify", Kind.BOOL, False, "FEATURE(`nocanonify'): no DNS canonicalisation of addresses",
              "cf/README; Debian debian/cf/debian/sendmail.mc.in does not set it"),
        Param("DontExpandCnames", Kind.BOOL, False, "do not replace a CNAME by its target",
              "cf/README L4169-4181"),
        Param("Timeout.iconnect", Kind.DURATION, 120.0, "connect timeout on a message's first attempt",
              "Debian debian/cf/domain/debian-mta.m4.in: confTO_ICONNECT 2m"),
        Param("Timeout.connect", Kind.DURATION, 0.0, "connect timeout; 0: the kernel's",
              "sendmail/readcf.c L5491-5494"),
        Param("Timeout.initial", Kind.DURATION, 300.0, "wait for the greeting", "sendmail/readcf.c L5494"),
        Param("Timeout.queuereturn", Kind.DURATION, 5 * 86400.0, "bounce after", "sendmail/conf.c L351", unit="d"),
        Param("Timeout.queuewarn", Kind.DURATION, 4 * 3600.0, "delay warning after", "cf/m4/cfhead.m4 L311",
              unit="h"),
        Param("QueueInterval", Kind.DURATION, 600.0, "queue run interval (Debian -q10m)",
              "Debian debian/local/sendmail.in L57", unit="m"),
        Param("Timeout.hoststatus", Kind.DURATION, 1800.0,
              "how long a failed host is skipped within one process (Debian: no HostStatusDirectory)",
              "sendmail/conf.c; sendmail/mci.c mci_get; Debian sendmail.mc undefine(confHOST_STATUS_DIRECTORY)"),
        Param("TryNullMXList", Kind.BOOL, False, "connect to the host directly when the MX list points back",
              "sendmail/domain.c"),
        Param("search_domains", Kind.LIST, (), SEARCH_DOMAINS_DOC, SEARCH_DOMAINS_SOURCE),
    )

    # ---- ruleset 3 and getmxrr: domain.c ---------------------------------------------
    def route(self, ctx: Context, domain: dns.name.Name) -> Step[Route]:
        canonical, found = domain, False
        if not self.settings.flag("nocanonify"):
            canonical, stuck, found = yield from self._canonify(ctx, domain)
            if stuck:
                # $[ $] could not finish: the address fails to parse for now and the message
                # is queued without a delivery attempt (seen in the lab: "Transient parse
                # error -- message queued for future delivery", stat=queued, dsn=4.4.3).
                return Route(RouteKind.FAILED, name_text(domain), failure=Failure.defer(
                    "4.4.3", f"{name_text(domain)}: Name server timeout"))
        rewritten = name_text(canonical) if canonical != domain else None
        route = yield from self._getmxrr(ctx, canonical, written=domain, canonical=found)
        if rewritten is not None:
            return replace(route, envelope_domain=rewritten)
        return route

    def _canonify(
        self, ctx: Context, name: dns.name.Name, *, host_map: bool = True,
    ) -> Step[tuple[dns.name.Name, bool, bool]]:
        """dns_getcanonname: the name, then the name with each search domain appended
        (sendmail/domain.c walks the search list itself). Returns the canonical name, whether
        the lookups failed temporarily throughout, and whether the name was found.

        `host_map`: ruleset 3's `$[ $]` goes through the host map, which keeps each name it
        canonified (ST_NAMECANON); getmxrr's trycanon calls getcanonname directly and asks
        again (implicit-mx-a-only and cname-to-address in the lab, docs/agreement.md)."""
        slot = names.key(name)
        if host_map and slot in ctx.canon:
            return ctx.canon[slot], False, True
        current, temporary, found = yield from self._canon_walk(ctx, name)
        if not found and current == name:
            for candidate in search_names(name, self.settings.items("search_domains")):
                other, _temporary, other_found = yield from self._canon_walk(ctx, candidate)
                if other_found:
                    current, found = other, True
                    break
        if host_map and (found or current != name):  # the host map keeps what it found, not a failure
            ctx.canon[slot] = current
        return current, temporary, found

    def _canon_walk(self, ctx: Context, name: dns.name.Name) -> Step[tuple[dns.name.Name, bool, bool]]:
        """AAAA, then A, then MX at a name; a CNAME moves to its target, one link per question
        (the real Sendmail asks AAAA at every alias of a chain: the 2017 broken case,
        docs/agreement.md)."""
        current = name
        temporary = False
        found = False
        for _depth in range(MAXCNAMEDEPTH):
            moved = False
            temporary = True
            found = False
            for rdtype in (AAAA, A, MX):
                answer = yield from ctx.lookup(current, rdtype)
                link = next((target for owner, target in answer.cnames() if owner == current), None)
                if link is not None and not self.settings.flag("DontExpandCnames"):
                    current, moved = link, True
                    break
                if answer.status != Herrno.TRY_AGAIN:
                    temporary = False
                if answer.status in (Herrno.SUCCESS, Herrno.HOST_NOT_FOUND):
                    temporary = False
                    found = answer.status == Herrno.SUCCESS
                    break
            if not moved:
                break
        return current, temporary, found or current != name

    def at_start(self, ctx: Context, host: SendingHost) -> Step[None]:
        """Each Sendmail process, as it starts: its own name (IPv6), the reverse names of its
        interface addresses, then ruleset 3 on the envelope sender canonifies the sender's
        domain through the host map (mta/host_questions.py; the lab: `mta.DOMAIN AAAA`, the
        same with the search domain, the PTRs, then `DOMAIN AAAA` and the same searched)."""
        search = self.settings.items("search_domains")
        yield from own_name(ctx.lookup, host, search_names(name_from_text(host.name), search))
        yield from interface_names(ctx.lookup, host)
        domain = host.sender_domain
        if domain is not None and not self.settings.flag("nocanonify"):
            yield from self._canonify(ctx, name_from_text(domain))

    def after_bounce(self, ctx: Context, host: SendingHost) -> Step[None]:
        """savemail.c `returntosender`: the DSN is routed in the same process. Its recipient,
        the sender, was canonified as the process started (the host map keeps that answer,
        found or not), so the questions are getmxrr's: the MX (with the search domains when
        the name was not found) and, after NXDOMAIN, the name canonified once more (the lab:
        `DOMAIN MX`, searched, `DOMAIN AAAA`, searched)."""
        domain = host.sender_domain
        if domain is not None:
            name = name_from_text(domain)
            yield from self._getmxrr(ctx, name, written=name, canonical=names.key(name) in ctx.canon)

    def finish(self, ctx: Context, route: Route, delivered: bool) -> Step[None]:
        """Once the message is sent, the rewritten recipient passes ruleset 3 again: its
        domain is canonified unless the host map has it (cname-chain-to-mx, cname-to-address
        in the lab: AAAA and A of the rewritten domain after the delivery; none after a
        deferral, the 2017 broken case; docs/agreement.md)."""
        if delivered and route.envelope_domain is not None and not self.settings.flag("nocanonify"):
            yield from self._canonify(ctx, name_from_text(route.envelope_domain))

    def _getmxrr(
        self, ctx: Context, domain: dns.name.Name, written: dns.name.Name, canonical: bool,
    ) -> Step[Route]:
        """`canonical`: ruleset 3 found the name, which then ends in a dot, so the MX lookup
        (res_search) tries no search domain; a name it did not find is asked as written and,
        when that finds nothing, with each search domain (nodata-domain, nxdomain in the lab)."""
        here = name_text(domain)
        answer = yield from ctx.lookup(domain, MX)
        if not canonical and answer.status != Herrno.SUCCESS:
            for candidate in search_names(domain, self.settings.items("search_domains")):
                yield from ctx.lookup(candidate, MX)
        if answer.status == Herrno.HOST_NOT_FOUND:
            # The bounce is prepared in the same process, which canonifies the name once more.
            yield from self._canonify(ctx, domain)
        failure = self.lookup_failure(domain, answer)
        if failure is not None:
            return Route(RouteKind.FAILED, here, failure=failure)
        mxs = mx_records(answer)
        if len(mxs) == 1 and mxs[0].is_null and mxs[0].preference == 0:
            return Route(RouteKind.NULL_MX, here, failure=Failure.bounce(
                "5.1.10", "556 Host does not accept mail: MX 0 ."))
        if not mxs:
            host = domain
            found = canonical
            if answer.status == Herrno.NO_DATA:
                # trycanon: getcanonname of the name, asked again; CNAME-only or NO_RECOVERY:
                # the name as it is (hostsignature).
                host, _stuck, found = yield from self._canonify(ctx, domain, host_map=False)
            return Route(RouteKind.IMPLICIT_MX, here,
                         hosts=self._host_refs(name_text(host), 0, as_written=not found))
        # A null MX beside others is no null MX for Sendmail: "." is a host it tries to look up.
        hosts = tuple(ref for mx in self.sort_mx(ctx, mxs)
                      for ref in self._host_refs(name_text(mx.exchange) if not mx.is_null else ".", mx.preference))
        return Route(RouteKind.MX, here, hosts=hosts)

    def lookup_failure(self, domain: dns.name.Name, answer: StubAnswer) -> Failure | None:
        """getmxrr: NXDOMAIN is "Host unknown", a timeout queues the message."""
        here = name_text(domain)
        if answer.status == Herrno.HOST_NOT_FOUND:
            return Failure.bounce("5.1.2", f"Host unknown (Name server: {here}: host not found)")
        if answer.status == Herrno.TRY_AGAIN:
            return Failure.defer("4.4.3", f"Name server: {here}.: host name lookup failure")
        return None

    def sort_mx(self, ctx: Context, mxs: Iterable[Mx]) -> list[Mx]:
        """By preference, equal preferences in random order (domain.c getmxrr)."""
        return by_preference(ctx, mxs)

    def families(self) -> tuple[dns.rdatatype.RdataType, ...]:
        """makeconnection tries a host's IPv6 addresses, then retries with AF_INET (daemon.c)."""
        return AAAA, A

    def _host_refs(self, host: str, preference: int, as_written: bool = False) -> tuple[HostRef, ...]:
        """A host is looked up only when Sendmail connects to it: once per family (connect_targets)."""
        return tuple(HostRef(host, preference, FAMILY[rdtype], as_written) for rdtype in self.families())

    def connect_targets(self, ctx: Context, host: HostRef) -> Step[list[Target]]:
        """The lookups makeconnection makes just before connecting, one family at a time
        (`_family`); an MX written as an IP literal is asked as a name (AAAA, A: NXDOMAIN)
        before Sendmail connects to the literal address."""
        name = name_from_text(host.name)

        def found(answer: StubAnswer, rdtype: dns.rdatatype.RdataType) -> list[Target]:
            return [Target(host.name, address, host.preference, host.name)
                    for address in addresses_in(answer, rdtype)]

        if host.name == ".":
            if host.family == "inet6":  # the lab: ". AAAA" and ". A", once each, then the next host
                yield from ctx.lookup(dns.name.root, AAAA)
                yield from ctx.lookup(dns.name.root, A)
            return []
        dotted = not host.as_written
        if host.family == "inet":
            known = ctx.resolved.pop((host.name, "inet"), None)
            if known is not None:
                return known
            # IPv6 addresses were found and none took the message: the AF_INET retry asks A now.
            return found((yield from self._family(ctx, name, A, dotted)), A)
        literal = ip_literal(name)
        first = yield from self._family(ctx, name, AAAA, dotted)
        if literal is None and addresses_in(first, AAAA):
            return found(first, AAAA)
        ipv4 = yield from self._family(ctx, name, A, dotted)
        if literal is not None:
            return [Target(host.name, literal, host.preference, host.name)]
        ctx.resolved[(host.name, "inet")] = found(ipv4, A)
        return []

    def _family(
        self, ctx: Context, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, dotted: bool,
    ) -> Step[StubAnswer]:
        """One family's lookup as seen in the lab (docs/agreement.md). A name taken from DNS
        data ends in a dot: it is asked as it is, and when that gives no address (and the
        name exists), asked again without the dot through res_search (the name, then each
        search domain unless the name itself had answer records), then once more as it is:
        `AAAA; AAAA; AAAA at NAME.DOMAIN; AAAA` for a host with no IPv6 address. The
        recipient's domain as written (not canonified) has no dot: res_search alone."""
        if dotted:
            answer = yield from ctx.lookup(name, rdtype)
            if addresses_in(answer, rdtype) or answer.status in (Herrno.HOST_NOT_FOUND, Herrno.TRY_AGAIN):
                return answer
        answer = yield from ctx.lookup(name, rdtype)
        if answer.status != Herrno.SUCCESS:
            for candidate in search_names(name, self.settings.items("search_domains")):
                yield from ctx.lookup(candidate, rdtype)
        if dotted:
            answer = yield from ctx.lookup(name, rdtype)
        return answer

    def no_address(self, route: Route) -> Failure:
        # The names exist but have no address (NODATA): "no data known" for the last host
        # tried, as logged in the lab ("Name server: mx2.example.com.: no data known").
        return Failure.bounce("5.1.2", f"Host unknown (Name server: {_last_host(route)}: no data known)")

    def after_connect(self, ctx: Context, target: Target, result: AttemptResult) -> Step[None]:
        """Once connected, the PTR of the address (seen in the lab after every connection
        that opened, whatever the greeting; none after a refused or unanswered connect)."""
        if result not in NOT_CONNECTED:
            yield from reverse_lookup(ctx, target.address)

    # ---- the attempt: daemon.c, usersmtp.c --------------------------------------------
    def connect_timeout(self) -> float:
        timeout = self.settings.seconds("Timeout.iconnect") or self.settings.seconds("Timeout.connect")
        return min(timeout, KERNEL_SYN_TIMEOUT) if timeout else KERNEL_SYN_TIMEOUT

    def greeting_timeout(self) -> float:
        return self.settings.seconds("Timeout.initial")

    def failure(self, route: Route, attempts: list[Attempt]) -> Failure:
        last = attempts[-1]
        if all(a.result == AttemptResult.REJECTED for a in attempts):
            return Failure.bounce("5.5.0", last.reason)  # "dsn=5.5.0, reply=554 ..." in the lab
        return Failure.defer(self.deferral_dsn(last), last.reason)  # "dsn=4.4.1" for a timeout

    # ---- the queue: queue runs, the host-status cache ---------------------------------
    def retry_at(self, entry: QueueEntry, delivery: Delivery, sender: SenderState) -> float:
        """The next queue run (Debian -q10m; MinQueueAge 0): every run retries every message."""
        now = delivery.started + delivery.elapsed
        return next_tick(now + 1e-6, self.settings.seconds("QueueInterval"))

    def warn_after(self) -> float | None:
        return self.settings.seconds("Timeout.queuewarn") or None

    def remember(self, sender: SenderState, delivery: Delivery) -> None:
        """Nothing outlives the delivering process: Debian's sendmail.mc undefines
        HostStatusDirectory, so `mci_get` (sendmail/mci.c) loads no host status from disk,
        and each queue run, like each submission's own delivery, is a process of its own.
        Measured: a host that refused was tried again by the next `sendmail -q` three
        seconds later (docs/agreement.md#retries). Within one run the real Sendmail works
        through its messages one after another and shares the status; the model starts a
        run's messages at the same instant, so none could see another's, and none is kept."""
        return None

    # ---- words ------------------------------------------------------------------------
    def expiry(self) -> float:
        return self.settings.seconds("Timeout.queuereturn")

    def lifetime_words(self) -> str:
        return interval_words(self.expiry())

    def log_lines(self, delivery: Delivery, queue_id: str) -> tuple[str, ...]:
        stamp = log_time(delivery.started + delivery.elapsed).strftime("%b %e %H:%M:%S")
        delay = format_duration(delivery.elapsed)
        last = delivery.attempts[-1] if delivery.attempts else None
        relay = f", relay={last.host}. [{last.address}]" if last else f", relay={_last_host(delivery.route)}"
        if delivery.delivered_to is not None:
            stat = "Sent (2.0.0 Ok)"
        elif delivery.outcome == Outcome.DEFERRED and delivery.route.kind == RouteKind.FAILED and not last:
            relay, stat = "", "queued"  # canonification failed: queued without an attempt
        elif delivery.outcome == Outcome.DEFERRED:
            stat = f"Deferred: {delivery.reason}"
        else:
            stat = delivery.reason
        # Seen when running it: the log line keeps the original to= address though the envelope
        # was rewritten (docs/mta-behaviour.md#sendmail-log-wording).
        return (f"{stamp} mxsim sm-mta[4242]: {queue_id}: to=<{delivery.recipient}>, delay={delay}, "
                f"xdelay={delay}, mailer=esmtp, pri=120000{relay}, dsn={delivery.dsn}, stat={stat}",)

    def queue_id(self, rng: RandomSource) -> str:
        return "".join(choice(rng, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwx") for _ in range(14))


def _last_host(route: Route) -> str:
    """The host Sendmail names when none had an address: the last one it looked up, with
    the dot of a name from DNS data (the domain as written has none)."""
    if not route.hosts:
        return f"{route.domain}."
    last = route.hosts[-1]
    return last.name if last.as_written else f"{last.name}."
