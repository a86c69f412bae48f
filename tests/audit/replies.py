"""Hand-built replies and samples for the pure checks (no sockets): dnspython messages in,
`Sample`s out, as the probes would have produced them."""

from __future__ import annotations

from collections.abc import Iterable

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from mxsim.audit.behaviour import Analysis, analyse
from mxsim.audit.probes import Delegation, Observed, Query, Sample
from mxsim.transport.base import NetError

DOMAIN = dns.name.from_text("example.org.")
NS1 = dns.name.from_text("ns1.example.net.")
NS2 = dns.name.from_text("ns2.example.net.")
A1, A2 = "192.0.2.53", "198.51.100.53"
ZONE = {
    "MX": ["example.org. 3600 MX 10 mx.example.org."],
    "TXT": ['example.org. 3600 TXT "v=spf1 mx -all"'],
    "SOA": ["example.org. 3600 SOA ns1.example.net. hostmaster.example.org. 7 7200 3600 1209600 300"],
    "NS": ["example.org. 3600 NS ns1.example.net.", "example.org. 3600 NS ns2.example.net."],
    "A": [],
    "AAAA": [],
}
TYPES = tuple(ZONE)


def observed(qtype: str, records: Iterable[str], *, rcode: dns.rcode.Rcode = dns.rcode.NOERROR, aa: bool = True,
             nsid: str | None = None, at: float = 0.0, authority: Iterable[str] = ()) -> Observed:
    query = dns.message.make_query(DOMAIN, qtype)
    message = dns.message.make_response(query)
    message.set_rcode(rcode)
    if aa:
        message.flags |= dns.flags.AA
    grouped: dict[tuple[str, str], tuple[int, list[str]]] = {}
    for line in records:
        owner, ttl, rdtype, rdata = line.split(None, 3)
        grouped.setdefault((owner, rdtype), (int(ttl), []))[1].append(rdata)
    for (owner, rdtype), (ttl, rdatas) in grouped.items():
        message.answer.append(dns.rrset.from_text(owner, ttl, "IN", rdtype, *rdatas))
    for line in authority:
        owner, ttl, rdtype, rdata = line.split(None, 3)
        message.authority.append(dns.rrset.from_text(owner, int(ttl), "IN", rdtype, rdata))
    return Observed.of(message, nsid, at, True)


def sample(address: str, qtype: str, reply: Observed | None, *, rd: bool = False,
           failures: tuple[NetError, ...] = ()) -> Sample:
    return Sample(Query(address, DOMAIN, dns.rdatatype.from_text(qtype), rd), reply, failures)


def healthy(address: str, *, nsid: str | None = "ns-a", rounds: int = 4, at: float = 0.0) -> list[Sample]:
    found = []
    for round_ in range(rounds):
        for qtype in TYPES:
            for rd in (False, True):
                found.append(sample(address, qtype, observed(qtype, ZONE[qtype], nsid=nsid, at=at + round_), rd=rd))
    return found


def analysed(samples: list[Sample], addresses: dict[str, list[dns.name.Name]] | None = None) -> Analysis:
    servers = addresses or {A1: [NS1], A2: [NS2]}
    delegation = Delegation(DOMAIN, dns.name.from_text("org."), (NS1, NS2))
    return analyse(DOMAIN, delegation, servers, samples)
