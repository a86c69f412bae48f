"""The Exim 4.96 profile against docs/mta-behaviour.md#exim, one test per behaviour or claim.

Exim's default TCP Fast Open changes how a dropped SYN is logged (seen in the lab,
docs/lab.md#exim), so tests about the plain `Connection timed out` words set hosts_try_fastopen = :
as the lab did.
"""

from __future__ import annotations

import re

import dns.name
import dns.rcode
import dns.rdatatype
import pytest
from factkit import (
    FASTLY,
    MOVE_ON_CASES,
    SEEDS,
    V4,
    V6,
    cname_chain_no_mx,
    cname_loop,
    district,
    dns_unanswered,
    dual_stack,
    first_tried_over_seeds,
    log_line,
    loop_replies,
    mx_host_servfail,
    mx_hosts_missing,
    mx_to,
    one_mx,
    questions,
    rcode_for_mx,
    reply,
    results,
    run_with_replies,
    scenario,
    trace,
    tried,
    tried_hosts,
    two_mx,
)

from mxsim.transport.base import DnsReply

MTA = "exim"
NO_TFO = {"hosts_try_fastopen": ":"}


# ---- MX lookup and CNAME handling ----------------------------------------------------------


def test_cname_only_mx_answer_is_requeried_then_aaaa_then_a_of_original() -> None:
    """Exim (docs/mta-behaviour.md#exim-mx-lookup-and-cname): `MX orig` (CNAME only) -> `MX target`
    -> NODATA -> set_address_from_dns on the ORIGINAL name: `AAAA orig` (plus `AAAA target`, the
    answer being CNAME-only) then `A orig`."""
    delivery = trace(district(), MTA)
    assert questions(delivery) == [
        ("district.example", "MX"),
        ("edlio.map.fastly.net", "MX"),
        ("district.example", "AAAA"),
        ("edlio.map.fastly.net", "AAAA"),
        ("district.example", "A"),
    ]
    assert str(delivery.route.kind) == "implicit-mx"


def test_host_is_renamed_to_the_canonical_name() -> None:
    """Exim (docs/mta-behaviour.md#exim-mx-lookup-and-cname): the host item is renamed to the owner
    of the first address RR (the CNAME target): logs show `H=edlio.map.fastly.net [151.101.x.y]`."""
    delivery = trace(district(), MTA, overrides=NO_TFO)
    assert set(tried_hosts(delivery)) == {"edlio.map.fastly.net"}
    log_line(delivery, r"H=edlio\.map\.fastly\.net \[151\.101\.(2|66)\.10\] Connection timed out$")


def test_single_cname_does_not_rewrite_the_recipient() -> None:
    """Exim, seen when running it (docs/mta-behaviour.md#exim-recipient-rewriting): the recipient
    address stays user@original for a single CNAME (test 0545 "CNAME not rewriting")."""
    delivery = trace(district(), MTA)
    assert delivery.envelope_recipient == "u@district.example"


def test_cname_loops_zero_gives_cname_loop_and_defers() -> None:
    """Exim (docs/mta-behaviour.md#exim-mx-lookup-and-cname): the lookup loop runs dns_cname_loops+1
    times; with dns_cname_loops = 0 a CNAME-only MX answer is not re-queried: `CNAME loop for <orig>
    encountered`, DNS_FAIL, router defers "host lookup did not complete"."""
    delivery = trace(district(), MTA, overrides={"dns_cname_loops": "0"})
    assert questions(delivery) == [("district.example", "MX")]
    assert str(delivery.outcome) == "deferred"
    assert delivery.reason == "host lookup did not complete"
    log_line(delivery, r"CNAME loop for district\.example encountered")


def test_partial_chain_stops_after_two_questions() -> None:
    """Exim (docs/mta-behaviour.md#exim-mx-lookup-and-cname): default dns_cname_loops = 1 -> at most
    2 queries; still only CNAMEs -> `CNAME loop for <orig> encountered`, DNS_FAIL, defer "host
    lookup did not complete"."""
    delivery = run_with_replies(MTA, loop_replies, "user@n0.loop.test")
    assert questions(delivery) == [("n0.loop.test", "MX"), ("n1.loop.test", "MX")]
    assert str(delivery.outcome) == "deferred"
    assert delivery.reason == "host lookup did not complete"
    log_line(delivery, r"CNAME loop for n0\.loop\.test encountered")


