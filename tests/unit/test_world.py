"""The world: made-up delegations, RFC 1034 answers, and each farm behaviour of
docs/scenario-format.md#backends."""

from __future__ import annotations

import math
import random

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest

from mxsim.scenario import load_scenario, load_scenario_text
from mxsim.scenario.spec import HostSpec, SmtpKind
from mxsim.world import World
from mxsim.world.delegation import ROOT_ADDRESS

N = dns.name.from_text

FARM = """
mxsim: 1
name: farm
recipient: user@example.org
zones:
  example.org: |
    $TTL 900
    @    SOA ns1.example.net. hostmaster.example.org. 7 3600 600 86400 300
    @    NS  ns1.example.net.
    @    MX  10 mx.example.org.
    mx   A   192.0.2.25
    www  CNAME mx
    *.wild A 192.0.2.99
    a.b.deep A 192.0.2.1
  example.net: |
    ns1 A 198.51.100.53
servers:
  ns1.example.net:
    address: 198.51.100.53
    zones: [example.org]
    backends:
      good:
        weight: 3
        nsid: good.farm
      bad:
        weight: 1
        nsid: bad.farm
        answer:
          example.org: |
            example.org. 900 CNAME web.example.com.
        aa: {rd: false, nord: true}
        authority: root-referral
        ttl: countdown
      sick:
        weight: 0.000001
        rcode: SERVFAIL
      silent:
        weight: 0.000001
        drop: 1
      old:
        weight: 0.000001
        edns: false
        tcp: false
"""


def farm_world(pin: str | None = None) -> World:
    spec = load_scenario_text(FARM, file="farm.yaml")
    return World(spec, {N("ns1.example.net"): pin} if pin else None)


def ask(world: World, address: str, name: str, rdtype: str, *, rd: bool = False, nsid: bool = True,
        edns: bool = True, tcp: bool = False, now: float = 0.0, seed: int = 1) -> dns.message.Message | None:
    options = [dns.edns.GenericOption(dns.edns.OptionType.NSID, b"")] if nsid and edns else []
    query = dns.message.make_query(name, rdtype, use_edns=0 if edns else False, options=options)
    if not rd:
        query.flags &= ~dns.flags.RD
    return world.query(address, query, tcp=tcp, now=now, rng=random.Random(seed)).message


def nsid_of(message: dns.message.Message) -> str | None:
    for option in message.options:
        if option.otype == dns.edns.OptionType.NSID:
            assert isinstance(option, dns.edns.NSIDOption)
            return option.nsid.decode()
    return None


def test_root_and_tld_are_made_up_and_delegate_down() -> None:
    """Delegations a scenario does not write are made up, glue included (docs/scenario-format.md#general-rules)."""
    world = farm_world("good")
    assert world.root_hints == [(N("a.root-servers.net"), ROOT_ADDRESS)]
    referral = ask(world, ROOT_ADDRESS, "www.example.org", "A")
    assert referral is not None and not referral.flags & dns.flags.AA
    assert referral.authority[0].name == N("org")
    org_server = str(referral.additional[0][0].address)
    assert referral.additional[0].name == N("a.nic.org")
    to_child = ask(world, org_server, "www.example.org", "A")
    assert to_child is not None
    assert {r.target for r in to_child.authority[0]} == {N("ns1.example.net")}


def test_a_zone_without_a_server_gets_a_default_one_with_glue() -> None:
    world = farm_world("good")
    net_server = world.servers[N("a.nic.net")].spec.addresses[0]
    referral = ask(world, net_server, "ns1.example.net", "A")
    assert referral is not None
    assert {r.target for r in referral.authority[0]} == {N("ns1.example.net")}
    assert str(referral.additional[0][0].address) == "198.51.100.53"


