"""DNS exchanges for the wire transport: UDP on shared sockets, TCP, a parsed-reply memo.

`mxsim check` sends about 500 queries to two addresses and the recursive lookups behind
its paths send more. dnspython's `asyncquery.udp` opens a socket per query and parses
every reply: about 0.8 ms a query here, most of it in `from_wire` (about 570 us a reply;
docs/lab.md#python-speed-ceilings). Here:

- one connected UDP socket per destination and event loop carries every query to it
  (a connected socket still reports ICMP port unreachable, as dnspython's does); a
  reply is matched by source, ID and question, and one that matches nothing, or that
  cannot be parsed, is dropped and the wait goes on (as a resolver does);
- each reply's arrival is the kernel's receive stamp (SO_TIMESTAMPNS), so a round trip
  never includes the time the event loop spent on other tasks before reading it;
- TCP (after TC, or asked for) opens a connection per exchange, as stub resolvers do,
  and takes only a reply with the query's ID, QR set and its question, as over UDP;
- every reply dropped while a query waited is counted per address and reason
  (`DnsExchanger.dropped`): a check can say "unusable replies", not only "no reply";
- replies are parsed once per distinct content: the same bytes (the ID aside) give the
  same message, shared and never mutated. A farm answering the same question the same
  way twenty times costs one parse. Backends that answer alike but each with its own
  NSID (EDNS option 3, RFC 5001) share one parse too: when a reply's last record is an
  OPT holding the NSID alone, the NSID is read from the bytes and the rest is the key.
  The shared message's own OPT record then keeps the first backend's NSID: the NSID is
  only ever read from what `exchange` returns beside the message. A reply that differs
  from one parsed before only in its RD bit (the same question asked with RD set and
  clear, as `check` samples it) is a shallow copy of that message with its own header
  flags: the sections are shared, as above.

No policy lives here: timeouts and what an error means stay with `WireTransport`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import random
import socket
import struct
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import TypeVar, cast

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.rcode

from mxsim.memo import IdentityMemo
from mxsim.transport.queries import query_wire

MEMO_SIZE = 4096  # distinct replies (and query wires) remembered; once full, all forgotten
_HEADER = 12
# Why a reply to a waiting query was dropped (`DnsExchanger.dropped` counts them per address).
ANOTHER_ID = "another ID"
ANOTHER_QUESTION = "another question"
NOT_A_RESPONSE = "not a response"
UNPARSABLE = "unparsable"
# Rcodes a server may send with the question section left out (RFC 1035 leaves it open;
# dnspython's `is_response` accepts them too).
_BARE_RCODES = {dns.rcode.FORMERR, dns.rcode.SERVFAIL, dns.rcode.NOTIMP, dns.rcode.REFUSED}

# Linux's SO_TIMESTAMPNS (asm-generic value; Python's socket module does not name it).
SO_TIMESTAMPNS: int | None = getattr(socket, "SO_TIMESTAMPNS", 35 if sys.platform == "linux" else None)
_TIMESPEC = struct.Struct("@qq")  # struct timespec on 64-bit Linux: seconds, nanoseconds
_ANCILLARY = socket.CMSG_SPACE(_TIMESPEC.size)
_MAX_DATAGRAM = 65535
T = TypeVar("T")
Parsed = tuple[dns.message.Message, str | None]  # the reply, its NSID
Reply = tuple[dns.message.Message, str | None, float]  # the reply, its NSID, seconds from send to arrival


def _question_end(wire: bytes) -> int:
    """Where the one question of a query ends (queries carry no compression)."""
    at = _HEADER
    while wire[at]:
        at += wire[at] + 1
    return at + 1 + 4  # the root label, then type and class


def answers(reply: bytes, question: bytes) -> bool:
    """Whether `reply` (QR set, its ID already matched) answers the query whose question
    section is `question`: the same question, in any case, or none with an rcode that may
    leave it out."""
    qdcount = int.from_bytes(reply[4:6], "big")
    if qdcount == 0 and reply[3] & 0x0F in _BARE_RCODES:
        return True
    return qdcount == 1 and reply[_HEADER:_HEADER + len(question)].lower() == question.lower()


_OPT_FIXED = 11  # an OPT record before its options: root name, type, class (payload), TTL (flags), RDLENGTH
_NSID_TRIES = 4  # places to try, from the end, where the OPT record may start


def nsid_split(data: bytes) -> tuple[bytes, str] | None:
    """(the reply without its ID and NSID, the NSID) when the reply ends with an OPT record
    whose one option is an NSID; None otherwise (then the whole reply is the key)."""
    end = len(data)
    for _ in range(_NSID_TRIES):
        at = data.rfind(b"\x00\x00\x29", _HEADER, end)
        if at < 0:
            return None
        rdlength = int.from_bytes(data[at + 9:at + 11], "big")
        if (at + _OPT_FIXED + rdlength == len(data) and data[at + 11:at + 13] == b"\x00\x03"
                and int.from_bytes(data[at + 13:at + 15], "big") + 4 == rdlength):
            return data[2:at + 9], data[at + 15:].decode("utf-8", "replace")
        end = at + 2  # the NSID itself may hold those bytes: look further back
    return None


def _flip_rd(key: bytes) -> bytes:
    """A parse key (a reply from its flags on) with the RD bit (RFC 1035 §4.1.1) the other way."""
    return bytes((key[0] ^ 0x01,)) + key[1:]


def nsid_of(message: dns.message.Message) -> str | None:
    for option in message.options:
        if isinstance(option, dns.edns.NSIDOption):
            return option.nsid.decode("utf-8", "replace")
    return None


class _Waiter:
    __slots__ = ("future", "question", "received")

    def __init__(self, future: asyncio.Future[bytes], question: bytes) -> None:
        self.future = future
        self.question = question
        self.received = 0.0  # wall time (time.time) the reply reached the socket


def _expire(endpoint: _Endpoint, qid: int) -> None:
    waiter = endpoint.waiting.get(qid)  # looked up now: an unparsable reply gives the waiter a new future
    if waiter is not None:
        _fail_once(waiter.future, TimeoutError())


def _arrival(ancillary: list[tuple[int, int, bytes]]) -> float | None:
    """The kernel's receive time of a datagram (SO_TIMESTAMPNS), as time.time() reads it."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            seconds, nanoseconds = cast(tuple[int, int], _TIMESPEC.unpack_from(data))
            return float(seconds) + nanoseconds / 1e9
    return None


