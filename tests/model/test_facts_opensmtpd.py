"""The OpenSMTPD 6.8.0p2 profile against docs/mta-behaviour.md#opensmtpd, one test per behaviour or
claim.

OpenSMTPD reads DNS through libasr (ANCOUNT > 0 is success whatever the rcode; SERVFAIL and REFUSED
are handed to the caller), so its DNS errors differ from the glibc MTAs'.
"""

from __future__ import annotations

import re

import dns.rcode
import dns.rdatatype
import dns.rdtypes.ANY.MX
import pytest
from factkit import (
    FASTLY,
    MOVE_ON_CASES,
    SEEDS,
    V4,
    V6,
    cname_loop,
    district,
    dns_unanswered,
    dual_stack,
    log_line,
    mx_host_servfail,
    mx_hosts_missing,
    mx_to,
    no_address,
    one_mx,
    questions,
    rcode_for_mx,
    results,
    reverse,
    run_with_replies,
    trace,
    tried,
    tried_hosts,
    two_mx,
)

MTA = "opensmtpd"
NO_MX = "No MX found for domain"
NETWORK_ERROR = "Network error on destination MXs"


# ---- MX lookup and CNAME handling ----------------------------------------------------------


def test_cname_only_mx_answer_is_not_requeried_and_falls_back_to_original() -> None:
    """OpenSMTPD (docs/mta-behaviour.md#opensmtpd-mx-lookup-and-cname): dns_dispatch_mx keeps only
    MX RRs, no re-query of the CNAME target; "fallback to host if no MX is found":
    getaddrinfo(ORIGINAL) -> AAAA, A; then the PTR of each address before connecting to it
    (mta.c mta_connect; seen in the lab, docs/agreement.md)."""
    delivery = trace(district(), MTA)
    assert questions(delivery) == [
        ("district.example", "MX"), ("district.example", "AAAA"), ("district.example", "A"),
        *reverse(tried(delivery)),
    ]
    assert str(delivery.route.kind) == "implicit-mx"
    assert delivery.route.domain == "district.example"
    assert sorted(tried(delivery)) == sorted(FASTLY)


def test_mxname_and_relay_are_the_original_domain() -> None:
    """OpenSMTPD (docs/mta-behaviour.md#opensmtpd-mx-lookup-and-cname): mx->mxname = original
    domain; relay-level failures are logged with `relay="<original domain>"`; the recipient is not
    rewritten (docs/mta-behaviour.md#opensmtpd-recipient-rewriting)."""
    delivery = trace(district(), MTA)
    assert set(tried_hosts(delivery)) == {"district.example"}
    assert delivery.envelope_recipient == "u@district.example"
    log_line(delivery, r'mta delivery .*to=<u@district\.example> .*relay="district\.example"')


def test_dangling_cname_is_success_for_libasr_and_temp_fails() -> None:
    """OpenSMTPD (docs/mta-behaviour.md#opensmtpd-dns-errors): a dangling CNAME (NXDOMAIN with the
    chain) is success for libasr (ANCOUNT > 0) -> no MX -> host lookup of the original -> no address
    -> TEMPFAIL "No MX found for domain" (not a bounce)."""
    delivery = trace("dangling-cname", MTA)
    assert str(delivery.dns[0].status) == "success"
    assert questions(delivery)[0] == ("lists.example.com", "MX")
    assert {q[1] for q in questions(delivery)[1:]} == {"AAAA", "A"}
    assert all(q[0] == "lists.example.com" for q in questions(delivery))
    assert str(delivery.outcome) == "deferred"
    assert delivery.reason == NO_MX
    assert delivery.attempts == ()


def test_chain_with_mx_in_one_answer_is_used() -> None:
    """OpenSMTPD (docs/mta-behaviour.md#opensmtpd-mx-lookup-and-cname): MX RRs are kept whatever
    their owner, so a chain ending in MX is used; the recipient keeps its original domain
    (docs/mta-behaviour.md#opensmtpd-recipient-rewriting)."""
    delivery = trace("cname-chain-to-mx", MTA)
    assert str(delivery.outcome) == "delivered"
    assert tried(delivery) == ["203.0.113.25"]
    assert delivery.envelope_recipient == "student@school.example.com"


def test_cname_loop_answered_servfail_temp_fails() -> None:
    """(docs/mta-behaviour.md#opensmtpd-dns-errors) A CNAME loop makes the resolver answer SERVFAIL
    -> temporary: TEMPFAIL "Temporary failure in MX lookup"."""
    delivery = trace(cname_loop(), MTA)
    assert str(delivery.outcome) == "deferred"
    assert delivery.reason == "Temporary failure in MX lookup"