def test_cname_loop_answered_servfail_defers() -> None:
    """(docs/mta-behaviour.md#exim-dns-errors) A CNAME loop makes the resolver answer SERVFAIL:
    temporary."""
    delivery = trace(cname_loop(), MTA)
    assert str(delivery.outcome) == "deferred"
    assert delivery.attempts == ()


# ---- re-routing to the owner of the last CNAME ----------------------------------------------


def test_multi_cname_chain_reroutes_to_owner_of_last_cname() -> None:
    """Exim, seen when running it (docs/mta-behaviour.md#exim-recipient-rewriting): a chain a -> b
    -> c in one answer re-routes the address to the owner of the LAST CNAME (b), the "fully
    qualified name"."""
    delivery = trace(cname_chain_no_mx(), MTA)
    assert delivery.envelope_recipient == "user@b.example.net"


def test_multi_cname_chain_to_mx_reroutes_and_routes_again() -> None:
    """Exim, seen when running it (docs/mta-behaviour.md#exim-recipient-rewriting): rewrites to the
    owner of the last CNAME also when the chain ends at a name with a valid MX, then routes again
    (MX query for the new domain)."""
    delivery = trace("cname-chain-to-mx", MTA)
    assert delivery.envelope_recipient == "student@tenant-4711.mailhost.example.org"
    mx_questions = [q for q in questions(delivery) if q[1] == "MX"]
    assert mx_questions == [("school.example.com", "MX"), ("tenant-4711.mailhost.example.org", "MX")]
    assert str(delivery.outcome) == "delivered"
    log_line(delivery, r"=> student@tenant-4711\.mailhost\.example\.org <student@school\.example\.com> "
                       r"R=dnslookup T=remote_smtp H=mx\.mailhost\.example\.org \[203\.0\.113\.25\]")


# ---- implicit MX and DNS errors ------------------------------------------------------------


def test_nxdomain_is_unrouteable_without_address_lookup() -> None:
    """Exim (docs/mta-behaviour.md#exim-dns-errors): NXDOMAIN on MX (DNS_NOMATCH) ->
    HOST_FIND_FAILED at once, no A lookup -> bounce "Unrouteable address"."""
    delivery = trace("nxdomain", MTA)
    assert questions(delivery) == [("retired.example.com", "MX")]
    assert str(delivery.outcome) == "bounced"
    assert delivery.reason == "Unrouteable address"
    assert delivery.attempts == ()


def test_dangling_cname_is_unrouteable() -> None:
    """Exim (docs/mta-behaviour.md#exim-dns-errors): a dangling CNAME is HOST_NOT_FOUND for glibc ->
    DNS_NOMATCH -> "Unrouteable address", no A lookup."""
    delivery = trace("dangling-cname", MTA)
    assert questions(delivery) == [("lists.example.com", "MX")]
    assert str(delivery.outcome) == "bounced"
    assert delivery.reason == "Unrouteable address"


def test_temporary_aaaa_failure_ignored_when_a_succeeds() -> None:
    """Exim (docs/mta-behaviour.md#exim-implicit-mx): a temporary failure on the AAAA lookup is
    ignored if the A lookup succeeds (the implicit MX is used)."""
    def replies(qname: dns.name.Name, qtype: dns.rdatatype.RdataType) -> DnsReply:
        if qtype == dns.rdatatype.AAAA:
            return reply(qname, qtype, dns.rcode.SERVFAIL)
        if qtype == dns.rdatatype.A:
            return reply(qname, qtype, dns.rcode.NOERROR, f"{qname.to_text()} 300 A 192.0.2.25")
        return reply(qname, qtype, dns.rcode.NOERROR)  # MX: NODATA

    delivery = run_with_replies(MTA, replies, "user@example.org")
    assert str(delivery.route.kind) == "implicit-mx"
    assert str(delivery.outcome) == "delivered"
    assert tried(delivery) == ["192.0.2.25"]


def test_servfail_defers_host_lookup_did_not_complete() -> None:
    """Exim, SERVFAIL on the MX question (docs/mta-behaviour.md#exim-dns-errors): DNS_AGAIN -> defer
    "host lookup did not complete". The MX question reaches the resolver twice: glibc's `attempts:2`
    (confirmed in unbound's log, docs/agreement.md)."""
    delivery = trace("servfail", MTA)
    assert questions(delivery) == [("example.org", "MX")] * 2
    assert str(delivery.outcome) == "deferred"
    assert delivery.reason == "host lookup did not complete"
    assert delivery.attempts == ()


