"""The wire transport's DNS exchanges (`transport.dns_exchange`) against real sockets on 127.0.0.1.

A small server in each test answers as told: in another order, with a wrong ID or question,
with garbage first, not at all, or over TCP; the exchanger must hand each asker its own
reply, drop what is not one, and say how an exchange failed by the exception's type.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable

import dns.flags
import dns.message
import dns.name
import dns.rdatatype
import dns.rrset
import pytest

from mxsim.transport.dns_exchange import DnsExchanger

Reply = Callable[[dns.message.Message, bytes], list[bytes]]  # query, wire -> datagrams to send back


def _answer(query: dns.message.Message, address: str = "192.0.2.1") -> dns.message.Message:
    response = dns.message.make_response(query)
    response.answer.append(dns.rrset.from_text(query.question[0].name, 300, "IN", "A", address))
    return response


class _UdpServer(asyncio.DatagramProtocol):
    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.transport: asyncio.DatagramTransport | None = None
        self.seen: list[bytes] = []
        self.sent: list[bytes] = []  # every datagram sent back, in order

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.seen.append(data)
        assert self.transport is not None
        for datagram in self.reply(dns.message.from_wire(data), data):
            self.sent.append(datagram)
            self.transport.sendto(datagram, addr)


async def _serving(reply: Reply, body: Callable[[int, _UdpServer], Awaitable[None]]) -> None:
    loop = asyncio.get_running_loop()
    transport, server = await loop.create_datagram_endpoint(lambda: _UdpServer(reply), local_addr=("127.0.0.1", 0))
    try:
        await body(transport.get_extra_info("sockname")[1], server)
    finally:
        transport.close()


def _query(name: str) -> dns.message.Message:
    return dns.message.make_query(name, dns.rdatatype.A)


def test_each_asker_gets_its_own_reply_over_one_socket() -> None:
    """Two hundred questions at once on one socket; the server holds them and answers in reverse."""
    held: list[tuple[dns.message.Message, bytes]] = []

    def reply(query: dns.message.Message, wire: bytes) -> list[bytes]:
        held.append((query, wire))
        if len(held) < 200:
            return []
        return [_answer(q, f"192.0.2.{i % 250 + 1}").to_wire() for i, (q, _) in reversed(list(enumerate(held)))]

    async def body(port: int, server: _UdpServer) -> None:
        exchanger = DnsExchanger()
        names = [f"host{i}.example." for i in range(200)]
        replies = await asyncio.gather(*(exchanger.exchange(_query(n), "127.0.0.1", port, 5.0) for n in names))
        for name, (message, _nsid, _took) in zip(names, replies, strict=True):
            assert message.answer[0].name == dns.name.from_text(name)
        ids = {int.from_bytes(w[:2], "big") for w in server.seen}
        assert len(ids) == 200  # one ID per question in flight
        exchanger.close()

    asyncio.run(_serving(reply, body))


def test_a_reply_with_another_id_question_or_garbage_is_dropped_and_the_wait_goes_on() -> None:
    def reply(query: dns.message.Message, wire: bytes) -> list[bytes]:
        good = _answer(query).to_wire()
        other_id = bytes([wire[0] ^ 0xFF, wire[1]]) + good[2:]
        other_question = _answer(_query("elsewhere.example.")).to_wire()
        other_question = wire[:2] + other_question[2:]
        garbage = wire[:2] + b"\x81\x80\x00\x01\x00\x05"  # a header that promises what is not there
        return [other_id, other_question, garbage, good]

    async def body(port: int, server: _UdpServer) -> None:
        exchanger = DnsExchanger()
        message, _, _ = await exchanger.exchange(_query("www.example."), "127.0.0.1", port, 5.0)
        assert str(message.answer[0][0]) == "192.0.2.1"
        assert message.answer[0].name == dns.name.from_text("www.example.")
        exchanger.close()

    asyncio.run(_serving(reply, body))


def test_silence_is_a_timeout() -> None:
    async def body(port: int, server: _UdpServer) -> None:
        exchanger = DnsExchanger()
        with pytest.raises(TimeoutError):
            await exchanger.exchange(_query("www.example."), "127.0.0.1", port, 0.2)
        assert len(server.seen) == 1
        exchanger.close()

    asyncio.run(_serving(lambda query, wire: [], body))


def test_the_same_reply_is_parsed_once_and_shared() -> None:
    async def body(port: int, server: _UdpServer) -> None:
        exchanger = DnsExchanger()
        query = _query("www.example.")
        first, _, _ = await exchanger.exchange(query, "127.0.0.1", port, 5.0)
        second, _, _ = await exchanger.exchange(query, "127.0.0.1", port, 5.0)
        other, _, _ = await exchanger.exchange(_query("mail.example."), "127.0.0.1", port, 5.0)
        assert first is second  # other IDs on the wire, the same content: one parse
        assert other is not first
        assert server.seen[0][:2] != server.seen[1][:2]
        exchanger.close()

    asyncio.run(_serving(lambda query, wire: [_answer(query).to_wire()], body))


def test_replies_differing_only_in_rd_are_parsed_once_each_with_its_own_flags() -> None:
    parsed: list[dns.message.Message] = []

    async def body(port: int, server: _UdpServer) -> None:
        exchanger = DnsExchanger(parsed.append)
        plain = _query("www.example.")
        plain.flags &= ~dns.flags.RD
        rd_set, _, _ = await exchanger.exchange(_query("www.example."), "127.0.0.1", port, 5.0)
        rd_clear, _, _ = await exchanger.exchange(plain, "127.0.0.1", port, 5.0)
        assert len(parsed) == 1  # the second reply's sections came from the first parse
        assert rd_set.flags & dns.flags.RD and not rd_clear.flags & dns.flags.RD
        for reply, wire in zip((rd_set, rd_clear), server.sent, strict=True):
            full = dns.message.from_wire(wire)
            assert reply.flags == full.flags and reply.rcode() == full.rcode()
            assert reply.question == full.question and reply.answer == full.answer
            assert reply.authority == full.authority and reply.additional == full.additional
        other, _, _ = await exchanger.exchange(_query("mail.example."), "127.0.0.1", port, 5.0)
        assert len(parsed) == 2 and other.answer != rd_set.answer  # another question: parsed anew
        exchanger.close()

    def reply(query: dns.message.Message, wire: bytes) -> list[bytes]:
        return [_answer(query).to_wire()]

    asyncio.run(_serving(reply, body))


def test_nothing_listening_is_a_refusal() -> None:
    """A connected UDP socket hears the ICMP port unreachable, as dnspython's does."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The port is free again: nothing listens there.

    async def main() -> None:
        exchanger = DnsExchanger()
        with pytest.raises(ConnectionRefusedError):
            await exchanger.exchange(_query("www.example."), "127.0.0.1", port, 2.0)
        exchanger.close()

    asyncio.run(main())


