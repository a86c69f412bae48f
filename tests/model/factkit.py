"""Shared helpers for the per-MTA behaviour tests (docs/mta-behaviour.md): scenarios in, one MTA's
`Delivery` out.

Every helper runs the real engine (scenario loader, world, emulated recursive resolver, stub
library, MTA profile, model transport). `run_with_replies` is the one exception to the emulated
resolver: some behaviours concern what a recursive resolver hands the MTA that the emulated
resolver never hands on (REFUSED, FORMERR, a NOERROR reply holding a partial CNAME chain: the
emulated resolver, like unbound, turns lame answers into SERVFAIL and chases every chain to its
end). For those the replies are fixed by the test, and the real stub, profile and SMTP world do
the rest.
"""

from __future__ import annotations

import random
import re
import textwrap
from collections.abc import Callable, Iterable, Mapping

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.reversename
import dns.rrset

from mxsim.clock import VirtualClock
from mxsim.commands.trace import TraceConfig, run_trace
from mxsim.engine import emulated_ask, resolver_for, send
from mxsim.mta.profiles import make_profile
from mxsim.mta.profiles.base import deliver
from mxsim.mta.queue import SenderState
from mxsim.mta.results import Delivery
from mxsim.mta.stub import Stub
from mxsim.resolver.recursive import Resolved
from mxsim.scenario import ScenarioSpec, load_scenario, load_scenario_text
from mxsim.transport.base import DnsReply, Step
from mxsim.transport.model import ModelTransport
from mxsim.world import World

# Enough seeds to see a shuffle move, few enough to keep every file well under a second.
SEEDS = range(12)


def scenario(body: str, name: str = "facts") -> ScenarioSpec:
    """An inline scenario: `body` is the YAML after the `mxsim:`/`name:` header."""
    return load_scenario_text(f"mxsim: 1\nname: {name}\n" + textwrap.dedent(body))


def trace(
    spec: ScenarioSpec | str,
    mta: str,
    *,
    recipient: str | None = None,
    seed: int = 0,
    pins: tuple[str, ...] = (),
    overrides: Mapping[str, str] | None = None,
) -> Delivery:
    """One delivery attempt under one MTA profile; `spec` may name a bundled scenario."""
    loaded = load_scenario(spec) if isinstance(spec, str) else spec
    result = run_trace(TraceConfig(loaded, mtas=(mta,), recipient=recipient, overrides=dict(overrides or {}),
                                   seed=seed, pins=pins))
    (delivery,) = result.deliveries
    return delivery


def questions(delivery: Delivery) -> list[tuple[str, str]]:
    """The DNS questions the MTA asked, in order, as ("name", "TYPE")."""
    return [(answer.qname.to_text(omit_final_dot=True).lower(), dns.rdatatype.to_text(answer.qtype))
            for answer in delivery.dns]


def reverse(addresses: list[str]) -> list[tuple[str, str]]:
    """The PTR questions for these addresses, as `questions` writes them."""
    return [(dns.reversename.from_address(address).to_text(omit_final_dot=True), "PTR")
            for address in addresses]


def tried(delivery: Delivery) -> list[str]:
    """The addresses the MTA connected to, in order."""
    return [attempt.address for attempt in delivery.attempts]


def tried_hosts(delivery: Delivery) -> list[str]:
    """The host names the MTA knew each tried address by (the name it logs)."""
    return [attempt.host for attempt in delivery.attempts]


def results(delivery: Delivery) -> list[str]:
    return [str(attempt.result) for attempt in delivery.attempts]


def log_text(delivery: Delivery) -> str:
    return "\n".join(delivery.log)


def log_line(delivery: Delivery, pattern: str) -> str:
    """The first log line matching `pattern` (a regex); fails the test with the log if none."""
    for line in delivery.log:
        if re.search(pattern, line):
            return str(line)
    raise AssertionError(f"no log line matches {pattern!r}; log:\n{log_text(delivery)}")