def test_resolver_timeout_defers() -> None:
    """Exim, no reply from the resolver (docs/mta-behaviour.md#exim-dns-errors): defer."""
    delivery = trace(dns_unanswered(), MTA)
    assert str(delivery.outcome) == "deferred"
    assert delivery.attempts == ()


def test_refused_from_resolver_defers() -> None:
    """Exim, REFUSED on the MX question (docs/mta-behaviour.md#exim-dns-errors): glibc makes it
    TRY_AGAIN -> defer, no fallback."""
    delivery = run_with_replies(MTA, rcode_for_mx(dns.rcode.REFUSED), "user@example.org")
    assert str(delivery.outcome) == "deferred"
    assert delivery.attempts == ()


def test_formerr_from_resolver_defers() -> None:
    """Exim, FORMERR on the MX question (docs/mta-behaviour.md#exim-dns-errors): DNS_FAIL -> defer."""
    delivery = run_with_replies(MTA, rcode_for_mx(dns.rcode.FORMERR), "user@example.org")
    assert str(delivery.outcome) == "deferred"
    assert delivery.attempts == ()


def test_implicit_mx_asks_aaaa_then_a() -> None:
    """Exim (docs/mta-behaviour.md#exim-implicit-mx): implicit MX only on NODATA; AAAA first, then A."""
    delivery = trace("implicit-mx", MTA)
    assert questions(delivery) == [("example.org", "MX"), ("example.org", "AAAA"), ("example.org", "A")]
    assert str(delivery.outcome) == "delivered"


def test_ipv6_addresses_are_tried_first() -> None:
    """Exim (docs/mta-behaviour.md#exim-order-and-address-families): A records get +500 on the sort
    key -> IPv6 before IPv4, every time."""
    for seed in SEEDS[:4]:
        delivery = trace(dual_stack(), MTA, seed=seed)
        assert tried(delivery) == [V6, V4]


def test_ipv4_prefer_puts_ipv4_first() -> None:
    """Exim (docs/mta-behaviour.md#exim-order-and-address-families): router option ipv4_prefer puts
    IPv4 before IPv6."""
    delivery = trace(dual_stack(), MTA, overrides={"ipv4_prefer": "yes"})
    assert tried(delivery) == [V4, V6]


def test_ipv6_first_within_each_mx_preference() -> None:
    """Exim (docs/mta-behaviour.md#exim-order-and-address-families): a final pass moves IPv6
    addresses ahead of IPv4 within each MX preference, whichever equal-preference host was drawn
    first."""
    spec = scenario("""
        recipient: user@example.com
        zones:
          example.com: |
            $TTL 3600
            @    MX    10 v4.example.com.
            @    MX    10 v6.example.com.
            v4   A     192.0.2.4
            v6   AAAA  2001:db8::6
        hosts:
          default:
            smtp: refuse
        """)
    first_looked_up = set()
    for seed in SEEDS:
        delivery = trace(spec, MTA, seed=seed)
        assert tried(delivery) == ["2001:db8::6", "192.0.2.4"]
        first_looked_up.add(questions(delivery)[1][0])
    # The MX order itself was random (both hosts came first), so the final pass did the sorting.
    assert first_looked_up == {"v4.example.com", "v6.example.com"}


def test_disable_ipv6_asks_no_aaaa() -> None:
    """Exim (docs/mta-behaviour.md#exim-implicit-mx): with disable_ipv6 no AAAA lookup is made."""
    delivery = trace("implicit-mx", MTA, overrides={"disable_ipv6": "yes"})
    assert questions(delivery) == [("example.org", "MX"), ("example.org", "A")]


# ---- MX target that is a CNAME -------------------------------------------------------------


def test_mx_target_cname_is_followed_and_canonical_name_logged() -> None:
    """Exim, seen when running it (docs/mta-behaviour.md#exim-cname-as-mx-target): an MX host that
    is a CNAME is followed; the host item is renamed to the canonical name, so the log shows the
    CNAME target."""
    delivery = trace("mx-target-cname", MTA)
    assert str(delivery.outcome) == "delivered"
    assert delivery.delivered_to is not None
    assert delivery.delivered_to.host == "mx1.mailhost.example.net"
    log_line(delivery, r"H=mx1\.mailhost\.example\.net \[203\.0\.113\.25\]")


# ---- null MX -------------------------------------------------------------------------------


