"""The running lab's resources stay bounded: its query cache under a flood, its
descriptors under idle connections, its log under repeated errors; idle SMTP
clients are sent away."""

from __future__ import annotations

import io
import json
import logging
import random
import resource
import smtplib
import socket
import struct
import time
import tracemalloc
from collections.abc import Mapping
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from mxsim.lab import dns_server
from mxsim.lab.addressmap import AddressMap
from mxsim.lab.dns_server import DnsCounters, DnsService
from mxsim.scenario import load_scenario
from mxsim.world import World
from tests.lab.conftest import WIRE_SCENARIO, running_lab
from tests.lab.tools import up

pytestmark = pytest.mark.lab

ACCEPT = "192.0.2.25"
PLAIN = "192.0.2.32"
SIX = "2001:db8::25"
NS = "192.0.2.53"  # ns1.example.org: answers over UDP and TCP
FLOOD = 6000  # distinct questions: more than the cache holds, spread over every address
BATCH = 200
FLOOD_DEADLINE = 120.0
TCP_ESTABLISHED = 1
CONNECTIONS = 1100
DESCRIPTORS = 1024  # the lab's limit in the descriptor test, a common default
LOG_BOUND = 16 << 10
DISTINCT = 3000  # distinct parseable questions: past the cache's entry bound
FOOTPRINT = 3 << 20  # what the cache may really cost after them, however it counts
FLAG_WORDS = 3000  # distinct header flags words, all in queries
FLAG_PSEUDO_MEMBERS = 2 << 10  # 7 flag bits and 4 opcode bits, for the queries and their answers


def _handled(counters: Mapping[str, DnsCounters]) -> int:
    return sum(c.queries + c.runts for c in counters.values())


def test_a_flood_of_distinct_questions_keeps_the_query_cache_bounded() -> None:
    """Distinct questions to every server address, from many loopback sources and ports."""
    rng = random.Random(11)
    with running_lab(World(load_scenario(WIRE_SCENARIO))) as lab:
        service = lab.servers.dns_service
        targets = [(address, lab.dns_port) for address in service.addresses()]
        senders = []
        try:
            for _ in range(32):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                senders.append(sock)
                sock.bind((f"127.{rng.randrange(60, 250)}.{rng.randrange(256)}.{rng.randrange(1, 255)}", 0))
            start = _handled(service.counters)
            deadline = time.monotonic() + FLOOD_DEADLINE
            sent = 0
            while sent < FLOOD and time.monotonic() < deadline:
                for _ in range(BATCH):
                    name = f"{rng.getrandbits(48):x}.flood.example.org"
                    query = dns.message.make_query(name, rng.choice(["A", "AAAA", "MX", "TXT", "NS"]))
                    wire = query.to_wire()
                    if sent % 10 == 0:  # and some that parse as nothing at all
                        wire = struct.pack("!H", rng.getrandbits(16)) + rng.randbytes(rng.randrange(0, 40))
                    rng.choice(senders).sendto(wire, rng.choice(targets))
                    sent += 1
                # Pace to the server, so the socket buffers do not drop the flood.
                while time.monotonic() < deadline and _handled(service.counters) - start < sent - BATCH:
                    time.sleep(0.01)
        finally:
            for sock in senders:
                sock.close()
        handled = _handled(service.counters) - start
        assert handled > dns_server.MAX_CACHED_QUERIES + 1000, f"only {handled} of {sent} datagrams were handled"
        cache = service.cache_stats()
        assert 0 < cache["queries"] <= dns_server.MAX_CACHED_QUERIES
        assert cache["bytes"] <= dns_server.MAX_CACHED_BYTES
        assert lab.ask(NS, "accept.example.org", "A").rcode() == dns.rcode.NOERROR


