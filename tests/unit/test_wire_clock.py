"""The wire transport's engine clock: what the exchanges took, not what the event loop did.

A wire trace runs five MTAs on one event loop with timeouts scaled by 0.02. With wall time
as the engine's clock, every millisecond one MTA spends computing was fifty for the others,
and a stub could give up on an answer that had come back in time (CI saw it once).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import dns.message
import dns.rdatatype
import dns.rrset

from mxsim.clock import VirtualClock
from mxsim.lab.addressmap import ensure_loopback
from mxsim.transport.base import DnsExchange, DnsResult, Step
from mxsim.transport.destinations import LiveAddresses
from mxsim.transport.wire import WireTransport, run_all

SCALE = 0.02


def _responder(answer: bool) -> tuple[socket.socket, threading.Thread]:
    """A UDP server on 127.0.0.1 that answers (or swallows) queries until its socket closes."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.05)

    def serve() -> None:
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            try:
                wire, peer = sock.recvfrom(512)
            except TimeoutError:
                continue
            except OSError:
                return  # closed: the test is over
            if answer:
                reply = dns.message.make_response(dns.message.from_wire(wire))
                reply.answer.append(dns.rrset.from_text(reply.question[0].name, 60, "IN", "A", "192.0.2.1"))
                sock.sendto(reply.to_wire(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return sock, thread


def _asks(times: int, timeout: float) -> Step[list[DnsResult]]:
    results = []
    for n in range(times):
        query = dns.message.make_query(f"host{n}.example.", dns.rdatatype.A)
        result: DnsResult = yield DnsExchange("127.0.0.1", query, False, timeout)
        results.append(result)
    return results


def _run(answer: bool, timeout: float) -> tuple[list[DnsResult], float, float]:
    sock, thread = _responder(answer)
    clock = VirtualClock()
    transport = WireTransport(
        LiveAddresses(ensure_loopback), dns_port=sock.getsockname()[1], time_scale=SCALE, clock=clock,
    )
    started = time.monotonic()

    async def asker() -> list[DnsResult]:
        return await transport.run(_asks(5, timeout))

    async def busy_neighbour() -> list[DnsResult]:
        for _ in range(10):  # another MTA's work holding the loop: 10 x 20 ms
            time.sleep(0.02)
            await asyncio.sleep(0)
        return []

    try:
        results = run_all([asker, busy_neighbour], transport.exchanger.close)[0]
    finally:
        sock.close()
        thread.join(5.0)
    return results, clock.now(), time.monotonic() - started


def test_answers_advance_the_engine_clock_by_their_round_trips_only() -> None:
    results, engine_time, wall = _run(answer=True, timeout=5.0)
    assert [r.error for r in results] == [None] * 5
    assert wall > 0.15  # the neighbour held the loop ...
    # ... which, scaled back, would be over 7.5 engine seconds; five loopback round trips are far less.
    assert engine_time == sum(r.elapsed for r in results)
    assert engine_time < 1.0


def test_a_timeout_advances_the_engine_clock_by_exactly_the_timeout() -> None:
    results, engine_time, _wall = _run(answer=False, timeout=0.5)
    assert [r.error.value if r.error else None for r in results] == ["timeout"] * 5
    assert engine_time == 5 * 0.5