def test_correct_server_answers_with_aa_and_nodata_carries_the_soa() -> None:
    """NODATA must carry AA, or glibc takes it for a referral (docs/lab.md#authoritative-servers-in-the-lab)."""
    world = farm_world("good")
    mx = ask(world, "198.51.100.53", "example.org", "MX")
    assert mx is not None and mx.flags & dns.flags.AA and mx.rcode() == dns.rcode.NOERROR
    assert mx.answer[0].rdtype == dns.rdatatype.MX
    assert [r.name for r in mx.additional] == [N("mx.example.org")]  # the exchange's address
    nodata = ask(world, "198.51.100.53", "example.org", "TXT")
    assert nodata is not None and nodata.flags & dns.flags.AA and not nodata.answer
    assert nodata.authority[0].rdtype == dns.rdatatype.SOA
    assert nodata.authority[0].ttl == 300  # RFC 2308: min(SOA TTL, minimum)


def test_nxdomain_empty_non_terminal_wildcard_and_in_zone_cname() -> None:
    world = farm_world("good")
    missing = ask(world, "198.51.100.53", "nope.example.org", "A")
    assert missing is not None and missing.rcode() == dns.rcode.NXDOMAIN
    between = ask(world, "198.51.100.53", "b.deep.example.org", "A")
    assert between is not None and between.rcode() == dns.rcode.NOERROR and not between.answer
    wild = ask(world, "198.51.100.53", "x.wild.example.org", "A")
    assert wild is not None and wild.answer[0].name == N("x.wild.example.org")
    chain = ask(world, "198.51.100.53", "www.example.org", "A")
    assert chain is not None
    assert [r.rdtype for r in chain.answer] == [dns.rdatatype.CNAME, dns.rdatatype.A]


def test_a_server_refuses_zones_it_does_not_serve() -> None:
    message = ask(farm_world("good"), "198.51.100.53", "example.com", "A")
    assert message is not None and message.rcode() == dns.rcode.REFUSED


def test_nsid_names_the_backend_that_answered() -> None:
    assert nsid_of(ask(farm_world("good"), "198.51.100.53", "example.org", "MX")) == "good.farm"  # type: ignore[arg-type]
    assert nsid_of(ask(farm_world("bad"), "198.51.100.53", "example.org", "MX")) == "bad.farm"  # type: ignore[arg-type]
    no_option = ask(farm_world("bad"), "198.51.100.53", "example.org", "MX", nsid=False)
    assert no_option is not None and nsid_of(no_option) is None


def test_broken_backend_answers_any_type_with_its_cname_aa_by_rd_and_root_referral() -> None:
    """Backend `answer`, `aa: {rd, nord}`, `authority: root-referral` (docs/scenario-format.md#backends)."""
    world = farm_world("bad")
    for rdtype in ("MX", "TXT", "SOA", "A"):
        message = ask(world, "198.51.100.53", "example.org", rdtype)
        assert message is not None
        assert [(r.name, r.rdtype) for r in message.answer] == [(N("example.org"), dns.rdatatype.CNAME)]
    without_rd = ask(world, "198.51.100.53", "example.org", "MX", rd=False)
    with_rd = ask(world, "198.51.100.53", "example.org", "MX", rd=True)
    assert without_rd is not None and with_rd is not None
    assert without_rd.flags & dns.flags.AA and not with_rd.flags & dns.flags.AA
    assert with_rd.authority[0].name == dns.name.root and with_rd.authority[0].rdtype == dns.rdatatype.NS


def test_countdown_ttl_falls_like_a_cache_and_refills() -> None:
    world = farm_world("bad")
    ttls = [ask(world, "198.51.100.53", "example.org", "MX", now=t).answer[0].ttl  # type: ignore[union-attr]
            for t in (0, 100, 899, 900)]
    assert ttls == [900, 800, 1, 900]


def test_rcode_drop_tcp_and_edns_behaviours() -> None:
    sick = ask(farm_world("sick"), "198.51.100.53", "example.org", "MX")
    assert sick is not None and sick.rcode() == dns.rcode.SERVFAIL and not sick.answer
    assert ask(farm_world("silent"), "198.51.100.53", "example.org", "MX") is None
    old = farm_world("old")
    formerr = ask(old, "198.51.100.53", "example.org", "MX")
    assert formerr is not None and formerr.rcode() == dns.rcode.FORMERR
    plain = ask(old, "198.51.100.53", "example.org", "MX", edns=False)
    assert plain is not None and plain.rcode() == dns.rcode.NOERROR
    query = dns.message.make_query("example.org", "MX")
    served = old.query("198.51.100.53", query, tcp=True, rng=random.Random(1))
    assert served.tcp_refused and served.message is None