def test_the_query_cache_really_costs_no_more_than_its_bound() -> None:
    """Measured by the allocator, not by the cache's own count: a parsed message held
    per entry cost kilobytes each, far past what the byte bound said."""
    rng = random.Random(12)
    world = World(load_scenario(WIRE_SCENARIO))
    service = DnsService(world, AddressMap.build(world))
    lab = service.map.lab(NS)
    tracemalloc.start()
    try:
        before, _peak = tracemalloc.get_traced_memory()
        for _ in range(DISTINCT):
            name = f"{rng.getrandbits(48):x}.flood.example.org"
            wire = dns.message.make_query(name, rng.choice(["A", "MX", "TXT"]), use_edns=0).to_wire()
            assert service.answer(lab, wire, tcp=False).wire is not None
        after, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    cache = service.cache_stats()
    assert after - before < FOOTPRINT, f"{after - before} bytes for a cache that counts {cache['bytes']}"
    assert cache["queries"] == min(DISTINCT, dns_server.MAX_CACHED_QUERIES)


def test_distinct_header_flags_do_not_grow_the_parsers_flag_table() -> None:
    """dnspython makes an enum.Flag of each query's flags word, and Python keeps every
    combination of unknown bits it ever saw: the RCODE and Z bits of a query must not
    reach it, or each distinct word would stay in memory for good."""
    rng = random.Random(13)
    world = World(load_scenario(WIRE_SCENARIO))
    service = DnsService(world, AddressMap.build(world))
    lab = service.map.lab(NS)
    body = dns.message.make_query("accept.example.org", "A").to_wire()[4:]
    table = dns.flags.Flag._value2member_map_
    before = len(table)
    for flags in rng.sample(range(0x8000), FLAG_WORDS):  # QR clear: all of them queries
        service.answer(lab, struct.pack("!HH", rng.getrandbits(16), flags) + body, tcp=False)
    assert len(table) - before <= FLAG_PSEUDO_MEMBERS


def test_an_idle_smtp_client_is_sent_away_after_the_idle_timeout(tmp_path: Path) -> None:
    """`lab up --smtp-idle-timeout`: Postfix's 421 when smtpd_timeout runs out, then the close."""
    state = tmp_path / "lab"
    info = up(WIRE_SCENARIO, state, smtp_idle_timeout=1.0)
    try:
        with socket.create_connection((info.address_map.lab(ACCEPT), info.smtp_port), 5) as sock:
            reader = sock.makefile("rb")
            assert reader.readline().startswith(b"220 ")
            started = time.monotonic()
            goodbye = reader.readline()
            waited = time.monotonic() - started
            assert goodbye == b"421 4.4.2 accept.example.org Error: timeout exceeded\r\n"
            assert reader.readline() == b""
        assert 0.9 <= waited < 4.0
    finally:
        from mxsim.lab.runner import lab_down

        lab_down(state)


def _state(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]


def test_a_client_that_never_reads_its_replies_is_closed() -> None:
    """Commands sent without reading a reply: once the server cannot send, it waits no longer
    than the idle timeout (the wait for a client to take a reply is bounded too)."""
    with running_lab(World(load_scenario(WIRE_SCENARIO)), command_timeout=1.0) as lab:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.settimeout(5)
            sock.connect((lab.lab(PLAIN), lab.smtp_port))
            sock.setblocking(False)
            command = b"EHLO " + b"x" * 900 + b"\r\n"  # each reply is over 1 KB
            deadline = time.monotonic() + 20
            stuck_since: float | None = None
            while time.monotonic() < deadline:
                try:
                    sock.send(command)
                    stuck_since = None
                except BlockingIOError:  # the server stopped reading: its replies have no room
                    stuck_since = stuck_since or time.monotonic()
                    if time.monotonic() - stuck_since > 0.5:
                        break
                    time.sleep(0.01)
            assert stuck_since is not None, "the server kept reading; the test filled nothing"
            closed_by = time.monotonic() + 6
            while time.monotonic() < closed_by and _state(sock) == TCP_ESTABLISHED:
                time.sleep(0.05)
            assert _state(sock) != TCP_ESTABLISHED, "the server still holds the connection"
        finally:
            sock.close()
        with smtplib.SMTP(lab.lab(ACCEPT), lab.smtp_port, timeout=5) as client:
            assert client.noop()[0] == 250


