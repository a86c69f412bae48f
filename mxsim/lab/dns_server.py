"""Authoritative DNS on loopback sockets: each of a world's server addresses, UDP and TCP.

The world decides everything about an answer (backend draw, NSID, AA, drop, delay, TCP
refusal); this module only carries it over real sockets: address records mapped to lab
addresses, truncation over UDP, the length prefix over TCP, and counters per server.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import socket
import struct
from dataclasses import dataclass, field
from typing import cast

import dns.flags
import dns.message
import dns.opcode
import dns.rcode

from mxsim.clock import Clock, WallClock
from mxsim.lab.addressmap import AddressMap, ensure_loopback
from mxsim.lab.binding import bind_failure
from mxsim.lab.connections import Connections
from mxsim.world import AuthoritativeServer, World

log = logging.getLogger(__name__)

PLAIN_DNS_PAYLOAD = 512  # RFC 1035 §4.2.1; also the floor for EDNS payloads (RFC 6891 §6.2.5)
MAX_TCP_MESSAGE = 65535
HEADER = 12
TCP_IDLE_TIMEOUT = 10.0  # RFC 7766 §6.2.3: seconds, not minutes, for an idle connection


@dataclass(slots=True)
class DnsCounters:
    """What one server address saw, for `lab status`."""

    server: str
    lab: str
    real: str
    tcp_listening: bool
    queries: int = 0
    udp: int = 0
    tcp: int = 0
    drops: int = 0
    truncated: int = 0
    tcp_refused: int = 0
    formerr: int = 0
    errors: int = 0
    runts: int = 0  # datagrams too short to answer at all, e.g. `lab up`'s readiness probe
    by_backend: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "server": self.server, "lab": self.lab, "real": self.real,
            "tcp_listening": self.tcp_listening, "queries": self.queries, "udp": self.udp,
            "tcp": self.tcp, "drops": self.drops, "truncated": self.truncated,
            "tcp_refused": self.tcp_refused, "formerr": self.formerr, "errors": self.errors,
            "runts": self.runts, "by_backend": dict(sorted(self.by_backend.items())),
        }


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to do with one query: send `wire` after `delay`, stay silent, or reset TCP."""

    wire: bytes | None
    delay: float = 0.0
    reset: bool = False


SILENCE = Outcome(None)


def formerr_for(wire: bytes) -> bytes | None:
    """A FORMERR built from the header alone, for a query dnspython cannot parse."""
    if len(wire) < HEADER:
        return None
    (qid, flags) = struct.unpack("!HH", wire[:4])
    if flags & dns.flags.QR:
        return None  # never answer a response: two servers could loop
    opcode_bits = flags & 0x7800
    reply_flags = dns.flags.QR | opcode_bits | (flags & dns.flags.RD) | dns.rcode.FORMERR
    return struct.pack("!HHHHHH", qid, reply_flags, 0, 0, 0, 0)


def truncate_for_udp(query: dns.message.Message, response: dns.message.Message) -> bytes:
    """The response's wire form, or TC=1 with empty sections when it does not fit."""
    limit = max(PLAIN_DNS_PAYLOAD, query.payload) if query.edns >= 0 else PLAIN_DNS_PAYLOAD
    wire = response.to_wire(max_size=MAX_TCP_MESSAGE)
    if len(wire) <= limit:
        return wire
    truncated = dns.message.make_response(query)
    truncated.flags = response.flags | dns.flags.TC
    truncated.set_rcode(response.rcode())
    if response.edns >= 0:
        # Keep the NSID: a resolver retrying over TCP still learns who truncated.
        truncated.use_edns(
            response.edns, response.ednsflags, response.payload, options=list(response.options)
        )
    return truncated.to_wire()


def _tcp_open(server: AuthoritativeServer) -> bool:
    """False when every backend that can answer refuses TCP: then nothing listens."""
    if server.pinned is not None:
        return server.pinned.tcp
    return not server.spec.backends or any(backend.tcp for backend in server.spec.backends)