def test_tcp_exchange_and_a_server_that_closes_unanswered() -> None:
    async def main() -> None:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            size = int.from_bytes(await reader.readexactly(2), "big")
            query = dns.message.from_wire(await reader.readexactly(size))
            if query.question[0].name == dns.name.from_text("closed.example."):
                writer.close()
                return
            out = _answer(query, "192.0.2.53").to_wire()
            writer.write(len(out).to_bytes(2, "big") + out)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        exchanger = DnsExchanger()
        try:
            message, _, _ = await exchanger.exchange_tcp(_query("www.example."), "127.0.0.1", port, 5.0)
            assert str(message.answer[0][0]) == "192.0.2.53"
            with pytest.raises(EOFError):
                await exchanger.exchange_tcp(_query("closed.example."), "127.0.0.1", port, 5.0)
        finally:
            server.close()
            await server.wait_closed()
            exchanger.close()

    asyncio.run(main())


def test_postprocess_runs_once_per_distinct_reply() -> None:
    calls: list[dns.message.Message] = []

    async def body(port: int, server: _UdpServer) -> None:
        exchanger = DnsExchanger(calls.append)
        for _ in range(5):
            await exchanger.exchange(_query("www.example."), "127.0.0.1", port, 5.0)
        exchanger.close()

    asyncio.run(_serving(lambda query, wire: [_answer(query).to_wire()], body))
    assert len(calls) == 1