def first_tried_over_seeds(
    spec: ScenarioSpec | str,
    mta: str,
    *,
    seeds: Iterable[int] = SEEDS,
    pins: tuple[str, ...] = (),
    overrides: Mapping[str, str] | None = None,
) -> set[str]:
    """The set of addresses tried first, one run per seed: a shuffle shows as more than one."""
    return {trace(spec, mta, seed=seed, pins=pins, overrides=overrides).attempts[0].address for seed in seeds}


# ---- fixed recursive-resolver replies ------------------------------------------------------

Replies = Callable[[dns.name.Name, dns.rdatatype.RdataType], DnsReply | None]


def reply(qname: dns.name.Name, qtype: dns.rdatatype.RdataType, rcode: dns.rcode.Rcode,
          *records: str) -> DnsReply:
    """A recursive resolver's reply as the stub reads it: `records` are "owner TTL TYPE RDATA"
    lines, built as a wire message (RA set) and converted as the engine converts wire replies."""
    query = dns.message.make_query(qname, qtype)
    response = dns.message.make_response(query)
    response.flags |= dns.flags.RA
    response.set_rcode(rcode)
    grouped: dict[tuple[str, str], tuple[int, list[str]]] = {}  # one RRset per owner and type, in order
    for line in records:
        owner, ttl_text, rdtype, rdata = line.split(None, 3)
        grouped.setdefault((owner, rdtype), (int(ttl_text), []))[1].append(rdata)
    for (owner, rdtype), (ttl, rdatas) in grouped.items():
        response.answer.append(dns.rrset.from_text(owner, ttl, "IN", rdtype, *rdatas))
    return DnsReply.from_message(response)


def run_with_replies(
    mta: str,
    replies: Replies,
    recipient: str,
    *,
    hosts: str = "hosts:\n  default:\n    smtp: accept\n",
    overrides: Mapping[str, str] | None = None,
    seed: int = 0,
) -> Delivery:
    """One delivery attempt whose recursive resolver says exactly what `replies` says.

    `hosts` is the SMTP side (a scenario's `hosts:` section), served by the model world.
    """
    spec = scenario(hosts)
    profile = make_profile(mta, overrides)
    clock = VirtualClock()
    rng = random.Random(f"{seed}:{mta}")

    def ask(qname: dns.name.Name, qtype: dns.rdatatype.RdataType, _wait: float) -> Step[
            tuple[DnsReply | None, Resolved | None]]:
        yield from ()  # a generator, like the emulated resolver; nothing to send
        return replies(qname, qtype), None

    stub = Stub(ask, profile.library, clock.now)
    return ModelTransport(World(spec), clock, rng).run(deliver(profile, stub, rng, recipient, clock.now))


# ---- scenarios shared by several MTAs' tests ----------------------------------------------

FASTLY = ("151.101.2.10", "151.101.66.10")


def district(smtp: str = "drop") -> ScenarioSpec:
    """The incident shape (docs/mta-behaviour.md#the-2017-incident-mta-by-mta): district.example
    CNAME edlio.map.fastly.net, which has two A records and no MX; port 25 there behaves as `smtp`
    (drop: SYNs unanswered)."""
    return scenario(f"""
        recipient: u@district.example
        zones:
          example: |
            $TTL 300
            district  CNAME  edlio.map.fastly.net.
          fastly.net: |
            $TTL 30
            edlio.map  A  {FASTLY[0]}
            edlio.map  A  {FASTLY[1]}
        hosts:
          edlio.map.fastly.net:
            smtp: {smtp}
        """, name=f"district-{smtp}")


def one_sender(spec: ScenarioSpec, mta: str, times: Iterable[float], recipient: str,
               overrides: Mapping[str, str] | None = None) -> tuple[list[Delivery], SenderState]:
    """Messages from one sender (one resolver, one memory across messages) at the given times,
    each started when the one before has ended, or later."""
    clock = VirtualClock()
    rng = random.Random(1)
    transport = ModelTransport(World(spec), clock, rng)
    resolver = resolver_for(transport.world, clock, rng)
    profile = make_profile(mta, overrides or {})
    sender = SenderState()
    out = []
    for at in times:
        clock.advance(max(at - clock.now(), 0.0))
        out.append(transport.run(send(profile, emulated_ask(resolver), rng, recipient, clock.now, sender=sender)))
    return out, sender


