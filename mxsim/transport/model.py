"""The model world's transport: effects fulfilled from a `World` in memory, on a virtual clock.

Fast and exact: messages pass as `dns.message.Message` objects (no wire encoding, except
to decide truncation), time jumps instead of passing, randomness comes from one seeded
`random.Random`.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Final, TypeVar

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rdata
import dns.rdatatype

from mxsim.clock import VirtualClock
from mxsim.memo import IdentityMemo
from mxsim.scenario.mta_sts import Endpoint, policy_for
from mxsim.scenario.spec import SmtpKind, TlsMode, TtlMode
from mxsim.transport.base import (
    ConnectResult,
    DnsExchange,
    DnsResult,
    Effect,
    FetchStatus,
    NetError,
    PolicyFetch,
    PolicyReply,
    Reply,
    SmtpProbe,
    SmtpSession,
    Step,
)
from mxsim.wiresize import size_bound
from mxsim.world import World
from mxsim.world.authority import AuthoritativeServer, Served

T = TypeVar("T")
Message = dns.message.Message  # by a name the class's own `dns` method does not hide

MODEL_RTT: Final = 0.020  # seconds: one network round trip in the model world
PLAIN_DNS_PAYLOAD: Final = 512  # RFC 1035 §4.2.1, for queries without EDNS
MAX_DNS_MESSAGE: Final = 65535  # RFC 1035 §4.2.2: TCP's two-octet length prefix
DEFAULT_REJECT: Final = Reply(554, "5.7.1 Service unavailable")
STARTTLS_REFUSED: Final = Reply(454, "4.7.0 TLS not available due to local problem")
SESSIONS_HELD: Final = 4096  # sessions remembered per transport; past this they are built afresh
DEFAULT_TEMPFAIL: Final = Reply(421, "4.3.2 Service not available, closing transmission channel")


def parse_reply(line: str, fallback: Reply) -> Reply:
    """`"220 mx.google.com ESMTP"` -> Reply(220, "mx.google.com ESMTP")."""
    head, _, rest = line.strip().partition(" ")
    if len(head) == 3 and head.isdigit():
        return Reply(int(head), rest)
    return Reply(fallback.code, line.strip() or fallback.text)


def _wire_size(response: dns.message.Message) -> int:
    """The message's size on the wire; past what a DNS message can hold, one more than that."""
    # dnspython shuffles each RRset's records from the global random module unless told
    # not to: a size must not depend on (or disturb) a generator nobody seeded.
    try:
        return len(response.to_wire(want_shuffle=False))
    except dns.exception.TooBig:
        return MAX_DNS_MESSAGE + 1


def _truncate_if_needed(query: dns.message.Message, response: dns.message.Message,
                        *, tcp: bool = False) -> dns.message.Message:
    """The response as the query's transport can carry it, else TC set and the records left out.

    Over TCP the limit is the 16-bit length prefix (RFC 1035 §4.2.2): a server cannot send
    more, and a resolver that gets TC over TCP has no usable answer.
    """
    udp_payload = query.payload if query.edns >= 0 else PLAIN_DNS_PAYLOAD
    payload = MAX_DNS_MESSAGE if tcp else udp_payload
    question = response.question[0].name if response.question else None
    sections = (*response.answer, *response.authority, *response.additional)
    if size_bound(question, sections) <= payload or _wire_size(response) <= payload:
        return response
    truncated = dns.message.make_response(query)
    truncated.flags = response.flags | dns.flags.TC
    truncated.set_rcode(response.rcode())
    return truncated


def _carried(exchange: DnsExchange, served: Served) -> Message | None:
    if served.message is None:
        return None
    return _truncate_if_needed(exchange.message, served.message, tcp=exchange.tcp)


