"""The stub-resolver layer (docs/mta-behaviour.md#glibc, #libasr): what glibc and libasr make of a
resolver's reply.

The status rules are tested on real DNS messages given to the stub's own functions; the retry counts
through the real stub over the emulated resolver and the world.
"""

from __future__ import annotations

import random

import dns.name
import dns.rcode
import dns.rdatatype
import pytest
from factkit import dns_unanswered, reply, run_with_replies, trace

from mxsim.clock import VirtualClock
from mxsim.commands.trace import emulated_ask
from mxsim.mta.profiles import make_profile
from mxsim.mta.stub import Herrno, Library, Stub, StubAnswer, glibc_status, libasr_status
from mxsim.resolver.recursive import RecursiveResolver
from mxsim.scenario import load_scenario
from mxsim.transport.base import DnsReply
from mxsim.transport.model import ModelTransport
from mxsim.world import World

NAME = dns.name.from_text("example.org.")
MX = dns.rdatatype.MX
CNAME_ONLY = ("example.org. 300 CNAME target.example.net.",)


def message(rcode: dns.rcode.Rcode, records: tuple[str, ...] = ()) -> DnsReply:
    return reply(NAME, MX, rcode, *records)


@pytest.mark.parametrize(("rcode", "records", "expected"), [
    (dns.rcode.NOERROR, CNAME_ONLY, Herrno.SUCCESS),  # NOERROR and ANCOUNT>0, no MX: success
    (dns.rcode.NOERROR, ("example.org. 300 MX 10 mx.example.org.",), Herrno.SUCCESS),
    (dns.rcode.NOERROR, (), Herrno.NO_DATA),
    (dns.rcode.NXDOMAIN, (), Herrno.HOST_NOT_FOUND),
    (dns.rcode.NXDOMAIN, CNAME_ONLY, Herrno.HOST_NOT_FOUND),  # a dangling CNAME: RCODE != NOERROR
    (dns.rcode.SERVFAIL, (), Herrno.TRY_AGAIN),
    (dns.rcode.REFUSED, (), Herrno.TRY_AGAIN),  # send_dg moves on; all servers failed: TRY_AGAIN
    (dns.rcode.NOTIMP, (), Herrno.TRY_AGAIN),
    (dns.rcode.FORMERR, (), Herrno.NO_RECOVERY),
])
def test_glibc_status(rcode: dns.rcode.Rcode, records: tuple[str, ...], expected: Herrno) -> None:
    """glibc (docs/mta-behaviour.md#glibc): success only if RCODE=NOERROR and ANCOUNT != 0 (a
    CNAME-only answer is success); NXDOMAIN -> HOST_NOT_FOUND; NOERROR+0 -> NO_DATA;
    SERVFAIL/NOTIMP/REFUSED are not handed to the caller and end as TRY_AGAIN; FORMERR ->
    NO_RECOVERY (docs/mta-behaviour.md#glibc)."""
    assert glibc_status(message(rcode, records)) == expected


def test_glibc_no_answer_is_try_again() -> None:
    """glibc (docs/mta-behaviour.md#glibc): failure to get any answer (timeouts) -> TRY_AGAIN."""
    assert glibc_status(None) == Herrno.TRY_AGAIN


@pytest.mark.parametrize(("rcode", "records", "expected"), [
    (dns.rcode.NXDOMAIN, CNAME_ONLY, Herrno.SUCCESS),  # ANCOUNT>0: success whatever the RCODE
    (dns.rcode.SERVFAIL, CNAME_ONLY, Herrno.SUCCESS),
    (dns.rcode.REFUSED, CNAME_ONLY, Herrno.SUCCESS),
    (dns.rcode.NOERROR, CNAME_ONLY, Herrno.SUCCESS),
    (dns.rcode.NXDOMAIN, (), Herrno.HOST_NOT_FOUND),
    (dns.rcode.SERVFAIL, (), Herrno.TRY_AGAIN),
    (dns.rcode.NOERROR, (), Herrno.NO_DATA),
    (dns.rcode.REFUSED, (), Herrno.NO_RECOVERY),
    (dns.rcode.FORMERR, (), Herrno.NO_RECOVERY),
    (dns.rcode.NOTIMP, (), Herrno.NO_RECOVERY),
])
def test_libasr_status(rcode: dns.rcode.Rcode, records: tuple[str, ...], expected: Herrno) -> None:
    """libasr (docs/mta-behaviour.md#libasr): ANCOUNT>0 -> success, whatever the RCODE; else NXDOMAIN ->
    HOST_NOT_FOUND, SERVFAIL -> TRY_AGAIN, NOERROR -> NO_DATA, REFUSED/FORMERR/NOTIMP ->
    NO_RECOVERY."""
    assert libasr_status(message(rcode, records)) == expected


def test_libasr_no_answer_is_try_again() -> None:
    """libasr (docs/mta-behaviour.md#libasr): no answer at all -> TRY_AGAIN."""
    assert libasr_status(None) == Herrno.TRY_AGAIN


@pytest.mark.parametrize(("mta", "library"), [
    ("postfix", Library.GLIBC), ("exim", Library.GLIBC), ("sendmail", Library.GLIBC),
    ("opensmtpd", Library.LIBASR),
])
def test_each_mta_uses_its_library(mta: str, library: Library) -> None:
    """Which library each MTA uses (docs/mta-behaviour.md#glibc, #libasr): Postfix, Exim and
    Sendmail read DNS through glibc; OpenSMTPD through libasr."""
    assert make_profile(mta).library == library


# ---- retries: how often a question reaches the resolver -----------------------------------