class _Endpoint:
    """One connected socket: queries out, replies handed to whoever waits on their ID.

    Read with recvmsg so that the kernel stamps each datagram's arrival: the round trip a
    wire trace reports must not include the time the event loop spent on other tasks
    before it got to the socket (five MTAs share one loop; at time scale 0.02 a 2 ms stall
    would read as 0.1 s).
    """

    def __init__(self, sock: socket.socket, loop: asyncio.AbstractEventLoop, dropped: Callable[[str], None]) -> None:
        self.sock = sock
        self.loop = loop
        self.dropped = dropped  # told why each reply to a waiting query was not taken
        self.waiting: dict[int, _Waiter] = {}
        self.stamped = False
        if SO_TIMESTAMPNS is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                self.stamped = True
        loop.add_reader(sock.fileno(), self._readable)

    def send(self, data: bytes) -> None:
        with contextlib.suppress(BlockingIOError):  # a full send buffer: the datagram is lost, as on a wire
            self.sock.send(data)

    def close(self, loop_alive: bool) -> None:
        if loop_alive:
            self.loop.remove_reader(self.sock.fileno())
        self.sock.close()
        self._fail(ConnectionAbortedError("socket closed"))

    def _readable(self) -> None:
        for _ in range(64):  # bounded: other tasks get the loop back between bursts
            try:
                data, ancillary, _flags, _addr = self.sock.recvmsg(_MAX_DATAGRAM, _ANCILLARY)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                # ICMP for this destination (port unreachable, ...): every query to it fails alike.
                self._fail(error)
                return
            arrived = _arrival(ancillary) if self.stamped else None
            self._received(data, arrived if arrived is not None else time.time())

    def _received(self, data: bytes, arrived: float) -> None:
        if len(data) < _HEADER or not data[2] & 0x80:  # too short, or not a response (QR clear)
            return
        waiter = self.waiting.get(int.from_bytes(data[:2], "big"))
        if waiter is None or waiter.future.done():
            return  # late (its asker gave up) or never asked: dropped
        if not answers(data, waiter.question):
            self.dropped(ANOTHER_QUESTION)  # an ID collision, or a server that mixes questions up
            return
        waiter.received = arrived
        waiter.future.set_result(data)

    def _fail(self, error: BaseException) -> None:
        for waiter in self.waiting.values():
            _fail_once(waiter.future, error)