def test_a_new_event_loop_gets_new_sockets_and_the_old_ones_are_released() -> None:
    """A transport used by two `asyncio.run`s in turn, the first never closed by its owner."""
    responder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    responder.bind(("127.0.0.1", 0))
    responder.settimeout(5.0)
    port = responder.getsockname()[1]
    exchanger = DnsExchanger()

    async def ask() -> dns.message.Message:
        loop = asyncio.get_running_loop()
        asking = asyncio.ensure_future(exchanger.exchange(_query("www.example."), "127.0.0.1", port, 5.0))
        wire, peer = await loop.run_in_executor(None, responder.recvfrom, 512)
        responder.sendto(_answer(dns.message.from_wire(wire)).to_wire(), peer)
        message, _, _ = await asking
        return message

    try:
        first = asyncio.run(ask())
        second = asyncio.run(ask())  # the first loop is closed: its socket is released directly
        assert first is second  # same reply content, one parse, across loops
    finally:
        exchanger.close()
        responder.close()


def test_the_round_trip_is_the_arrival_not_when_the_loop_got_to_it() -> None:
    """The reply lands while the event loop is busy elsewhere for 0.3 s: the exchange says it
    took about the loopback round trip (kernel arrival stamp), not the 0.3 s the asker waited."""
    responder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    responder.bind(("127.0.0.1", 0))
    responder.settimeout(5.0)
    port = responder.getsockname()[1]

    def answer_once() -> None:
        wire, peer = responder.recvfrom(512)
        responder.sendto(_answer(dns.message.from_wire(wire)).to_wire(), peer)

    answering = threading.Thread(target=answer_once, daemon=True)
    answering.start()

    async def ask() -> tuple[float, float]:
        exchanger = DnsExchanger()
        started = time.monotonic()
        asking = asyncio.ensure_future(exchanger.exchange(_query("www.example."), "127.0.0.1", port, 5.0))
        await asyncio.sleep(0)  # the query leaves
        answering.join(5.0)  # the reply is in the socket by now ...
        time.sleep(0.3)  # ... while the loop is held by other work
        _message, _nsid, took = await asking
        exchanger.close()
        return took, time.monotonic() - started

    try:
        took, waited = asyncio.run(ask())
    finally:
        responder.close()
    assert waited >= 0.3
    assert 0 <= took < 0.1


def _tcp_server(replies: Reply, *, delay: float = 0.0, hold: float = 1.0) -> tuple[socket.socket, threading.Thread]:
    """A TCP server on 127.0.0.1 that reads one query and sends back `replies(query, wire)`,
    each length-prefixed, after `delay` s, then holds the stream open for `hold` s (the
    answer, not the close, must end the exchange)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(5.0)

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.settimeout(5.0)
            size = int.from_bytes(connection.recv(2), "big")
            wire = b""
            while len(wire) < size:
                wire += connection.recv(size - len(wire))
            time.sleep(delay)
            for out in replies(dns.message.from_wire(wire), wire):
                connection.sendall(len(out).to_bytes(2, "big") + out)
            time.sleep(hold)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread


def test_a_tcp_reply_read_in_time_is_an_answer_even_when_the_loop_was_busy_past_the_timeout() -> None:
    """The server answers after 50 ms; the asker's loop is held for 0.3 s from 10 ms on, past its
    0.15 s timeout. The reply was in the socket before the timer fell due, and is read first in
    the loop's next turn: an answer, as a resolver whose process was descheduled would see it."""
    # The reply lands while the asker's loop is held.
    listener, answering = _tcp_server(lambda query, wire: [_answer(query, "192.0.2.53").to_wire()],
                                      delay=0.05, hold=0.5)
    port = listener.getsockname()[1]

    async def ask() -> str:
        exchanger = DnsExchanger()
        asking = asyncio.ensure_future(exchanger.exchange_tcp(_query("www.example."), "127.0.0.1", port, 0.15))
        await asyncio.sleep(0.01)  # connected and the query sent by now (loopback)
        time.sleep(0.3)  # other work holds the loop past the timeout
        message, _nsid, _took = await asking
        exchanger.close()
        return str(message.answer[0][0])

    try:
        assert asyncio.run(ask()) == "192.0.2.53"
    finally:
        answering.join(5.0)
        listener.close()