# ---- implicit MX and DNS errors ------------------------------------------------------------


def test_nxdomain_permfails_domain_does_not_exist() -> None:
    """OpenSMTPD (docs/mta-behaviour.md#opensmtpd-dns-errors): NXDOMAIN -> PERMFAIL "Domain does not
    exist"."""
    delivery = trace("nxdomain", MTA)
    assert questions(delivery) == [("retired.example.com", "MX")]
    assert str(delivery.outcome) == "bounced"
    assert delivery.reason == "Domain does not exist"


def test_servfail_temp_fails() -> None:
    """OpenSMTPD (docs/mta-behaviour.md#opensmtpd-implicit-mx): SERVFAIL -> TRY_AGAIN -> TEMPFAIL
    "Temporary failure in MX lookup"."""
    delivery = trace("servfail", MTA)
    assert questions(delivery) == [("example.org", "MX")]
    assert str(delivery.outcome) == "deferred"
    assert delivery.reason == "Temporary failure in MX lookup"


def test_resolver_timeout_temp_fails() -> None:
    """OpenSMTPD, no reply from the resolver (docs/mta-behaviour.md#opensmtpd-dns-errors): TEMPFAIL."""
    delivery = trace(dns_unanswered(), MTA)
    assert str(delivery.outcome) == "deferred"
    assert delivery.reason == "Temporary failure in MX lookup"


def test_refused_from_resolver_permfails_invalid_domain_name() -> None:
    """OpenSMTPD, REFUSED on the MX question (docs/mta-behaviour.md#opensmtpd-dns-errors): libasr
    NO_RECOVERY -> DNS_EINVAL -> PERMFAIL "Invalid domain name"."""
    delivery = run_with_replies(MTA, rcode_for_mx(dns.rcode.REFUSED), "user@example.org")
    assert str(delivery.outcome) == "bounced"
    assert delivery.reason == "Invalid domain name"
    assert delivery.attempts == ()


def test_formerr_from_resolver_permfails_invalid_domain_name() -> None:
    """OpenSMTPD, FORMERR on the MX question (docs/mta-behaviour.md#opensmtpd-dns-errors): PERMFAIL
    "Invalid domain name"."""
    delivery = run_with_replies(MTA, rcode_for_mx(dns.rcode.FORMERR), "user@example.org")
    assert str(delivery.outcome) == "bounced"
    assert delivery.reason == "Invalid domain name"


def test_no_address_temp_fails_no_mx_found() -> None:
    """OpenSMTPD (docs/mta-behaviour.md#opensmtpd-implicit-mx): implicit MX with no address ->
    DNS_ENOTFOUND -> TEMPFAIL "No MX found for domain", retried not bounced; log `smtp-out: Failed
    to resolve MX for [relay:<domain>,smtp]: <failstr>`."""
    delivery = trace(no_address(), MTA)
    assert str(delivery.outcome) == "deferred"
    assert delivery.reason == NO_MX
    log_line(delivery, r"smtp-out: Failed to resolve MX for \[relay:example\.org,smtp\]: No MX found for domain$")


def test_implicit_mx_asks_aaaa_then_a_and_tries_ipv6_first() -> None:
    """OpenSMTPD (docs/mta-behaviour.md#opensmtpd-order-and-address-families):
    getaddrinfo(AF_UNSPEC): libasr asks inet6 then inet4 and returns v6 first."""
    delivery = trace(dual_stack(), MTA)
    assert questions(delivery) == [("example.org", "MX"), ("example.org", "AAAA"), ("example.org", "A"),
                                   *reverse([V6, V4])]
    assert tried(delivery) == [V6, V4]


def test_mta_family_inet4_asks_only_a() -> None:
    """OpenSMTPD (docs/mta-behaviour.md#opensmtpd-address-limit): per-relay `limit mta family`
    restricts the family."""
    delivery = trace(dual_stack(), MTA, overrides={"mta_family": "inet4"})
    assert questions(delivery) == [("example.org", "MX"), ("example.org", "A"), *reverse([V4])]
    assert tried(delivery) == [V4]


# ---- MX target that is a CNAME -------------------------------------------------------------