def test_null_mx_bounces_no_smtp_service() -> None:
    """Exim, seen when running it (docs/mta-behaviour.md#exim-null-mx): null MX -> `an MX or SRV
    record indicated no SMTP service`, a bounce; no fallback to the A record, no connection."""
    delivery = trace("null-mx", MTA)
    assert str(delivery.outcome) == "bounced"
    assert delivery.reason == "an MX or SRV record indicated no SMTP service"
    assert questions(delivery) == [("example.org", "MX")]
    assert delivery.attempts == ()


def test_null_mx_beside_real_mx_uses_the_real_mx() -> None:
    """Exim (docs/mta-behaviour.md#exim-null-mx): if other usable MX hosts exist beside the "" host,
    they are used."""
    delivery = trace("null-mx-beside-mx", MTA)
    assert str(delivery.outcome) == "delivered"
    assert tried(delivery) == ["192.0.2.25"]


# ---- IP literal, loopback, private targets -------------------------------------------------


def test_ip_literal_mx_bounces() -> None:
    """Exim, seen when running it (docs/mta-behaviour.md#exim-ip-literal-mx-and-loops):
    allow_mx_to_ip = false -> bounce `all relevant MX records point to non-existent hosts or
    (invalidly) to IP addresses`."""
    delivery = trace("mx-ip-literal", MTA)
    assert str(delivery.outcome) == "bounced"
    assert delivery.reason == "all relevant MX records point to non-existent hosts or (invalidly) to IP addresses"
    assert delivery.attempts == ()


def test_ip_literal_mx_with_allow_mx_to_ip() -> None:
    """Exim (docs/mta-behaviour.md#exim-ip-literal-mx-and-loops): allow_mx_to_ip = true accepts the
    IP-literal MX."""
    delivery = trace("mx-ip-literal", MTA, overrides={"allow_mx_to_ip": "yes"})
    assert str(delivery.outcome) == "delivered"
    assert tried(delivery) == ["192.0.2.25"]


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "192.168.1.25"])
def test_ignored_target_hosts_bounce_as_non_existent(address: str) -> None:
    """Exim (docs/mta-behaviour.md#exim-ip-literal-mx-and-loops): ignore_target_hosts (127/8
    upstream; Debian also 10/8, 192.168/16, ...) drops the MX target -> `all relevant MX records
    point to non-existent hosts` -> bounce."""
    delivery = trace(mx_to(address), MTA)
    assert str(delivery.outcome) == "bounced"
    assert delivery.reason == "all relevant MX records point to non-existent hosts"
    assert delivery.attempts == ()


# ---- the MX hosts' own address lookups -----------------------------------------------------


def test_all_mx_hosts_non_existent_bounces() -> None:
    """Exim, the MX hosts' own address lookups
    (docs/mta-behaviour.md#exim-mx-hosts-without-address): all hosts non-existent -> `all relevant
    MX records point to non-existent hosts` -> bounce."""
    delivery = trace(mx_hosts_missing(), MTA)
    assert str(delivery.outcome) == "bounced"
    assert delivery.reason == "all relevant MX records point to non-existent hosts"


def test_mx_host_lookup_again_defers() -> None:
    """Exim, the MX hosts' own address lookups
    (docs/mta-behaviour.md#exim-mx-hosts-without-address): hosts with DNS_AGAIN make the result
    HOST_FIND_AGAIN -> defer."""
    delivery = trace(mx_host_servfail(), MTA)
    assert str(delivery.outcome) == "deferred"
    assert delivery.attempts == ()


def test_mx_host_without_address_is_skipped() -> None:
    """Exim (docs/mta-behaviour.md#exim-dns-errors): a host without addresses is passed over when
    another MX resolves."""
    delivery = trace("mx-no-address", MTA)
    assert str(delivery.outcome) == "delivered"
    assert tried_hosts(delivery) == ["mx2.example.com"]


# ---- order, randomisation, limits ----------------------------------------------------------


def test_equal_preference_mx_order_is_random() -> None:
    """Exim (docs/mta-behaviour.md#exim-order-and-address-families): MX sort key = pref*1000 +
    random(0..499): random among equal preferences (the first host varies over seeds)."""
    assert len(first_tried_over_seeds("address-limit", MTA)) > 1


