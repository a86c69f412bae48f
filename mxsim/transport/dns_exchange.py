"""DNS exchanges for the wire transport: UDP on shared sockets, TCP, a parsed-reply memo.

`mxsim check` sends about 500 queries to two addresses and the recursive lookups behind
its paths send more. dnspython's `asyncquery.udp` opens a socket per query and parses
every reply: about 0.8 ms a query here, most of it in `from_wire` (LAB-NOTES measures
570 us a reply). Here:

- one connected UDP socket per destination and event loop carries every query to it
  (a connected socket still reports ICMP port unreachable, as dnspython's does); a
  reply is matched by source, ID and question, and one that matches nothing, or that
  cannot be parsed, is dropped and the wait goes on (as a resolver does);
- TCP (after TC, or asked for) opens a connection per exchange, as stub resolvers do;
- replies are parsed once per distinct content: the same bytes (the ID aside) give the
  same message, shared and never mutated. A farm answering the same question the same
  way twenty times costs one parse.

No policy lives here: timeouts and what an error means stay with `WireTransport`.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Callable
from typing import cast

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.rcode

from mxsim.memo import IdentityMemo

MEMO_SIZE = 4096  # distinct replies (and query wires) remembered; oldest forgotten first
_HEADER = 12
# Rcodes a server may send with the question section left out (RFC 1035 leaves it open;
# dnspython's `is_response` accepts them too).
_BARE_RCODES = {dns.rcode.FORMERR, dns.rcode.SERVFAIL, dns.rcode.NOTIMP, dns.rcode.REFUSED}

Parsed = tuple[dns.message.Message, str | None]  # the reply, its NSID


def _question_end(wire: bytes) -> int:
    """Where the one question of a query ends (queries carry no compression)."""
    at = _HEADER
    while wire[at]:
        at += wire[at] + 1
    return at + 1 + 4  # the root label, then type and class


def nsid_of(message: dns.message.Message) -> str | None:
    for option in message.options:
        if isinstance(option, dns.edns.NSIDOption):
            return option.nsid.decode("utf-8", "replace")
    return None


class _Waiter:
    __slots__ = ("future", "question")

    def __init__(self, future: asyncio.Future[bytes], question: bytes) -> None:
        self.future = future
        self.question = question


def _expire(endpoint: _Endpoint, qid: int) -> None:
    waiter = endpoint.waiting.get(qid)
    if waiter is not None and not waiter.future.done():
        waiter.future.set_exception(TimeoutError())


class _Endpoint(asyncio.DatagramProtocol):
    """One connected socket: queries out, replies handed to whoever waits on their ID."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.sock: socket.socket | None = None  # the connected UDP socket under the transport
        self.waiting: dict[int, _Waiter] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's selector transport does not subclass DatagramTransport on every Python.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        if len(data) < _HEADER or not data[2] & 0x80:  # too short, or not a response (QR clear)
            return
        waiter = self.waiting.get(int.from_bytes(data[:2], "big"))
        if waiter is None or waiter.future.done():
            return  # late (its asker gave up) or never asked: dropped
        qdcount = int.from_bytes(data[4:6], "big")
        question = data[_HEADER:_HEADER + len(waiter.question)]
        if qdcount == 0 and data[3] & 0x0F in _BARE_RCODES:
            pass
        elif qdcount != 1 or question.lower() != waiter.question.lower():
            return  # an ID collision with another question: not ours
        waiter.future.set_result(data)

    def error_received(self, exc: Exception) -> None:
        # ICMP for this destination (port unreachable, ...): every query to it fails alike.
        for waiter in self.waiting.values():
            if not waiter.future.done():
                waiter.future.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        for waiter in self.waiting.values():
            if not waiter.future.done():
                waiter.future.set_exception(exc or ConnectionAbortedError("socket closed"))