def test_mx_target_cname_is_followed_with_mx_name() -> None:
    """OpenSMTPD, seen when running it (docs/mta-behaviour.md#opensmtpd-cname-as-mx-target):
    followed silently by getaddrinfo; mxname = MX name."""
    delivery = trace("mx-target-cname", MTA)
    assert str(delivery.outcome) == "delivered"
    assert delivery.delivered_to is not None
    assert delivery.delivered_to.host == "mail.example.com"
    assert delivery.delivered_to.address == "203.0.113.25"


# ---- null MX (not supported in 6.8) --------------------------------------------------------


def test_null_mx_temp_fails_without_fallback() -> None:
    """OpenSMTPD 6.8, seen when running it (docs/mta-behaviour.md#opensmtpd-null-mx): no null-MX
    support; "0 ." gives no address -> TEMPFAIL "No MX found for domain"; no fallback to the A
    record, no connection."""
    delivery = trace("null-mx", MTA)
    assert str(delivery.outcome) == "deferred"
    assert delivery.reason == NO_MX
    assert ("example.org", "A") not in questions(delivery)
    assert delivery.attempts == ()


def test_null_mx_beside_real_mx_uses_the_real_mx() -> None:
    """OpenSMTPD (docs/mta-behaviour.md#opensmtpd-null-mx): the "" host's per-host error is ignored;
    the real MX is used."""
    delivery = trace("null-mx-beside-mx", MTA)
    assert str(delivery.outcome) == "delivered"
    assert tried(delivery) == ["192.0.2.25"]


# ---- IP literal and loopback ---------------------------------------------------------------


def test_ip_literal_mx_is_delivered_to() -> None:
    """OpenSMTPD, seen when running it (docs/mta-behaviour.md#opensmtpd-ip-literal-mx-and-loops): an
    MX that is an IP literal is delivered to."""
    delivery = trace("mx-ip-literal", MTA)
    assert str(delivery.outcome) == "delivered"
    assert tried(delivery) == ["192.0.2.25"]


def test_mx_to_loopback_connects() -> None:
    """OpenSMTPD 6.8 (docs/mta-behaviour.md#opensmtpd-ip-literal-mx-and-loops): no IP-based self
    detection; an MX on 127.0.0.1 is connected to."""
    delivery = trace(mx_to("127.0.0.1"), MTA)
    assert tried(delivery) == ["127.0.0.1"]


# ---- the MX hosts' own address lookups -----------------------------------------------------


def test_mx_host_errors_ignored_when_another_resolves() -> None:
    """OpenSMTPD, the MX hosts' own address lookups
    (docs/mta-behaviour.md#opensmtpd-mx-hosts-without-address): per-host errors are ignored."""
    delivery = trace("mx-no-address", MTA)
    assert str(delivery.outcome) == "delivered"
    assert tried_hosts(delivery) == ["mx2.example.com"]


@pytest.mark.parametrize("which", ["missing", "servfail"])
def test_no_mx_host_address_temp_fails(which: str) -> None:
    """OpenSMTPD, the MX hosts' own address lookups
    (docs/mta-behaviour.md#opensmtpd-mx-hosts-without-address): zero addresses overall -> TEMPFAIL
    "No MX found for domain" (whether the hosts are missing or their lookups failed)."""
    delivery = trace(mx_hosts_missing() if which == "missing" else mx_host_servfail(), MTA)
    assert str(delivery.outcome) == "deferred"
    assert delivery.reason == NO_MX


# ---- order, randomisation, limits ----------------------------------------------------------


def test_equal_preference_keeps_dns_order() -> None:
    """OpenSMTPD (docs/mta-behaviour.md#opensmtpd-order-and-address-families): equal preference
    keeps the DNS order, no randomisation: the same order for every seed, that of the MX RRs in the
    answer."""
    orders = set()
    for seed in SEEDS[:6]:
        delivery = trace("address-limit", MTA, seed=seed)
        mx_rrset = delivery.dns[0].records(dns.rdatatype.MX)[0]
        in_answer = [rdata.exchange.to_text(omit_final_dot=True).lower() for rdata in mx_rrset
                     if isinstance(rdata, dns.rdtypes.ANY.MX.MX) and rdata.preference == 10]
        assert tried_hosts(delivery)[:7] == in_answer
        orders.add(tuple(tried_hosts(delivery)))
    assert len(orders) == 1


def test_no_address_limit_reaches_the_backup() -> None:
    """OpenSMTPD, seen when running it (docs/mta-behaviour.md#opensmtpd-address-limit): no fixed
    address limit: all seven refusing hosts are tried, then the preference-20 backup, which accepts."""
    delivery = trace("address-limit", MTA)
    assert len(delivery.attempts) == 8
    assert tried_hosts(delivery)[-1] == "backup.example.com"
    assert str(delivery.outcome) == "delivered"