def test_hosts_max_try_five() -> None:
    """Exim, seen when running it (docs/mta-behaviour.md#exim-address-limit): hosts_max_try = 5: of
    seven refusing equal-preference hosts five are tried; the limit stops that preference only, so
    the preference-20 backup is still tried and accepts (confirmed against Exim 4.96 in the lab:
    docs/agreement.md)."""
    delivery = trace("address-limit", MTA)
    assert len(delivery.attempts) == 6
    assert tried_hosts(delivery)[-1] == "backup.example.com"
    assert len(set(tried_hosts(delivery)[:5])) == 5
    assert str(delivery.outcome) == "delivered"


def test_hosts_max_try_override() -> None:
    """Exim (docs/mta-behaviour.md#exim-address-limit): hosts_max_try caps the hosts tried at one
    preference."""
    delivery = trace("address-limit", MTA, overrides={"hosts_max_try": "2"})
    assert len(delivery.attempts) == 3
    assert tried_hosts(delivery)[-1] == "backup.example.com"


def test_hosts_max_try_hardlimit_caps_every_preference() -> None:
    """Exim (docs/mta-behaviour.md#exim-address-limit): hosts_max_try_hardlimit bounds the hosts
    tried across preferences."""
    delivery = trace("address-limit", MTA, overrides={"hosts_max_try": "2", "hosts_max_try_hardlimit": "2"})
    assert len(delivery.attempts) == 2
    assert str(delivery.outcome) == "deferred"


def test_duplicate_mx_keeps_lowest_preference() -> None:
    """Exim (docs/mta-behaviour.md#exim-order-and-address-families): duplicate MX names keep their
    lowest preference (tried once, first)."""
    spec = scenario("""
        recipient: user@example.com
        zones:
          example.com: |
            $TTL 3600
            @    MX  30 mx1.example.com.
            @    MX  20 mx2.example.com.
            @    MX  10 mx1.example.com.
            mx1  A   192.0.2.10
            mx2  A   192.0.2.20
        hosts:
          default:
            smtp: refuse
        """)
    assert tried_hosts(trace(spec, MTA)) == ["mx1.example.com", "mx2.example.com"]


# ---- timeouts and log lines ----------------------------------------------------------------


def test_connect_timeout_is_the_kernel_limit_and_wording() -> None:
    """Exim (docs/mta-behaviour.md#exim-timeouts): connect_timeout = 5m, but the kernel's SYN limit
    (~127 s) fires first; `H=mx.example.org [192.0.2.25] Connection timed out`; per address `== u@d
    R=dnslookup T=remote_smtp defer (110): Connection timed out`."""
    delivery = trace(one_mx("drop"), MTA, overrides=NO_TFO)
    (attempt,) = delivery.attempts
    assert attempt.elapsed == pytest.approx(127.0, abs=1.0)
    log_line(delivery, r"H=mx\.example\.org \[192\.0\.2\.25\] Connection timed out$")
    log_line(delivery, r"== user@example\.org R=dnslookup T=remote_smtp defer \(110\): Connection timed out$")


def test_connection_refused_wording() -> None:
    """Exim (docs/mta-behaviour.md#exim-log-wording): `H=mx.example.org [192.0.2.25] Connection
    refused`."""
    delivery = trace(one_mx("refuse"), MTA)
    log_line(delivery, r"H=mx\.example\.org \[192\.0\.2\.25\] Connection refused$")
    log_line(delivery, r"== user@example\.org R=dnslookup T=remote_smtp defer \(111\): Connection refused$")


def test_greeting_timeout_wording() -> None:
    """Exim (docs/mta-behaviour.md#exim-timeouts): command_timeout = 5m covers the banner; `H=...
    [ip]: SMTP timeout after initial connection: Connection timed out`."""
    delivery = trace(one_mx("tarpit"), MTA)
    (attempt,) = delivery.attempts
    assert attempt.elapsed == pytest.approx(300.0, abs=1.0)
    log_line(delivery, r"H=mx\.example\.org \[192\.0\.2\.25\]: SMTP timeout after initial connection: "
                       r"Connection timed out$")


def test_fast_open_dropped_syn_is_an_smtp_timeout() -> None:
    """Exim, seen when running it (docs/mta-behaviour.md#exim-timeouts): with the default TCP Fast
    Open a dropped SYN is logged as `SMTP timeout after initial connection: Connection timed out`."""
    delivery = trace(one_mx("drop"), MTA)
    assert delivery.reason == "SMTP timeout after initial connection: Connection timed out"
    log_line(delivery, r"H=mx\.example\.org \[192\.0\.2\.25\]: SMTP timeout after initial connection: "
                       r"Connection timed out$")