def test_tcp_to_a_port_nobody_listens_on_is_refused_and_silence_times_out() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts (the kernel does) and never answers

    async def main() -> None:
        exchanger = DnsExchanger()
        with pytest.raises(ConnectionRefusedError):
            await exchanger.exchange_tcp(_query("www.example."), "127.0.0.1", free, 2.0)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await exchanger.exchange_tcp(_query("www.example."), "127.0.0.1", silent.getsockname()[1], 0.2)
        assert 0.15 < time.monotonic() - started < 2.0
        exchanger.close()

    try:
        asyncio.run(main())
    finally:
        silent.close()


def _not_answers(query: dns.message.Message, wire: bytes) -> list[bytes]:
    """Replies that carry the query's ID but do not answer it: another question, QR clear
    (the query echoed), another ID, and bytes that cannot be parsed."""
    other_question = _answer(_query("elsewhere.example.")).to_wire()
    echoed = bytearray(_answer(query).to_wire())
    echoed[2] &= 0x7F  # QR clear
    other_id = _answer(query).to_wire()
    return [wire[:2] + other_question[2:], bytes(echoed), bytes([wire[0] ^ 0xFF, wire[1]]) + other_id[2:],
            _broken(wire)]


def _broken(wire: bytes) -> bytes:
    """The query turned into a response that promises five answers and holds none."""
    return wire[:2] + b"\x81\x80" + wire[4:6] + b"\x00\x05" + wire[8:]


def test_tcp_takes_only_a_reply_to_the_query_asked() -> None:
    """Over TCP as over UDP: the ID, QR set and the question must match; the rest is dropped
    (and counted) and the answer that follows is taken."""
    listener, thread = _tcp_server(lambda query, wire: [*_not_answers(query, wire), _answer(query).to_wire()])

    async def ask() -> dns.message.Message:
        exchanger = DnsExchanger()
        message, _, _ = await exchanger.exchange_tcp(_query("www.example."), "127.0.0.1",
                                                     listener.getsockname()[1], 3.0)
        assert dict(exchanger.dropped) == {("127.0.0.1", "another question"): 1, ("127.0.0.1", "not a response"): 1,
                                           ("127.0.0.1", "another ID"): 1, ("127.0.0.1", "unparsable"): 1}
        exchanger.close()
        return message

    try:
        message = asyncio.run(ask())
    finally:
        thread.join(5.0)
        listener.close()
    assert message.question[0].name == dns.name.from_text("www.example.")
    assert str(message.answer[0][0]) == "192.0.2.1"


def test_tcp_replies_that_answer_another_question_are_no_answer() -> None:
    """A server that only ever answers another question: the wait ends in a timeout, never
    in that answer (it would read as the asked name's data)."""
    listener, thread = _tcp_server(_not_answers)

    async def ask() -> None:
        exchanger = DnsExchanger()
        with pytest.raises(TimeoutError):
            await exchanger.exchange_tcp(_query("www.example."), "127.0.0.1", listener.getsockname()[1], 0.3)
        assert sum(exchanger.dropped.values()) == 4
        exchanger.close()

    try:
        asyncio.run(ask())
    finally:
        thread.join(5.0)
        listener.close()


def test_udp_replies_dropped_are_counted_by_address_and_reason() -> None:
    def reply(query: dns.message.Message, wire: bytes) -> list[bytes]:
        other_question = _answer(_query("elsewhere.example.")).to_wire()
        return [wire[:2] + other_question[2:], _broken(wire)]

    async def body(port: int, server: _UdpServer) -> None:
        exchanger = DnsExchanger()
        with pytest.raises(TimeoutError):
            await exchanger.exchange(_query("www.example."), "127.0.0.1", port, 0.3)
        assert dict(exchanger.dropped) == {("127.0.0.1", "another question"): 1, ("127.0.0.1", "unparsable"): 1}
        exchanger.close()

    asyncio.run(_serving(reply, body))
