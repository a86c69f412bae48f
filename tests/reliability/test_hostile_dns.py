"""`check` against drawn hostile DNS worlds (tests/hostile/dns_server.py) on 127.0.0.0/8.

Each example draws ns1's misbehaviours, sometimes a second server with its own, sometimes a
change of ns1's while the check runs, and runs `check` in this process with short timeouts
(tests/reliability/hostile.py says what passes). The new misbehaviours are also run one by
one, and asked directly, so that each is known to do what it says.
"""

from __future__ import annotations

import socket
import struct
import time

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.hostile.dns_server import CNAME_CHAIN_LENGTH, LOOPBACK, NS_ADDRESS, OVERSIZED, Mode, hostile_dns
from tests.reliability.choice import DrawChooser
from tests.reliability.conftest import CI, assert_verdict
from tests.reliability.hostile import DOMAIN, draw_hostile_dns, run_hostile_dns

pytestmark = pytest.mark.lab
NEW = (Mode.GARBAGE, Mode.OVERSIZED_LENGTH, Mode.TCP_DRIP, Mode.CNAME_CHAIN, Mode.CNAME_LOOP,
       Mode.NXDOMAIN_WITH_ANSWERS, Mode.FLAPPING)
ASK_TIMEOUT = 0.5


@settings(CI, max_examples=8, deadline=None)
@given(st.data())
def test_check_of_a_hostile_dns_world_ends_and_never_claims_what_it_did_not_hear(data: st.DataObject) -> None:
    job, described = draw_hostile_dns(DrawChooser(data))
    assert_verdict(run_hostile_dns(job), described)


@pytest.mark.parametrize("mode", NEW, ids=str)
def test_check_of_each_new_misbehaviour_passes(mode: Mode) -> None:
    assert_verdict(run_hostile_dns({"modes": [mode.value], "dns_timeout": 0.2, "nsid": False}), f"ns1 {mode}")


def ask(server_port: int, rdtype: str, *, tcp: bool = False) -> dns.message.Message:
    query = dns.message.make_query(DOMAIN, rdtype)
    where = LOOPBACK[NS_ADDRESS]
    if tcp:
        return dns.query.tcp(query, where, timeout=ASK_TIMEOUT, port=server_port)
    return dns.query.udp(query, where, timeout=ASK_TIMEOUT, port=server_port)


def tcp_bytes(server_port: int, within: float) -> bytes:
    """What the server sends over TCP to an MX query in `within` seconds."""
    wire = dns.message.make_query(DOMAIN, "MX").to_wire()
    got = b""
    with socket.create_connection((LOOPBACK[NS_ADDRESS], server_port), timeout=within) as conn:
        conn.sendall(struct.pack("!H", len(wire)) + wire)
        until = time.monotonic() + within
        while time.monotonic() < until:
            conn.settimeout(max(0.01, until - time.monotonic()))
            try:
                chunk = conn.recv(65535)
            except TimeoutError:
                break
            if not chunk:
                break
            got += chunk
    return got


def test_the_new_misbehaviours_do_what_they_say() -> None:
    with hostile_dns(DOMAIN, [Mode.GARBAGE]) as server, pytest.raises((dns.exception.DNSException, ValueError)):
        ask(server.port, "MX")
    with hostile_dns(DOMAIN, [Mode.OVERSIZED_LENGTH]) as server:
        assert ask(server.port, "MX").flags & dns.flags.TC
        got = tcp_bytes(server.port, 0.5)
        assert struct.unpack("!H", got[:2])[0] == OVERSIZED and 12 < len(got) - 2 < OVERSIZED
    with hostile_dns(DOMAIN, [Mode.TCP_DRIP]) as server:
        got = tcp_bytes(server.port, 0.35)
        assert 1 <= len(got) <= 6, got  # a byte per 0.1 s, not the whole reply
    with hostile_dns(DOMAIN, [Mode.CNAME_CHAIN]) as server:
        assert ask(server.port, "MX").flags & dns.flags.TC  # too long for UDP
        answer = ask(server.port, "MX", tcp=True).answer
        assert [r.rdtype for r in answer].count(dns.rdatatype.CNAME) == CNAME_CHAIN_LENGTH
        assert answer[-1].rdtype == dns.rdatatype.MX
    with hostile_dns(DOMAIN, [Mode.CNAME_LOOP]) as server:
        answer = ask(server.port, "MX").answer
        assert [r.rdtype for r in answer] == [dns.rdatatype.CNAME] * 2
        assert answer[-1][0].target == answer[0].name
    with hostile_dns(DOMAIN, [Mode.NXDOMAIN_WITH_ANSWERS]) as server:
        reply = ask(server.port, "MX")
        assert reply.rcode() == dns.rcode.NXDOMAIN and reply.answer[0].rdtype == dns.rdatatype.MX
    with hostile_dns(DOMAIN, [Mode.FLAPPING]) as server:
        with pytest.raises(dns.exception.Timeout):
            ask(server.port, "MX")
        assert ask(server.port, "MX").answer