class ModelTransport:
    """Fulfils engine effects from a World; `run` drives a step to its end."""

    def __init__(self, world: World, clock: VirtualClock, rng: random.Random, rtt: float = MODEL_RTT,
                 memo: bool = False) -> None:
        self.world = world
        self.clock = clock
        self.rng = rng
        self.rtt = rtt
        # With `memo`, a server's answer to the same query object from the same backend is
        # built once (mxsim.memo switches it off): the resolver sends one query object per
        # question, and an answer depends on nothing else unless its TTLs count down.
        self._answers: IdentityMemo[tuple[AuthoritativeServer, Served, Message | None]] | None = (
            IdentityMemo(4096) if memo else None)
        # And a session is built once per probe and world: the same object each time, which a
        # remembered attempt tells its branches by (mta/attempt_memo.py).
        self._sessions: dict[SmtpProbe, tuple[World, SmtpSession]] | None = {} if memo else None
        self._probes: dict[int, tuple[SmtpProbe, World, SmtpSession]] = {}

    def dns(self, exchange: DnsExchange) -> DnsResult:
        served, message = self._served(exchange)
        server = served.server if served.server else None
        if served.tcp_refused:
            return DnsResult(None, self.rtt, NetError.REFUSED, server, served.backend, served.nsid)
        elapsed = self.rtt + served.delay
        if served.message is None or elapsed > exchange.timeout:
            return DnsResult(None, exchange.timeout, NetError.TIMEOUT, server, served.backend, None)
        return DnsResult(message, elapsed, None, server, served.backend, served.nsid)

    def _served(self, exchange: DnsExchange) -> tuple[Served, Message | None]:
        """The server's answer, and the message as the exchange's transport carries it."""
        world, now = self.world, self.clock.now()
        server = world.by_address.get(exchange.address) if self._answers is not None else None
        if server is None:
            served = world.query(exchange.address, exchange.message, tcp=exchange.tcp, now=now, rng=self.rng)
            return served, _carried(exchange, served)
        assert self._answers is not None
        drawn = server.draw(self.rng)
        backend = drawn.backend
        if backend is not None and backend.ttl == TtlMode.COUNTDOWN:  # the answer reads the clock
            served = server.build(drawn, exchange.message, address=exchange.address, tcp=exchange.tcp, now=now)
            return served, _carried(exchange, served)
        extra = (backend.name if backend is not None else None, drawn.dropped, exchange.tcp, exchange.address)
        known = self._answers.get(exchange.message, extra)
        if known is not None and known[0] is server:
            return known[1], known[2]
        served = server.build(drawn, exchange.message, address=exchange.address, tcp=exchange.tcp, now=now)
        return self._answers.put(exchange.message, (server, served, _carried(exchange, served)), extra)[1:]

    def smtp(self, probe: SmtpProbe) -> SmtpSession:
        sessions = self._sessions
        if sessions is None:
            return self._smtp(probe)
        # A remembered attempt sends the very probe object again: found by identity first.
        mine = self._probes.get(id(probe))
        if mine is not None and mine[0] is probe and mine[1] is self.world:
            return mine[2]
        known = sessions.get(probe)
        if known is None or known[0] is not self.world:
            if len(sessions) >= SESSIONS_HELD:
                sessions.clear()
            known = sessions[probe] = (self.world, self._smtp(probe))
        if len(self._probes) >= SESSIONS_HELD:
            self._probes.clear()
        self._probes[id(probe)] = (probe, known[0], known[1])
        return known[1]

    def _smtp(self, probe: SmtpProbe) -> SmtpSession:
        host = self.world.smtp(probe.address)
        rtt = self.rtt
        kind = host.smtp
        if kind == SmtpKind.DROP:
            return SmtpSession(ConnectResult.TIMEOUT, probe.connect_timeout)
        if kind == SmtpKind.REFUSE:
            return SmtpSession(ConnectResult.REFUSED, rtt)
        if kind == SmtpKind.TARPIT and 0 < host.delay < probe.greeting_timeout:
            return SmtpSession(ConnectResult.CONNECTED, rtt + host.delay, closed=True)
        if kind == SmtpKind.TARPIT or (kind == SmtpKind.SLOW and host.delay >= probe.greeting_timeout):
            return SmtpSession(ConnectResult.CONNECTED, rtt + probe.greeting_timeout, greeting_timeout=True)
        if kind == SmtpKind.REJECT:
            reply = Reply(host.code or DEFAULT_REJECT.code, host.text or DEFAULT_REJECT.text)
            return SmtpSession(ConnectResult.CONNECTED, 2 * rtt, greeting=reply)
        if kind == SmtpKind.TEMPFAIL:
            reply = Reply(host.code or DEFAULT_TEMPFAIL.code, host.text or DEFAULT_TEMPFAIL.text)
            return SmtpSession(ConnectResult.CONNECTED, 2 * rtt, greeting=reply)
        names = self.world.host_names(probe.address)
        banner_host = names[0] if names else probe.address
        greeting = parse_reply(host.banner or f"220 {banner_host} ESMTP", Reply(220, "ESMTP"))
        delay = host.delay if kind == SmtpKind.SLOW else 0.0
        ehlo_text = f"{banner_host} Hello {probe.helo}"
        session = SmtpSession(
            ConnectResult.CONNECTED, 3 * rtt + delay, greeting=greeting,
            ehlo=Reply(250, ehlo_text), starttls_offered=host.starttls,
        )
        if not (probe.starttls and host.starttls):
            return session
        if host.tls == TlsMode.HANDSHAKE:
            # The lab's SMTP certificates come from its CA and name every name of the address.
            return replace(session, elapsed=session.elapsed + 3 * rtt, tls_version="TLSv1.3", certificate=names)
        return replace(session, elapsed=session.elapsed + rtt, starttls_refused=STARTTLS_REFUSED)

    def policy(self, fetch: PolicyFetch) -> PolicyReply:
        """An MTA-STS policy fetch, answered from the scenario's `mta_sts` (what the lab serves)."""
        spec = policy_for(self.world.spec.mta_sts, dns.name.from_text(fetch.domain))
        if spec is None:
            return PolicyReply(FetchStatus.REFUSED, self.rtt)
        if spec.endpoint == Endpoint.TIMEOUT:
            return PolicyReply(FetchStatus.TIMEOUT, fetch.timeout)
        if spec.endpoint == Endpoint.TLS_ERROR:
            return PolicyReply(FetchStatus.TLS_ERROR, 2 * self.rtt)
        if spec.endpoint == Endpoint.NOT_FOUND or spec.policy is None:
            return PolicyReply(FetchStatus.NOT_FOUND, 4 * self.rtt)
        return PolicyReply(FetchStatus.OK, 4 * self.rtt, spec.policy.text)

    def answer(self, effect: Effect) -> DnsResult | SmtpSession | PolicyReply:
        """The effect's result as of now; the caller lets `result.elapsed` pass."""
        if isinstance(effect, DnsExchange):
            return self.dns(effect)
        if isinstance(effect, PolicyFetch):
            return self.policy(effect)
        return self.smtp(effect)

    def fulfil(self, effect: Effect) -> DnsResult | SmtpSession | PolicyReply:
        result = self.answer(effect)
        self.clock.advance(result.elapsed)
        return result

    def run(self, step: Step[T]) -> T:
        """Drive an engine step to its end, answering each effect from the world."""
        try:
            effect = next(step)
            while True:
                effect = step.send(self.fulfil(effect))
        except StopIteration as done:
            value: T = done.value
            return value