def two_mx(first: str, extra: str = "") -> ScenarioSpec:
    """example.com: MX 10 mx1 (192.0.2.10) behaving as `first`, MX 20 mx2 (192.0.2.20) accepting."""
    return scenario(f"""
        recipient: user@example.com
        zones:
          example.com: |
            $TTL 3600
            @    MX  10 mx1.example.com.
            @    MX  20 mx2.example.com.
            mx1  A   192.0.2.10
            mx2  A   192.0.2.20
        hosts:
          mx1.example.com:
            smtp: {first}
            {extra}
          mx2.example.com:
            smtp: accept
            banner: "220 mx2.example.com ESMTP"
        """, name=f"two-mx-{first}")


# Seen when running them: "all four MTAs move on to the next MX after a 421 or a 554 greeting, after a refused
# connection, and after a greeting timeout": (smtp kind, extra keys, attempt result).
MOVE_ON_CASES = [
    ("tempfail", 'code: 421\n            text: "4.3.2 try later"', "tempfail"),
    ("reject", 'code: 554\n            text: "5.7.1 no service"', "rejected"),
    ("refuse", "", "refused"),
    ("tarpit", "", "banner_timeout"),
]


def one_mx(smtp: str, extra: str = "") -> ScenarioSpec:
    """example.org: a single MX, mx.example.org (192.0.2.25), behaving as `smtp`."""
    return scenario(f"""
        recipient: user@example.org
        zones:
          example.org: |
            $TTL 3600
            @   MX  10 mx.example.org.
            mx  A   192.0.2.25
        hosts:
          mx.example.org:
            smtp: {smtp}
            {extra}
        """, name=f"one-mx-{smtp}")


def dual_stack(smtp: str = "drop") -> ScenarioSpec:
    """No MX; example.org has one A (192.0.2.25) and one AAAA (2001:db8:25::25), both `smtp`."""
    return scenario(f"""
        recipient: user@example.org
        zones:
          example.org: |
            $TTL 3600
            @  A     192.0.2.25
            @  AAAA  2001:db8:25::25
        hosts:
          example.org:
            smtp: {smtp}
        """, name=f"dual-stack-{smtp}")


V4, V6 = "192.0.2.25", "2001:db8:25::25"


def cname_loop() -> ScenarioSpec:
    """loop.example.com CNAME loop2.example.com CNAME loop.example.com: the recursive
    resolver gives up (SERVFAIL), as a recursive resolver normally does
    (docs/mta-behaviour.md#postfix-dns-errors)."""
    return scenario("""
        recipient: user@loop.example.com
        zones:
          example.com: |
            $TTL 3600
            loop   CNAME  loop2.example.com.
            loop2  CNAME  loop.example.com.
        """, name="cname-loop")


def dns_unanswered() -> ScenarioSpec:
    """The domain's only authoritative server never answers: the resolver times out."""
    return scenario("""
        recipient: user@example.org
        zones:
          example.org: |
            $TTL 3600
            @   SOA  ns1.example-dns.net. hostmaster.example-dns.net. 1 7200 3600 1209600 3600
            @   NS   ns1.example-dns.net.
            @   MX   10 mx.example.org.
            mx  A    192.0.2.25
        servers:
          ns1.example-dns.net:
            address: [198.51.100.53]
            zones: [example.org]
            backends:
              silent:
                drop: 1
        hosts:
          default:
            smtp: accept
        """, name="dns-unanswered")