def _fail_once(done: asyncio.Future[T], error: BaseException) -> None:
    if not done.done():
        done.set_exception(error)


def _connected(task: asyncio.Task[object], done: asyncio.Future[T]) -> None:
    """A failed connect (refused, unreachable) ends the exchange with its error."""
    if not task.cancelled() and task.exception() is not None:
        _fail_once(done, cast(BaseException, task.exception()))


class _TcpStream(asyncio.Protocol):
    """One DNS-over-TCP exchange: the query sent on connect, replies read as they come.

    Only a reply with the query's ID, QR set and the query's question answers it (as over
    UDP); any other, or one that cannot be parsed, is dropped and reading goes on until
    the timeout (as the stub resolvers do)."""

    def __init__(self, query: bytes, question: bytes, parse: Callable[[bytes], Parsed | None],
                 done: asyncio.Future[tuple[Parsed, float]], dropped: Callable[[str], None]) -> None:
        self.query = query
        self.question = question
        self.parse = parse
        self.done = done
        self.dropped = dropped
        self.started = time.monotonic()
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if self.done.done():  # timed out while connecting
            self.transport.close()
            return
        self.transport.write(len(self.query).to_bytes(2, "big") + self.query)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= 2 and not self.done.done():
            size = int.from_bytes(self.buffer[:2], "big")
            if len(self.buffer) < 2 + size:
                return
            reply, self.buffer = self.buffer[2:2 + size], self.buffer[2 + size:]
            why = self._unusable(reply)
            parsed = self.parse(reply) if why is None else None
            if parsed is not None:
                self.done.set_result((parsed, time.monotonic() - self.started))
            else:
                self.dropped(why or UNPARSABLE)

    def _unusable(self, reply: bytes) -> str | None:
        """Why a reply does not answer this query (as `_Endpoint._received` decides for UDP)."""
        if len(reply) < _HEADER:
            return UNPARSABLE
        if reply[:2] != self.query[:2]:
            return ANOTHER_ID  # one query per connection: no other query's answer can come
        if not reply[2] & 0x80:
            return NOT_A_RESPONSE  # QR clear: a query, or our own bytes echoed
        return None if answers(reply, self.question) else ANOTHER_QUESTION

    def connection_lost(self, exc: Exception | None) -> None:
        _fail_once(self.done, exc or EOFError("the server closed the connection without an answer"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class DnsExchanger:
    """Sends DNS queries (UDP on shared sockets, or TCP) and parses each distinct reply once.

    Sockets belong to the running event loop; `close()` (at the end of the loop's work)
    releases them, and a new loop gets new ones.
    """

    def __init__(self, postprocess: Callable[[dns.message.Message], None] | None = None) -> None:
        self._postprocess = postprocess  # applied once per distinct reply (lab address mapping)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._endpoints: dict[tuple[str, int], _Endpoint] = {}
        self._replies: dict[bytes, Parsed] = {}
        self._queries: IdentityMemo[tuple[bytes, bytes]] = IdentityMemo(MEMO_SIZE)
        self._ids = random.Random()  # IDs only match replies; they never reach any output
        # (address, why) -> replies dropped: they came, but none answered the query it waited on.
        self.dropped: Counter[tuple[str, str]] = Counter()

    def _dropper(self, where: str) -> Callable[[str], None]:
        def dropped(why: str) -> None:
            self.dropped[(where, why)] += 1
        return dropped

    def close(self) -> None:
        """Release every socket; also after the loop they served has closed (then directly)."""
        alive = self._loop is not None and not self._loop.is_closed()
        for endpoint in self._endpoints.values():
            endpoint.close(alive)
        self._endpoints.clear()
        self._loop = None

    def _endpoint(self, where: str, port: int) -> _Endpoint:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self.close()
            self._loop = loop
        key = (where, port)
        endpoint = self._endpoints.get(key)
        if endpoint is None:
            # A connected socket (a UDP connect sends nothing) still hears ICMP port
            # unreachable, as dnspython's does; made synchronously, so one per destination.
            sock = socket.socket(socket.AF_INET6 if ":" in where else socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.setblocking(False)
                sock.connect(key)
                endpoint = _Endpoint(sock, loop, self._dropper(where))
            except BaseException:
                sock.close()
                raise
            self._endpoints[key] = endpoint
        return endpoint

    def _wire(self, message: dns.message.Message) -> tuple[bytes, bytes]:
        """The query's wire form and its question section, made once per message object."""
        known = self._queries.get(message)
        if known is not None:
            return known
        wire = query_wire(message) or message.to_wire()
        return self._queries.put(message, (wire, wire[_HEADER:_question_end(wire)]))

    async def exchange(self, message: dns.message.Message, where: str, port: int, timeout: float) -> Reply:
        """Send `message` to where:port and wait up to `timeout` s for its parsed reply, and
        say how long the reply took to arrive.

        Raises TimeoutError, or the OSError the socket reported (refused, unreachable).
        """
        endpoint = self._endpoint(where, port)
        wire, question = self._wire(message)
        qid = self._ids.getrandbits(16)
        while qid in endpoint.waiting:
            qid = self._ids.getrandbits(16)
        loop = asyncio.get_running_loop()
        endpoint.waiting[qid] = _Waiter(loop.create_future(), question)
        # A timer on the future itself: cheaper than wait_for, which wraps every await in a task.
        timer = loop.call_later(timeout, _expire, endpoint, qid)
        try:
            sent, started = time.time(), time.monotonic()  # the arrival stamp is wall time
            endpoint.send(qid.to_bytes(2, "big") + wire[2:])
            while True:
                waiter = endpoint.waiting[qid]
                parsed = self._parse(await waiter.future)
                if parsed is not None:
                    # Never longer than the monotonic wait: a wall clock may be stepped meanwhile.
                    took = min(waiter.received - sent, time.monotonic() - started)
                    return parsed[0], parsed[1], max(took, 0.0)
                # Unparsable: dropped, and the wait goes on for a usable reply.
                endpoint.dropped(UNPARSABLE)
                waiter.future = loop.create_future()
        finally:
            timer.cancel()
            endpoint.waiting.pop(qid, None)

    async def exchange_tcp(self, message: dns.message.Message, where: str, port: int, timeout: float) -> Reply:
        """`exchange` over TCP: one connection, the length-prefixed query, one reply read back.

        Raises TimeoutError, ConnectionRefusedError, or EOFError when the server closes
        the stream without an answer. As with UDP, the reply is taken when it is read, in
        the transport's callback, so a timer that falls due in the same turn of a busy
        event loop does not turn an answer already read into a timeout.
        """
        loop = asyncio.get_running_loop()
        qid = self._ids.getrandbits(16)
        wire, question = self._wire(message)
        query = qid.to_bytes(2, "big") + wire[2:]
        done: asyncio.Future[tuple[Parsed, float]] = loop.create_future()
        stream = _TcpStream(query, question, self._parse, done, self._dropper(where))
        timer = loop.call_later(timeout, _fail_once, done, TimeoutError())
        connecting = loop.create_task(loop.create_connection(lambda: stream, where, port))
        connecting.add_done_callback(lambda task: _connected(task, done))
        try:
            parsed, took = await done
            return parsed[0], parsed[1], took
        finally:
            timer.cancel()
            if not connecting.done():
                connecting.cancel()
            stream.close()

    def _parse(self, data: bytes) -> Parsed | None:
        split = nsid_split(data)
        key = data[2:] if split is None else split[0]
        known = self._replies.get(key)
        if known is not None:
            return known if split is None else (known[0], split[1])
        # The same reply to the question asked with RD set and with RD clear: one parse, and
        # a copy of the message with this reply's header flags (nothing else differs).
        other = self._replies.get(_flip_rd(key))
        if other is not None:
            twin = copy.copy(other[0])
            twin.flags = dns.flags.Flag(int.from_bytes(data[2:4], "big"))
            parsed = (twin, other[1] if split is None else split[1])
            self._remember(key, (twin, other[1]))
            return parsed
        try:
            message = dns.message.from_wire(data, raise_on_truncation=True)
        except dns.message.Truncated as truncated:
            message = truncated.message()  # TC: what could be read; the asker goes to TCP
        except dns.exception.DNSException:
            return None
        if self._postprocess is not None:
            self._postprocess(message)
        parsed = (message, nsid_of(message))
        if split is not None and parsed[1] != split[1]:
            return parsed  # the bytes were read wrong: not kept under a key that could mislead
        self._remember(key, parsed)
        return parsed

    def _remember(self, key: bytes, parsed: Parsed) -> None:
        if len(self._replies) >= MEMO_SIZE:
            self._replies.clear()  # not the oldest alone: see mxsim/memo.py
        self._replies[key] = parsed