def test_all_routes_failed_is_network_error() -> None:
    """OpenSMTPD (docs/mta-behaviour.md#opensmtpd-order-and-address-families): when no route is left
    -> relay TEMPFAIL "Network error on destination MXs"."""
    delivery = trace(one_mx("refuse"), MTA)
    assert str(delivery.outcome) == "deferred"
    assert delivery.reason == NETWORK_ERROR


# ---- timeouts and log lines ----------------------------------------------------------------


def test_connect_timeout_wording_and_kernel_limit() -> None:
    """OpenSMTPD (docs/mta-behaviour.md#opensmtpd-timeouts): the kernel connect timeout (capped by
    the 300 s io timeout); `<sid> mta connecting address=smtp://IP:25 host=<ptr>`, `<sid> mta error
    reason=Connection timeout`."""
    delivery = trace(one_mx("drop"), MTA)
    (attempt,) = delivery.attempts
    assert attempt.elapsed == pytest.approx(127.0, abs=1.0)
    log_line(delivery, r"[0-9a-f]+ mta connecting address=smtp://192\.0\.2\.25:25 host=\S+$")
    log_line(delivery, r"[0-9a-f]+ mta error reason=Connection timeout$")


def test_connection_refused_wording() -> None:
    """OpenSMTPD (docs/mta-behaviour.md#opensmtpd-log-wording): refused: `<sid> mta error reason=IO
    Error: Connection refused`."""
    delivery = trace(one_mx("refuse"), MTA)
    log_line(delivery, r"[0-9a-f]+ mta error reason=IO Error: Connection refused$")


def test_greeting_timeout_is_the_io_timeout() -> None:
    """OpenSMTPD (docs/mta-behaviour.md#opensmtpd-timeouts): the greeting waits for the same 300 s
    io timeout."""
    delivery = trace(one_mx("tarpit"), MTA)
    (attempt,) = delivery.attempts
    assert attempt.elapsed == pytest.approx(300.0, abs=1.0)
    assert str(attempt.result) == "banner_timeout"


def test_envelope_line_tempfail_network_error() -> None:
    """OpenSMTPD (docs/mta-behaviour.md#opensmtpd-log-wording): `mta delivery evpid=... to=<u@d> ...
    relay="d" ... result="TempFail" stat="Network error on destination MXs"`."""
    delivery = trace(one_mx("drop"), MTA)
    log_line(delivery, r'mta delivery evpid=[0-9a-f]+ .*to=<user@example\.org> .*relay="example\.org" .*'
                       r'result="TempFail" stat="Network error on destination MXs"$')


def test_failed_route_is_disabled_in_the_log() -> None:
    """OpenSMTPD (docs/mta-behaviour.md#opensmtpd-log-wording): a route whose connection fails is
    logged `smtp-out: Disabling route <source> <-> <dst host text> for 15s`."""
    delivery = trace(one_mx("refuse"), MTA)
    log_line(delivery, r"smtp-out: Disabling route .* <-> .* for 15s")


@pytest.mark.parametrize(("smtp", "extra", "result"), MOVE_ON_CASES)
def test_moves_on_to_next_mx(smtp: str, extra: str, result: str) -> None:
    """Seen when running the real MTAs (docs/mta-behaviour.md#opensmtpd-error-classes): all four
    MTAs move on to the next MX after a 421 or a 554 greeting, after a refused connection and after
    a greeting timeout."""
    delivery = trace(two_mx(smtp, extra), MTA)
    assert tried_hosts(delivery) == ["mx1.example.com", "mx2.example.com"]
    assert results(delivery) == [result, "accepted"]
    assert str(delivery.outcome) == "delivered"


# ---- queue schedule and expiry -------------------------------------------------------------


def test_expiry_bounce_says_envelope_expired() -> None:
    """OpenSMTPD (docs/mta-behaviour.md#opensmtpd-bounce-wording): after SMTPD_QUEUE_EXPIRY (4 d)
    the bounce text is `Envelope expired`."""
    delivery = trace(district(), MTA)
    assert "Envelope expired" in delivery.bounce


# ---- the RFC 5321 baseline ------------------------------------------------------------------


def test_a_record_beside_mx_is_not_used() -> None:
    """OpenSMTPD against RFC 5321 §5.1 (docs/mta-behaviour.md#opensmtpd-implicit-mx,
    #rfc5321-implicit-mx): the fallback to the host applies only when the answer holds no MX RR."""
    delivery = trace("a-beside-mx", MTA)
    assert ("example.com", "A") not in questions(delivery)
    assert tried(delivery) == ["192.0.2.25"]