@pytest.mark.parametrize(("smtp", "extra", "result"), MOVE_ON_CASES)
def test_moves_on_to_next_mx(smtp: str, extra: str, result: str) -> None:
    """Seen when running the real MTAs (docs/mta-behaviour.md#exim-error-classes): all four MTAs
    move on to the next MX after a 421 or a 554 greeting, after a refused connection and after a
    greeting timeout."""
    delivery = trace(two_mx(smtp, extra), MTA)
    assert tried_hosts(delivery) == ["mx1.example.com", "mx2.example.com"]
    assert results(delivery) == [result, "accepted"]
    assert str(delivery.outcome) == "delivered"


# ---- queue schedule and expiry -------------------------------------------------------------


def test_expiry_bounce_says_retry_timeout_exceeded() -> None:
    """Exim (docs/mta-behaviour.md#exim-bounce-wording): after the final cutoff the next failure
    bounces with `retry timeout exceeded` (4 days)."""
    delivery = trace(district(), MTA)
    assert str(delivery.outcome) == "deferred"
    assert "retry timeout exceeded" in delivery.bounce


# ---- the RFC 5321 baseline ------------------------------------------------------------------


def test_a_record_beside_mx_is_not_used() -> None:
    """Exim against RFC 5321 §5.1 (docs/mta-behaviour.md#exim-implicit-mx, #rfc5321-implicit-mx):
    implicit MX only on DNS_NODATA for MX; the domain's own A record is not used beside an MX."""
    delivery = trace("a-beside-mx", MTA)
    assert ("example.com", "A") not in questions(delivery)
    assert tried(delivery) == ["192.0.2.25"]


# ---- the 2017 incident, in the model and as run -----------------------------------------------


def test_worked_example_section_4() -> None:
    """Exim (docs/mta-behaviour.md#the-2017-incident-mta-by-mta): MX district -> MX edlio (NODATA)
    -> AAAA district (+AAAA edlio) -> A district; Fastly IPs, <=5 tried; address u@district.example;
    `H=edlio.map.fastly.net [151.101.x.y] Connection timed out`; deferred."""
    delivery = trace(district(), MTA, overrides=NO_TFO)
    assert [q for q in questions(delivery) if q[0] == "district.example"] == [
        ("district.example", "MX"), ("district.example", "AAAA"), ("district.example", "A"),
    ]
    assert sorted(tried(delivery)) == sorted(FASTLY)
    assert delivery.envelope_recipient == "u@district.example"
    assert str(delivery.outcome) == "deferred"
    log_line(delivery, r"H=edlio\.map\.fastly\.net \[151\.101\.(2|66)\.10\] Connection timed out$")


def test_confirmed_broken_farm_reroutes_to_sites_edlio_com() -> None:
    """Exim (broken farm), seen when running it
    (docs/mta-behaviour.md#the-2017-incident-mta-by-mta): the address is re-routed to the owner of
    the LAST CNAME, RCPT TO:<student@sites.edlio.com>; `H=edlio.map.fastly.net [IP] ... Connection
    timed out`; `== student@sites.edlio.com <student@wa-students.org> R=dnslookup T=remote_smtp
    defer (110): Connection timed out`."""
    delivery = trace("wa-students-2017", MTA, pins=("broken",), overrides=NO_TFO)
    assert delivery.envelope_recipient == "student@sites.edlio.com"
    assert sorted(tried(delivery)) == sorted(FASTLY)
    log_line(delivery, r"H=edlio\.map\.fastly\.net \[151\.101\.(2|66)\.10\].* Connection timed out$")
    log_line(delivery, r"== student@sites\.edlio\.com <student@wa-students\.org> R=dnslookup T=remote_smtp "
                       r"defer \(110\): Connection timed out$")


def test_confirmed_healthy_farm_delivers_to_preference_1() -> None:
    """Seen when running the real MTAs (docs/mta-behaviour.md#the-2017-incident-mta-by-mta): with
    the farm healthy, delivered to the preference-1 host."""
    delivery = trace("wa-students-2017", MTA, pins=("healthy",))
    assert str(delivery.outcome) == "delivered"
    assert delivery.delivered_to is not None
    assert delivery.delivered_to.host == "aspmx.l.google.com"
    assert re.fullmatch(r"student@wa-students\.org", delivery.envelope_recipient)