@pytest.mark.parametrize("seed", [1, 2])
def test_backends_are_drawn_by_weight(seed: int) -> None:
    """One backend per query, by weight: `bad` has 1/4 of the weight (3 sigma bound)."""
    world = farm_world()
    rng = random.Random(seed)
    draws = 4000
    bad = 0
    query = dns.message.make_query("example.org", "MX")
    for _ in range(draws):
        served = world.query("198.51.100.53", query, rng=rng)
        bad += served.backend == "bad"
    share = bad / draws
    sigma = math.sqrt(0.25 * 0.75 / draws)
    assert abs(share - 0.25) < 3 * sigma


def test_smtp_behaviour_follows_names_aliases_and_file_order() -> None:
    """An entry applies by address, by owner name, or by an alias leading there (docs/scenario-format.md#hosts)."""
    spec = load_scenario("wa-students-2017")
    world = World(spec)
    fastly = world.smtp("151.101.2.10")
    assert fastly.key == "edlio.map.fastly.net" and fastly.smtp.value == "drop"
    assert "wa-students.org" in world.host_names("151.101.2.10")  # via the broken backend's CNAME
    assert world.smtp("142.250.153.26").smtp.value == "accept"
    assert world.smtp("203.0.113.200").smtp.value == "refuse"  # nothing matches: default


def test_building_a_world_leaves_the_loaded_spec_untouched() -> None:
    spec = load_scenario_text(FARM, file="farm.yaml")
    before = spec.zones[0].zone.to_text()
    World(spec)
    World(spec)
    assert spec.zones[0].zone.to_text() == before


def test_with_other_hosts_the_dns_answers_stay_and_only_the_hosts_change() -> None:
    """`check` gives a behaviour group's world the probed hosts after it was built."""
    world = World(load_scenario("wa-students-2017"))
    before = world.smtp("151.101.2.10")
    other = world.with_hosts((HostSpec("edlio.map.fastly.net", 0, SmtpKind.ACCEPT), HostSpec("default", 0,
                                                                                              SmtpKind.DROP)))
    assert other.smtp("151.101.2.10").smtp == SmtpKind.ACCEPT and other.smtp("203.0.113.200").smtp == SmtpKind.DROP
    assert world.smtp("151.101.2.10") == before  # the first world keeps its own hosts
    assert other.spec.hosts[0].key == "edlio.map.fastly.net" and world.spec.hosts != other.spec.hosts
    for address, name in [("216.40.47.26", "wa-students.org"), ("216.40.55.26", "www.wa-students.org")]:
        for seed in range(5):
            mine = ask(world, address, name, "MX", seed=seed)
            theirs = ask(other, address, name, "MX", seed=seed)
            assert mine is not None and theirs is not None
            assert (mine.flags, mine.rcode(), mine.answer, mine.authority, nsid_of(mine)) == (
                theirs.flags, theirs.rcode(), theirs.answer, theirs.authority, nsid_of(theirs))


def test_a_response_too_big_for_any_message_is_truncated_not_a_crash() -> None:
    import dns.message
    import dns.rrset

    from mxsim.transport.model import _truncate_if_needed

    query = dns.message.make_query("big.example.", "TXT", use_edns=0, payload=4096)
    response = dns.message.make_response(query)
    texts = [f'"{i:04d}{"x" * 250}"' for i in range(400)]  # about 100 KB of TXT: no message holds it
    response.answer.append(dns.rrset.from_text_list("big.example.", 300, "IN", "TXT", texts))
    for tcp in (False, True):
        cut = _truncate_if_needed(query, response, tcp=tcp)
        assert cut.flags & dns.flags.TC and not cut.answer