def _stats(state: Path) -> dict[str, object]:
    text = (state / "stats.json").read_text()
    data = json.loads(text)
    assert isinstance(data, dict)
    return data


def test_1100_idle_connections_do_not_take_the_lab_down(tmp_path: Path) -> None:
    """With 1,024 descriptors, 1,100 idle TCP connections (SMTP and DNS): the excess is
    refused, DNS over UDP answers, stats.json stays fresh and the log stays short."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = CONNECTIONS + 300
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.fail(f"this test needs {need} descriptors for its clients; the hard limit is {hard}")
    state = tmp_path / "lab"
    resource.setrlimit(resource.RLIMIT_NOFILE, (DESCRIPTORS, hard))  # inherited by the lab
    try:
        info = up(WIRE_SCENARIO, state)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, need), hard))
    clients: list[socket.socket] = []
    try:
        targets = [(info.address_map.lab(real), info.smtp_port) for real in (ACCEPT, PLAIN, SIX)]
        targets.append((info.address_map.lab(NS), info.dns_port))
        deadline = time.monotonic() + 60
        while len(clients) < CONNECTIONS and time.monotonic() < deadline:
            clients.append(socket.create_connection(targets[len(clients) % len(targets)], 5))
        assert len(clients) == CONNECTIONS
        time.sleep(2)  # let the lab take them all in, and log whatever it logs

        reply = dns.query.udp(dns.message.make_query("accept.example.org", "A"),
                              info.address_map.lab(NS), timeout=2, port=info.dns_port)
        assert reply.rcode() == dns.rcode.NOERROR and reply.answer
        before = _stats(state)["time"]
        fresh = time.monotonic() + 5
        while time.monotonic() < fresh and _stats(state)["time"] == before:
            time.sleep(0.1)
        stats = _stats(state)
        assert stats["time"] != before, "stats.json is no longer refreshed"
        connections = stats["connections"]
        assert isinstance(connections, dict)
        assert connections["limit"] < DESCRIPTORS and connections["open"] <= connections["limit"]
        assert connections["refused"] >= CONNECTIONS - connections["limit"]
        log = (state / "serve.log").read_text()
        assert len(log) < LOG_BOUND, log[:2000]
        assert log.count("refusing connections") == 1
        assert "Too many open files" not in log  # refused before the descriptors ran out
    finally:
        for sock in clients:
            sock.close()
        try:
            # Slots come back as clients leave: the lab sees each close when it next reads
            # that connection, so a new client may meet 421 for a moment after 1,100 closes.
            back = time.monotonic() + 20
            while True:
                try:
                    with smtplib.SMTP(info.address_map.lab(ACCEPT), info.smtp_port, timeout=5) as client:
                        assert client.noop()[0] == 250
                    break
                except smtplib.SMTPConnectError as busy:
                    assert busy.smtp_code == 421, busy
                    assert time.monotonic() < back, "no slot came back within 20 s of the clients leaving"
                    time.sleep(0.2)
        finally:
            from mxsim.lab.runner import lab_down

            lab_down(state)


def test_a_repeated_error_is_logged_once_then_counted() -> None:
    from mxsim.lab.repeats import RepeatFilter

    clock = [0.0]
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    repeats = RepeatFilter(window=60.0, clock=lambda: clock[0])
    handler.addFilter(repeats)
    logger = logging.getLogger("tests.lab.repeats")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for n in range(1000):
            try:
                raise OSError(24, "Too many open files")
            except OSError:
                logger.exception("accept failed at %s", f"127.53.0.{n % 7}")
        logger.warning("another kind")
        repeats.flush()
        assert out.getvalue().count("Traceback") == 1
        clock[0] = 61.0
        repeats.flush()
        repeats.flush()
    finally:
        logger.removeHandler(handler)
    lines = [line for line in out.getvalue().splitlines() if not line.startswith((" ", "Traceback", "OSError"))]
    assert lines == [
        "accept failed at 127.53.0.0",
        "another kind",
        "accept failed at 127.53.0.0: 999 more time(s) in the last 61 s",
    ]