def mx_to(address: str, backup: bool = False) -> ScenarioSpec:
    """example.com MX 10 mx.example.com whose address is `address` (e.g. the loopback);
    with `backup`, that host is MX 20 behind mx1.example.com (192.0.2.10, refusing)."""
    first = "@  MX  10 mx1.example.com.\n            mx1  A  192.0.2.10\n            " if backup else ""
    return scenario(f"""
        recipient: user@example.com
        zones:
          example.com: |
            $TTL 3600
            {first}@   MX  {20 if backup else 10} mx.example.com.
            mx  A   {address}
        hosts:
          mx1.example.com:
            smtp: refuse
          default:
            smtp: accept
        """, name="mx-to-address")


def no_address() -> ScenarioSpec:
    """example.org exists (TXT only): no MX, no A, no AAAA."""
    return scenario("""
        recipient: user@example.org
        zones:
          example.org: |
            $TTL 3600
            @  TXT  "v=spf1 -all"
        """, name="no-address")


def mx_hosts_missing() -> ScenarioSpec:
    """Both MX hosts of example.com are names that do not exist (NXDOMAIN)."""
    return scenario("""
        recipient: user@example.com
        zones:
          example.com: |
            $TTL 3600
            @    MX  10 gone1.example.com.
            @    MX  20 gone2.example.com.
            www  A   192.0.2.80
        """, name="mx-hosts-missing")


def mx_host_servfail() -> ScenarioSpec:
    """example.com's only MX host lives in a zone whose server answers SERVFAIL."""
    return scenario("""
        recipient: user@example.com
        zones:
          example.com: |
            $TTL 3600
            @  MX  10 mx.broken.example.net.
          broken.example.net: |
            $TTL 3600
            @   SOA  ns1.broken-dns.org. hostmaster.broken-dns.org. 1 7200 3600 1209600 3600
            @   NS   ns1.broken-dns.org.
            mx  A    192.0.2.25
        servers:
          ns1.broken-dns.org:
            address: [198.51.100.54]
            zones: [broken.example.net]
            backends:
              broken:
                rcode: SERVFAIL
        hosts:
          default:
            smtp: accept
        """, name="mx-host-servfail")


def cname_chain_no_mx() -> ScenarioSpec:
    """A two-link chain in one answer, ending at a name with an address and no MX:
    a.example.com CNAME b.example.net CNAME c.example.org (A 203.0.113.7, refusing)."""
    return scenario("""
        recipient: user@a.example.com
        zones:
          example.com: |
            $TTL 3600
            a  CNAME  b.example.net.
          example.net: |
            $TTL 3600
            b  CNAME  c.example.org.
          example.org: |
            $TTL 3600
            c  A  203.0.113.7
        """, name="cname-chain-no-mx")


# ---- fixed replies: a resolver that hands on what the emulated one never does ------------


def loop_replies(qname: dns.name.Name, qtype: dns.rdatatype.RdataType) -> DnsReply:
    """A resolver that returns a NOERROR partial chain
    (docs/mta-behaviour.md#postfix-mx-lookup-and-cname): every name nK.loop.test answers NOERROR
    with only "nK CNAME nK+1", whatever the type."""
    label = qname.labels[0].decode()
    following = f"n{int(label[1:]) + 1}.loop.test."
    return reply(qname, qtype, dns.rcode.NOERROR, f"{qname.to_text()} 300 CNAME {following}")


def rcode_for_mx(rcode: dns.rcode.Rcode) -> Replies:
    """Replies that answer the MX question with `rcode` (no records) and every other
    question with 192.0.2.25 (A) or NODATA, so a fallback to the domain would show."""
    def replies(qname: dns.name.Name, qtype: dns.rdatatype.RdataType) -> DnsReply:
        if qtype == dns.rdatatype.MX:
            return reply(qname, qtype, rcode)
        if qtype == dns.rdatatype.A:
            return reply(qname, qtype, dns.rcode.NOERROR, f"{qname.to_text()} 300 A 192.0.2.25")
        return reply(qname, qtype, dns.rcode.NOERROR)
    return replies
