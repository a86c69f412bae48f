"""Authoritative DNS on loopback sockets: each of a world's server addresses, UDP and TCP.

The world decides everything about an answer (backend draw, NSID, AA, drop, delay, TCP
refusal); this module only carries it over real sockets: address records mapped to lab
addresses, truncation over UDP, the length prefix over TCP, and counters per server.

Speed (a quarter of NSD's rate under dnsperf). Parsing a query and building its
answer with dnspython costs about 250 µs; the event loop costs about 55 µs a
datagram. So the hot path does neither: a query whose bytes (all but the ID) were seen
before skips parsing; the backend is still drawn for every query (seeded, exactly as
the model draws), and the answer bytes that backend gave before to those bytes are
reused with the ID patched. Countdown TTLs key the bytes by the current second too;
drops, delays and TCP refusals are never cached. The cache is one for all addresses,
bounded in entries and in what each entry really costs (bytes plus Python object
overhead; the parsed message is not kept there), least recently used first out: a flood of distinct
questions costs a fixed amount of memory, however many addresses it is spread over. The last
few parsed queries are kept beside it (`MAX_PARSED_QUERIES`): a backend's first answer to a
question another backend answered a moment ago then skips the parse. The zone a question
falls in is found by walking up its name, not by scanning a farm's thousands of zones.
UDP is served by one thread with non-blocking sockets and a selector, not by the event loop
(docs/lab.md#python-speed-ceilings: 58 to 68 k cached answers a second on a plain socket
loop, 14 k on stock asyncio).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import heapq
import ipaddress
import itertools
import logging
import random
import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

import dns.flags
import dns.message
import dns.opcode
import dns.rcode

from mxsim.clock import Clock, WallClock
from mxsim.lab.addressmap import AddressMap
from mxsim.lab.binding import bind_failure
from mxsim.lab.connections import ConnectionLimit, Connections, TcpListener
from mxsim.scenario.spec import TtlMode
from mxsim.world import AuthoritativeServer, World

log = logging.getLogger(__name__)

PLAIN_DNS_PAYLOAD = 512  # RFC 1035 §4.2.1; also the floor for EDNS payloads (RFC 6891 §6.2.5)
MAX_TCP_MESSAGE = 65535
HEADER = 12
TCP_IDLE_TIMEOUT = 10.0  # RFC 7766 §6.2.3: seconds, not minutes, for an idle connection
# A scenario names a handful of hosts and real resolvers repeat their questions, so a
# thousand distinct queries is far more than the real workload; what is past that is a
# flood of distinct questions, which must cost a fixed amount of memory.
MAX_CACHED_QUERIES = 1024  # distinct queries remembered, all addresses together
MAX_CACHED_BYTES = 4 << 20  # what they cost, counted as below, all together
# What an entry costs besides its bytes, in CPython 3.11 on 64 bits: the key tuple, the
# ordered dict's node, the entry object and its answers dict (about 600 bytes, rounded
# up); and each answer's key and value tuples (about 200 bytes, rounded up).
ENTRY_OVERHEAD = 768
ANSWER_OVERHEAD = 256
# Header bits a query's meaning does not depend on: Z (RFC 1035 §4.1.1, zero in all
# queries) and RCODE (set only in responses). dnspython turns the flags word into an
# enum.Flag, and Python keeps every distinct unknown-bit combination it ever saw, up to
# 65,536 of them: clearing these bits before parsing keeps that at a few hundred.
IGNORED_QUERY_BITS = 0x004F
MAX_CACHED_QUERY = 512  # longer queries (a real one is under 300 bytes) are parsed each time
# Parsed queries kept, most recent first out last: a farm draws a backend per query, so the same
# question meets each backend for the first time within a few queries of the first, and each
# such first answer needs the parsed question; a few hundred kilobytes at most.
MAX_PARSED_QUERIES = 64
MAX_DELAYED = 8192  # answers waiting out a `delay`; past that a query is dropped, as by a full queue
UDP_BURST = 64  # datagrams read from one socket before the selector looks at the others
UDP_IDLE_WAKE = 0.5  # seconds: the UDP thread checks for stop at least this often
STOP_TIMEOUT = 5.0


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
    """The response's wire form, or TC=1 with empty sections when it does not fit.

    Records go out in the zone's order (dnspython would shuffle each RRset): the model
    keeps that order too, so MTAs that shuffle equal preferences with a seeded draw pick
    the same hosts in both worlds, and cached answer bytes stay what a fresh build gives.
    """
    limit = max(PLAIN_DNS_PAYLOAD, query.payload) if query.edns >= 0 else PLAIN_DNS_PAYLOAD
    wire = response.to_wire(max_size=MAX_TCP_MESSAGE, want_shuffle=False)
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


def _parse(body: bytes) -> dns.message.Message:
    """A query from its wire form after the ID (the ID is patched into every answer)."""
    return dns.message.from_wire(b"\x00\x00" + body)


@dataclass(slots=True)
class _Known:
    """A query body (the wire form after the ID, with the ignored header bits cleared)
    that parsed as a plain QUERY, and the answer bytes (after the ID) each backend gave
    it: (backend, tcp, second) -> bytes.

    It keeps bytes only, never the parsed message: that is several kilobytes of Python
    objects, and the bytes parse again on the rare query the answers do not cover.
    """

    size: int  # what the entry costs, as the cache's byte bound counts it
    answers: dict[tuple[str | None, bool, int], tuple[bytes, bool]] = field(default_factory=dict)


class DnsService:
    """Answers wire queries for every server address of a world; socket-free, so testable.

    Thread-safe: the UDP thread and the event loop's TCP handlers both call `answer`.
    """

    def __init__(
        self,
        world: World,
        address_map: AddressMap,
        *,
        seed: int = 0,
        clock: Clock | None = None,
        time_scale: float = 1.0,
    ) -> None:
        self.world = world
        self.map = address_map
        self.clock: Clock = clock or WallClock()
        self.time_scale = time_scale  # delays shrink with the wire transport's timeouts
        self.counters: dict[str, DnsCounters] = {}
        self._real: dict[str, str] = {}  # lab address -> the address text the world knows
        self._server: dict[str, AuthoritativeServer] = {}
        self._rng: dict[str, random.Random] = {}
        # (lab address, query body) -> what is known of it; least recently used first.
        self._known: collections.OrderedDict[tuple[str, bytes], _Known] = collections.OrderedDict()
        self._known_bytes = 0
        self._parsed: collections.OrderedDict[bytes, dns.message.Message] = collections.OrderedDict()
        self._lock = threading.Lock()
        for spec in world.server_specs():
            server = world.servers[spec.name]
            for real in spec.addresses:
                lab = address_map.lab(real)
                self._real[lab] = real
                self._server[lab] = server
                # One stream per address: its draws depend only on the queries it gets.
                self._rng[lab] = random.Random(f"mxsim-lab:{seed}:{real}")
                self.counters[lab] = DnsCounters(
                    spec.name.to_text(), lab, real, tcp_listening=_tcp_open(server)
                )

    def addresses(self) -> list[str]:
        return sorted(self._real, key=lambda a: (":" in a, ipaddress.ip_address(a).packed))

    def use_world(self, world: World) -> None:
        """Answer from `world` from now on (a later stretch of a timeline): the same addresses, the
        servers behind them as `world` has them; cached answer bytes belong to the old world."""
        servers = {self.map.lab(real): world.servers[spec.name]
                   for spec in world.server_specs() for real in spec.addresses}
        with self._lock:
            self.world = world
            self._server.update((lab, server) for lab, server in servers.items() if lab in self._real)
            self._known.clear()
            self._known_bytes = 0

    def answer(self, lab: str, wire: bytes, *, tcp: bool) -> Outcome:
        with self._lock:
            return self._answer_wire(lab, wire, tcp)

    def cache_stats(self) -> dict[str, int]:
        """The parsed-query cache: entries and bytes, with their bounds."""
        with self._lock:
            return {"queries": len(self._known), "bytes": self._known_bytes,
                    "max_queries": MAX_CACHED_QUERIES, "max_bytes": MAX_CACHED_BYTES}

    def _parsed_query(self, body: bytes) -> dns.message.Message:
        """The query parsed, from the few kept (never mutated: answers are built beside it)."""
        query = self._parsed.get(body)
        if query is not None:
            self._parsed.move_to_end(body)
            return query
        query = _parse(body)
        if len(body) <= MAX_CACHED_QUERY:
            self._parsed[body] = query
            if len(self._parsed) > MAX_PARSED_QUERIES:
                self._parsed.popitem(last=False)
        return query

    def _remember(self, key: tuple[str, bytes], known: _Known) -> None:
        self._known[key] = known
        self._known_bytes += known.size
        self._trim()

    def _trim(self) -> None:
        while self._known and (
            len(self._known) > MAX_CACHED_QUERIES or self._known_bytes > MAX_CACHED_BYTES
        ):
            _key, old = self._known.popitem(last=False)
            self._known_bytes -= old.size

    def _answer_wire(self, lab: str, wire: bytes, tcp: bool) -> Outcome:
        counters = self.counters[lab]
        if len(wire) < HEADER:
            counters.runts += 1
            return SILENCE
        counters.queries += 1
        if tcp:
            counters.tcp += 1
        else:
            counters.udp += 1
        body = wire[2:]
        if wire[3] & IGNORED_QUERY_BITS:  # all of them in the flags' second byte
            body = bytes((wire[2], wire[3] & ~IGNORED_QUERY_BITS)) + wire[4:]
        key = (lab, body)
        query: dns.message.Message | None = None
        known = self._known.get(key)
        if known is not None:
            self._known.move_to_end(key)
        else:
            try:
                query = self._parsed_query(body)
            except Exception:  # dnspython's FormError mostly, but any parse failure is FORMERR
                counters.formerr += 1
                reply = formerr_for(wire)
                return Outcome(reply) if reply is not None else SILENCE
            if query.flags & dns.flags.QR:
                return SILENCE
            if query.opcode() != dns.opcode.QUERY:
                response = dns.message.make_response(query)
                response.set_rcode(dns.rcode.NOTIMP)
                return Outcome(response.to_wire())
            known = _Known(len(body) + ENTRY_OVERHEAD)
            if len(wire) <= MAX_CACHED_QUERY:
                self._remember(key, known)
        try:
            return self._answer(lab, wire, key, known, query, tcp=tcp, counters=counters)
        except Exception:  # a world bug must cost one answer, never the server
            query = query or _parse(body)
            log.exception("answering %s at %s", query.question, lab)
            counters.errors += 1
            failure = dns.message.make_response(query)
            failure.set_rcode(dns.rcode.SERVFAIL)
            return Outcome(wire[:2] + failure.to_wire()[2:])

    def _answer(
        self, lab: str, wire: bytes, key: tuple[str, bytes], known: _Known,
        query: dns.message.Message | None, *, tcp: bool, counters: DnsCounters,
    ) -> Outcome:
        server = self._server[lab]
        drawn = server.draw(self._rng[lab])  # every query draws, cached or not
        backend = drawn.backend
        if backend is not None:
            counters.by_backend[backend.name] = counters.by_backend.get(backend.name, 0) + 1
        now = self.clock.now()
        delay = (backend.delay if backend is not None else 0.0) * self.time_scale
        second = int(now) if backend is not None and backend.ttl == TtlMode.COUNTDOWN else -1
        slot = (backend.name if backend is not None else None, tcp, second)
        if not drawn.dropped and not (tcp and backend is not None and not backend.tcp):
            hit = known.answers.get(slot)
            if hit is not None:
                tail, truncated = hit
                if truncated:
                    counters.truncated += 1
                return Outcome(wire[:2] + tail, delay)
        if query is None:
            query = self._parsed_query(key[1])
        served = server.build(drawn, query, address=self._real[lab], tcp=tcp, now=now)
        if served.tcp_refused:
            counters.tcp_refused += 1
            return Outcome(None, reset=True)
        if served.message is None:
            counters.drops += 1
            return Outcome(None, delay)
        response = served.message
        self.map.rewrite_message(response)
        truncated = False
        if tcp:
            out = response.to_wire(max_size=MAX_TCP_MESSAGE, want_shuffle=False)
        else:
            out = truncate_for_udp(query, response)
            truncated = bool(out[2] & 0x02)  # the TC bit of the header's first flags byte
            if truncated:
                counters.truncated += 1
        cached = self._known.get(key) is known  # long queries are not kept
        grown = len(out) - 2 + ANSWER_OVERHEAD
        if second >= 0:
            # Countdown answers of past seconds will never be asked for again.
            for old in [k for k in known.answers if k[2] >= 0 and k[2] != second]:
                grown -= len(known.answers.pop(old)[0]) + ANSWER_OVERHEAD
        previous = known.answers.get(slot)
        if previous is not None:
            grown -= len(previous[0]) + ANSWER_OVERHEAD
        known.answers[slot] = (out[2:], truncated)
        known.size += grown
        if cached:
            self._known_bytes += grown
            self._trim()
        return Outcome(wire[:2] + out[2:], delay)


class UdpThread:
    """UDP for every server address: one thread, non-blocking sockets, one selector.

    Delayed answers wait in a heap that the same thread sends from when they are due,
    so a delay never holds up other queries. Peers are always on loopback: a datagram
    that reached a 127.x socket came from this host (or, in a lab namespace, from
    inside it).
    """

    def __init__(self, service: DnsService, port: int) -> None:
        self.service = service
        self.port = port
        self.sockets: list[tuple[socket.socket, str]] = []
        self.selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._later: list[tuple[float, int, socket.socket, bytes, tuple[str, int]]] = []
        self._seq = itertools.count()

    def bind(self) -> None:
        for lab in self.service.addresses():
            host = self.service.map.bindable(lab)
            family = socket.AF_INET6 if ":" in host else socket.AF_INET  # v6 only in a namespace
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                sock.bind((host, self.port))
            except OSError as error:
                sock.close()
                raise bind_failure(error, "DNS over UDP", host, self.port) from error
            sock.setblocking(False)
            self.sockets.append((sock, lab))
            self.selector.register(sock, selectors.EVENT_READ, lab)
        self._wake_r.setblocking(False)
        self.selector.register(self._wake_r, selectors.EVENT_READ, None)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mxsim-lab-udp", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        answer = self.service.answer
        while not self._stop:
            wait = UDP_IDLE_WAKE
            if self._later:
                wait = max(0.0, min(wait, self._later[0][0] - time.monotonic()))
            for key, _events in self.selector.select(wait):
                lab = key.data
                if lab is None:
                    continue  # the wake-up pipe: `stop` was called
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                for _ in range(UDP_BURST):
                    try:
                        data, peer = sock.recvfrom(65535)
                    except BlockingIOError:
                        break
                    except OSError:
                        continue  # an ICMP error for an earlier answer; the socket lives on
                    try:
                        outcome = answer(lab, data, tcp=False)
                    except Exception:  # keep serving; `answer` already logs world bugs
                        log.exception("UDP query at %s", lab)
                        continue
                    if outcome.wire is None:
                        continue
                    if outcome.delay > 0:
                        if len(self._later) >= MAX_DELAYED:
                            continue  # a flood at a slow server: lost, as from a full queue
                        due = time.monotonic() + outcome.delay
                        heapq.heappush(self._later, (due, next(self._seq), sock, outcome.wire, peer))
                        continue
                    # try/except, not contextlib.suppress: this runs for every datagram.
                    try:  # noqa: SIM105
                        sock.sendto(outcome.wire, peer)
                    except OSError:
                        pass  # the asker is gone (or its buffer full): as a lost datagram
            now = time.monotonic()
            while self._later and self._later[0][0] <= now:
                _due, _seq, sock, reply, peer = heapq.heappop(self._later)
                with contextlib.suppress(OSError):
                    sock.sendto(reply, peer)

    def stop(self) -> None:
        self._stop = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT)
            self._thread = None
        self.selector.close()
        for sock, _lab in self.sockets:
            sock.close()
        self.sockets.clear()
        self._later.clear()
        self._wake_r.close()
        self._wake_w.close()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST, the way a refusing server's kernel would end the conversation."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class DnsListeners:
    """The sockets: one UDP endpoint and (unless TCP is refused) one TCP listener each."""

    def __init__(self, service: DnsService, port: int, *, limit: ConnectionLimit | None = None) -> None:
        self.service = service
        self.port = port
        self.udp: UdpThread | None = None
        self.tcp: list[TcpListener] = []
        self.connections = Connections(limit)

    async def start(self) -> None:
        self.udp = UdpThread(self.service, self.port)
        self.udp.bind()
        self.udp.start()
        for lab in self.service.addresses():
            host = self.service.map.bindable(lab)
            if self.service.counters[lab].tcp_listening:
                try:
                    self.tcp.append(self.connections.listen(host, self.port, functools.partial(self._tcp, lab)))
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
                # A client that never reads its answers must not hold the connection forever.
                async with asyncio.timeout(TCP_IDLE_TIMEOUT):
                    await writer.drain()

    async def stop(self) -> None:
        if self.udp is not None:
            self.udp.stop()
            self.udp = None
        for server in self.tcp:
            server.close()
        await self.connections.close()
        for server in self.tcp:
            await server.wait_closed()
        self.tcp.clear()