def stub_over_world(source: str, library: Library, attempts: int) -> tuple[Stub, ModelTransport]:
    """The real stub over the emulated recursive resolver of a bundled scenario's world."""
    world = World(load_scenario(source))
    clock = VirtualClock()
    rng = random.Random(0)
    transport = ModelTransport(world, clock, rng)
    resolver = RecursiveResolver(world.root_hints, clock, rng)
    return Stub(emulated_ask(resolver), library, clock.now, attempts=attempts), transport


def ask_once(source: str, library: Library, attempts: int, name: str, rdtype: str) -> tuple[StubAnswer, int]:
    """One lookup; returns the library's answer and how many questions reached the resolver."""
    stub, transport = stub_over_world(source, library, attempts)
    answer = transport.run(stub.query(dns.name.from_text(name), dns.rdatatype.from_text(rdtype)))
    return answer, len(stub.log)


@pytest.mark.parametrize("attempts", [1, 2, 3])
def test_glibc_asks_servfail_attempts_times(attempts: int) -> None:
    """glibc (docs/mta-behaviour.md#glibc): a SERVFAIL reply is retried, `attempts` times (resolv.conf
    `options attempts:`), then TRY_AGAIN."""
    answer, sent = ask_once("servfail", Library.GLIBC, attempts, "example.org.", "MX")
    assert answer.status == Herrno.TRY_AGAIN
    assert sent == attempts


def test_glibc_asks_nxdomain_once() -> None:
    """glibc (docs/mta-behaviour.md#glibc): only rejected replies (SERVFAIL/REFUSED/NOTIMP) make
    send_dg move on; an NXDOMAIN is an answer, asked once."""
    answer, sent = ask_once("nxdomain", Library.GLIBC, 2, "retired.example.com.", "MX")
    assert answer.status == Herrno.HOST_NOT_FOUND
    assert sent == 1


def test_libasr_asks_servfail_once() -> None:
    """libasr (docs/mta-behaviour.md#libasr): SERVFAIL packets are returned to the caller, not
    retried."""
    answer, sent = ask_once("servfail", Library.LIBASR, 2, "example.org.", "MX")
    assert answer.status == Herrno.TRY_AGAIN
    assert sent == 1


def test_default_attempts_through_the_profiles() -> None:
    """glibc and libasr (docs/mta-behaviour.md#glibc, #libasr): with the default `attempts:2` a
    glibc MTA sends a SERVFAIL'd MX question twice, OpenSMTPD (libasr) once."""
    for mta, sent in (("postfix", 2), ("exim", 2), ("opensmtpd", 1)):
        asked = [(a.qname.to_text(), a.qtype) for a in trace("servfail", mta).dns]
        assert asked.count(("example.org.", dns.rdatatype.MX)) == sent, mta


@pytest.mark.parametrize(("mta", "expected"), [("postfix", 2), ("opensmtpd", 1)])
def test_refused_is_retried_by_glibc_only(mta: str, expected: int) -> None:
    """glibc and libasr (docs/mta-behaviour.md#glibc, #libasr): glibc moves on after REFUSED and
    retries (`attempts` = 2); libasr hands REFUSED to the caller at once."""
    asked: list[str] = []

    def refusing(qname: dns.name.Name, qtype: dns.rdatatype.RdataType) -> DnsReply:
        asked.append(dns.rdatatype.to_text(qtype))
        return reply(qname, qtype, dns.rcode.REFUSED)

    run_with_replies(mta, refusing, "user@example.org")
    assert asked.count("MX") == expected


# ---- through the world: what the MTAs see ------------------------------------------------


def test_dangling_cname_glibc_versus_libasr() -> None:
    """glibc (docs/mta-behaviour.md#glibc): a dangling CNAME (NXDOMAIN with the chain) is HOST_NOT_FOUND
    for glibc, and glibc hands the MTA no records; for libasr it is success (ANCOUNT>0)."""
    glibc = trace("dangling-cname", "postfix").dns[0]
    libasr = trace("dangling-cname", "opensmtpd").dns[0]
    assert glibc.rcode == dns.rcode.NXDOMAIN and libasr.rcode == dns.rcode.NXDOMAIN
    assert glibc.status == Herrno.HOST_NOT_FOUND
    assert glibc.records(dns.rdatatype.CNAME) == []
    assert libasr.status == Herrno.SUCCESS


def test_cname_only_answer_is_success_for_glibc() -> None:
    """glibc (docs/mta-behaviour.md#glibc): a CNAME-only answer (NOERROR, ANCOUNT >= 1, no MX)
    counts as success; the caller must notice there is no MX."""
    first = trace("wa-students-2017", "postfix", pins=("broken",)).dns[0]
    assert first.rcode == dns.rcode.NOERROR
    assert first.status == Herrno.SUCCESS
    assert first.records(dns.rdatatype.MX) == []
    assert first.records(dns.rdatatype.CNAME) != []


def test_glibc_gives_up_after_its_timeouts() -> None:
    """glibc (docs/mta-behaviour.md#glibc): per-server timeout 5 s, `attempts:2` (retrans << try):
    when the resolver does not answer, TRY_AGAIN comes after at most 5 + 10 s, and the MTA goes on
    then, not when the recursive resolver finally gives up."""
    delivery = trace(dns_unanswered(), "postfix")
    assert delivery.dns[0].status == Herrno.TRY_AGAIN
    assert delivery.elapsed <= 15.5


def test_libasr_gives_up_after_its_timeouts() -> None:
    """libasr (docs/mta-behaviour.md#libasr): per-server timeout 5 s, 4 rounds, doubling (5+10+20+40
    s): an unanswered question is TRY_AGAIN after at most 75 s."""
    delivery = trace(dns_unanswered(), "opensmtpd")
    assert delivery.dns[0].status == Herrno.TRY_AGAIN
    assert delivery.elapsed <= 75.5