class DnsExchanger:
    """Sends DNS queries (UDP on shared sockets, or TCP) and parses each distinct reply once.

    Sockets belong to the running event loop; `close()` (at the end of the loop's work)
    releases them, and a new loop gets new ones.
    """

    def __init__(self, postprocess: Callable[[dns.message.Message], None] | None = None) -> None:
        self._postprocess = postprocess  # applied once per distinct reply (lab address mapping)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._endpoints: dict[tuple[str, int], asyncio.Future[_Endpoint]] = {}
        self._replies: dict[bytes, Parsed] = {}
        self._queries: IdentityMemo[tuple[bytes, bytes]] = IdentityMemo(MEMO_SIZE)
        self._ids = random.Random()  # IDs only match replies; they never reach any output

    def close(self) -> None:
        """Release every socket; also after the loop they served has closed (then directly)."""
        alive = self._loop is not None and not self._loop.is_closed()
        for future in self._endpoints.values():
            if future.done() and not future.cancelled() and future.exception() is None:
                endpoint = future.result()
                if alive and endpoint.transport is not None:
                    endpoint.transport.close()
                elif endpoint.sock is not None:
                    endpoint.sock.close()
        self._endpoints.clear()
        self._loop = None

    async def _endpoint(self, where: str, port: int) -> _Endpoint:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self.close()
            self._loop = loop
        key = (where, port)
        future = self._endpoints.get(key)
        if future is None:
            # One creation per destination even when a hundred queries ask for it at once.
            future = loop.create_future()
            self._endpoints[key] = future
            try:
                # Our own connected socket (a UDP connect sends nothing): kept so that `close`
                # can release it even when the loop is gone.
                sock = socket.socket(socket.AF_INET6 if ":" in where else socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    sock.setblocking(False)
                    sock.connect(key)
                    _, endpoint = await loop.create_datagram_endpoint(_Endpoint, sock=sock)
                except BaseException:
                    sock.close()
                    raise
                endpoint.sock = sock
            except BaseException as error:
                del self._endpoints[key]
                future.set_exception(error)
                future.exception()  # retrieved: later askers make their own attempt
                raise
            future.set_result(endpoint)
            return endpoint
        if future.done():
            return future.result()
        return await asyncio.shield(future)

    def _wire(self, message: dns.message.Message) -> tuple[bytes, bytes]:
        """The query's wire form and its question section, made once per message object."""
        known = self._queries.get(message)
        if known is not None:
            return known
        wire = message.to_wire()
        return self._queries.put(message, (wire, wire[_HEADER:_question_end(wire)]))

    async def exchange(self, message: dns.message.Message, where: str, port: int, timeout: float) -> Parsed:
        """Send `message` to where:port and wait up to `timeout` s for its parsed reply.

        Raises TimeoutError, or the OSError the socket reported (refused, unreachable).
        """
        endpoint = await self._endpoint(where, port)
        wire, question = self._wire(message)
        qid = self._ids.getrandbits(16)
        while qid in endpoint.waiting:
            qid = self._ids.getrandbits(16)
        loop = asyncio.get_running_loop()
        endpoint.waiting[qid] = _Waiter(loop.create_future(), question)
        # A timer on the future itself: cheaper than wait_for, which wraps every await in a task.
        timer = loop.call_later(timeout, _expire, endpoint, qid)
        try:
            assert endpoint.transport is not None
            endpoint.transport.sendto(qid.to_bytes(2, "big") + wire[2:])
            while True:
                parsed = self._parse(await endpoint.waiting[qid].future)
                if parsed is not None:
                    return parsed
                # Unparsable: dropped, and the wait goes on for a usable reply.
                endpoint.waiting[qid].future = loop.create_future()
        finally:
            timer.cancel()
            endpoint.waiting.pop(qid, None)

    async def exchange_tcp(self, message: dns.message.Message, where: str, port: int, timeout: float) -> Parsed:
        """`exchange` over TCP: one connection, the length-prefixed query, one reply read back.

        Raises TimeoutError, ConnectionRefusedError, or EOFError when the server closes
        the stream without an answer.
        """
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(where, port)
            try:
                qid = self._ids.getrandbits(16)
                wire = qid.to_bytes(2, "big") + self._wire(message)[0][2:]
                writer.write(len(wire).to_bytes(2, "big") + wire)
                await writer.drain()
                while True:
                    size = int.from_bytes(await reader.readexactly(2), "big")
                    data = await reader.readexactly(size)
                    if size >= _HEADER and int.from_bytes(data[:2], "big") == qid:
                        parsed = self._parse(data)
                        if parsed is not None:
                            return parsed
                    # Another ID, or unparsable: not an answer to this query; read on until the timeout.
            finally:
                writer.close()

    def _parse(self, data: bytes) -> Parsed | None:
        key = data[2:]
        known = self._replies.get(key)
        if known is not None:
            return known
        try:
            message = dns.message.from_wire(data, raise_on_truncation=True)
        except dns.message.Truncated as truncated:
            message = truncated.message()  # TC: what could be read; the asker goes to TCP
        except dns.exception.DNSException:
            return None
        if self._postprocess is not None:
            self._postprocess(message)
        parsed = (message, nsid_of(message))
        if len(self._replies) >= MEMO_SIZE:
            del self._replies[next(iter(self._replies))]
        self._replies[key] = parsed
        return parsed