class DnsService:
    """Answers wire queries for every server address of a world; socket-free, so testable."""

    def __init__(
        self, world: World, address_map: AddressMap, *, seed: int = 0, clock: Clock | None = None
    ) -> None:
        self.world = world
        self.map = address_map
        self.clock: Clock = clock or WallClock()
        self.counters: dict[str, DnsCounters] = {}
        self._real: dict[str, str] = {}  # lab address -> the address text the world knows
        self._rng: dict[str, random.Random] = {}
        for spec in world.server_specs():
            server = world.servers[spec.name]
            for real in spec.addresses:
                lab = address_map.lab(real)
                self._real[lab] = real
                # One stream per address: its draws depend only on the queries it gets.
                self._rng[lab] = random.Random(f"mxsim-lab:{seed}:{real}")
                self.counters[lab] = DnsCounters(
                    spec.name.to_text(), lab, real, tcp_listening=_tcp_open(server)
                )

    def addresses(self) -> list[str]:
        return sorted(self._real, key=lambda a: tuple(int(p) for p in a.split(".")))

    def answer(self, lab: str, wire: bytes, *, tcp: bool) -> Outcome:
        counters = self.counters[lab]
        if len(wire) < HEADER:
            counters.runts += 1
            return SILENCE
        counters.queries += 1
        if tcp:
            counters.tcp += 1
        else:
            counters.udp += 1
        try:
            query = dns.message.from_wire(wire)
        except Exception:  # dnspython's FormError mostly, but any parse failure is FORMERR
            counters.formerr += 1
            reply = formerr_for(wire)
            return Outcome(reply) if reply is not None else SILENCE
        if query.flags & dns.flags.QR:
            return SILENCE
        try:
            return self._answer(lab, query, tcp=tcp, counters=counters)
        except Exception:  # a world bug must cost one answer, never the server
            log.exception("answering %s at %s", query.question, lab)
            counters.errors += 1
            failure = dns.message.make_response(query)
            failure.set_rcode(dns.rcode.SERVFAIL)
            return Outcome(failure.to_wire())

    def _answer(
        self, lab: str, query: dns.message.Message, *, tcp: bool, counters: DnsCounters
    ) -> Outcome:
        if query.opcode() != dns.opcode.QUERY:
            response = dns.message.make_response(query)
            response.set_rcode(dns.rcode.NOTIMP)
            return Outcome(response.to_wire())
        served = self.world.query(
            self._real[lab], query, tcp=tcp, now=self.clock.now(), rng=self._rng[lab]
        )
        if served.backend is not None:
            counters.by_backend[served.backend] = counters.by_backend.get(served.backend, 0) + 1
        if served.tcp_refused:
            counters.tcp_refused += 1
            return Outcome(None, reset=True)
        if served.message is None:
            counters.drops += 1
            return Outcome(None, served.delay)
        response = served.message
        self.map.rewrite_message(response)
        if tcp:
            return Outcome(response.to_wire(max_size=MAX_TCP_MESSAGE), served.delay)
        wire = truncate_for_udp(query, response)
        if wire[2] & 0x02:  # the TC bit of the header's first flags byte
            counters.truncated += 1
        return Outcome(wire, served.delay)


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, service: DnsService, lab: str) -> None:
        self.service = service
        self.lab = lab
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # CPython's selector transport is not a DatagramTransport subclass; it has sendto.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        peer = (ensure_loopback(str(addr[0])), int(str(addr[1])))
        outcome = self.service.answer(self.lab, data, tcp=False)
        if outcome.wire is None:
            return
        if outcome.delay > 0:
            task = asyncio.get_running_loop().create_task(self._later(outcome, peer))
            self.pending.add(task)
            task.add_done_callback(self.pending.discard)
        elif self.transport is not None:
            self.transport.sendto(outcome.wire, peer)

    async def _later(self, outcome: Outcome, peer: tuple[str, int]) -> None:
        await asyncio.sleep(outcome.delay)
        if self.transport is not None and outcome.wire is not None:
            self.transport.sendto(outcome.wire, peer)

    def close(self) -> None:
        for task in list(self.pending):
            task.cancel()
        if self.transport is not None:
            self.transport.close()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST, the way a refusing server's kernel would end the conversation."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class DnsListeners:
    """The sockets: one UDP endpoint and (unless TCP is refused) one TCP listener each."""

    def __init__(self, service: DnsService, port: int) -> None:
        self.service = service
        self.port = port
        self.udp: list[_UdpProtocol] = []
        self.tcp: list[asyncio.Server] = []
        self.connections = Connections()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for lab in self.service.addresses():
            host = ensure_loopback(lab)
            try:
                _transport, protocol = await loop.create_datagram_endpoint(
                    functools.partial(_UdpProtocol, self.service, lab),
                    local_addr=(host, self.port),
                )
            except OSError as error:
                raise bind_failure(error, "DNS over UDP", host, self.port) from error
            self.udp.append(protocol)
            if self.service.counters[lab].tcp_listening:
                handler = self.connections.track(functools.partial(self._tcp, lab))
                try:
                    self.tcp.append(await asyncio.start_server(handler, host, self.port))
                except OSError as error:
                    raise bind_failure(error, "DNS over TCP", host, self.port) from error

    async def _tcp(self, lab: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            prefix = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE_TIMEOUT)
            (length,) = struct.unpack("!H", prefix)
            wire = await asyncio.wait_for(reader.readexactly(length), TCP_IDLE_TIMEOUT)
            outcome = self.service.answer(lab, wire, tcp=True)
            if outcome.reset:
                _reset(writer)
                return
            if outcome.delay > 0:
                await asyncio.sleep(outcome.delay)
            if outcome.wire is not None:
                writer.write(struct.pack("!H", len(outcome.wire)) + outcome.wire)
                await writer.drain()

    async def stop(self) -> None:
        for protocol in self.udp:
            protocol.close()
        for server in self.tcp:
            server.close()
        await self.connections.close()
        for server in self.tcp:
            await server.wait_closed()
        self.udp.clear()
        self.tcp.clear()