# ---- the 2017 incident, in the model and as run -----------------------------------------------


def test_worked_example_section_4() -> None:
    """OpenSMTPD (docs/mta-behaviour.md#the-2017-incident-mta-by-mta): MX district (CNAME only) ->
    getaddrinfo(district) AAAA/A; Fastly IPs; `to=<u@district.example>`, `relay="district.example"`;
    TempFail "Network error on destination MXs"."""
    delivery = trace(district(), MTA)
    assert questions(delivery)[0] == ("district.example", "MX")
    assert {q for q in questions(delivery)[1:]} == {("district.example", "AAAA"), ("district.example", "A"),
                                                    *reverse(FASTLY)}
    assert sorted(tried(delivery)) == sorted(FASTLY)
    assert str(delivery.outcome) == "deferred"
    log_line(delivery, r'to=<u@district\.example> .*relay="district\.example" .*result="TempFail" '
                       r'stat="Network error on destination MXs"')


def test_confirmed_broken_farm_asks_mx_then_a() -> None:
    """OpenSMTPD (lab host without IPv6 so AI_ADDRCONFIG asks no AAAA), seen when running it
    (docs/mta-behaviour.md): asked wa-students.org/MX then wa-students.org/A; logged addresses only;
    `result="TempFail" stat="Network error on destination MXs"`."""
    delivery = trace("wa-students-2017", MTA, pins=("broken",), overrides={"ipv6_configured": "no"})
    assert questions(delivery) == [("wa-students.org", "MX"), ("wa-students.org", "A"),
                                   *reverse(tried(delivery))]
    assert sorted(tried(delivery)) == sorted(FASTLY)
    for line in delivery.log:
        if "mta connecting" in line:
            assert re.search(r"address=smtp://151\.101\.(2|66)\.10:25 host=151\.101\.(2|66)\.10$", line)
    log_line(delivery, r'result="TempFail" stat="Network error on destination MXs"$')


def test_confirmed_healthy_farm_delivers_to_preference_1() -> None:
    """Seen when running the real MTAs (docs/mta-behaviour.md#the-2017-incident-mta-by-mta): with
    the farm healthy, delivered to the preference-1 host."""
    delivery = trace("wa-students-2017", MTA, pins=("healthy",))
    assert str(delivery.outcome) == "delivered"
    assert delivery.delivered_to is not None
    assert delivery.delivered_to.host == "aspmx.l.google.com"


# ---- the whole question stream, as the lab showed it (docs/agreement.md) ----------------------


def test_a_host_without_an_address_is_asked_again_with_the_search_domain() -> None:
    """getaddrinfo_async: the name finds no address, so NAME.DOMAIN is asked, AAAA then A
    (mx-no-address); a host with an address is asked once."""
    delivery = trace("mx-no-address", MTA, overrides={"search_domains": "site.example"})
    assert questions(delivery) == [
        ("example.com", "MX"), ("mx1.example.com", "AAAA"), ("mx1.example.com", "A"),
        ("mx1.example.com.site.example", "AAAA"), ("mx1.example.com.site.example", "A"),
        ("mx2.example.com", "AAAA"), ("mx2.example.com", "A"), *reverse(["192.0.2.20"]),
    ]


def test_each_address_tried_is_reverse_looked_up_before_the_connection() -> None:
    """mta.c mta_connect: the PTR of each address it connects to, refused or not."""
    delivery = trace("mx-middle-no-address", MTA)
    assert tried(delivery) == ["192.0.2.10", "192.0.2.30"]
    assert [q for q in questions(delivery) if q[1] == "PTR"] == reverse(tried(delivery))


def test_its_words_for_a_host_that_never_greets_and_for_one_that_hangs_up() -> None:
    """mta_session.c, as the real one logged them in the lab: a greeting that never comes
    is a "Connection timeout" (as for an unanswered SYN); a host that closes the silent
    connection is "Connection closed unexpectedly", and the next MX is tried at once."""
    silent = trace("tarpit-first-mx", MTA)
    log_line(silent, r"mta error reason=Connection timeout$")
    hangs_up = trace("tarpit-closes-first-mx", MTA)
    assert results(hangs_up) == ["closed", "accepted"]
    log_line(hangs_up, r"mta error reason=Connection closed unexpectedly$")
    assert hangs_up.elapsed < 5.0
