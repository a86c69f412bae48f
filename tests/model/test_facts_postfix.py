"""The Postfix 3.7 profile against docs/mta-behaviour.md#postfix, one test per behaviour or claim.

Every scenario runs through the real engine (world, emulated resolver, glibc stub,
profile); see factkit.py for the few cases that need fixed resolver replies.
"""

from __future__ import annotations

import re

import dns.rcode
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
    log_text,
    loop_replies,
    mx_host_servfail,
    mx_hosts_missing,
    mx_to,
    one_mx,
    questions,
    rcode_for_mx,
    results,
    run_with_replies,
    scenario,
    trace,
    tried,
    tried_hosts,
    two_mx,
)

from mxsim.scenario import ScenarioSpec

MTA = "postfix"


# ---- MX lookup and CNAME handling ----------------------------------------------------------


def test_cname_only_mx_answer_is_requeried_then_implicit_mx_uses_original_name() -> None:
    """Postfix (docs/mta-behaviour.md#postfix-mx-lookup-and-cname): a CNAME-only MX answer is
    re-queried at the last CNAME's target; NODATA there is DNS_NOTFOUND, so the implicit MX uses the
    ORIGINAL name: the resolver sees MX orig, MX target, A orig, AAAA orig. And for an MX host
    (#postfix-cname-as-mx-target): an address answer holding only CNAMEs is re-queried too, so the
    AAAA question ends at the target (AAAA edlio)."""
    delivery = trace(district(), MTA)
    assert questions(delivery) == [
        ("district.example", "MX"),
        ("edlio.map.fastly.net", "MX"),
        ("district.example", "A"),
        ("district.example", "AAAA"),
        ("edlio.map.fastly.net", "AAAA"),
    ]
    assert str(delivery.route.kind) == "implicit-mx"
    assert delivery.route.domain == "district.example"


def test_mx_requery_goes_to_the_last_cname_target_of_a_chain() -> None:
    """Postfix (docs/mta-behaviour.md#postfix-mx-lookup-and-cname): dns_get_alias overwrites `cname`
    each time, so a chain a -> b -> c in one answer is re-queried at the RDATA of the LAST CNAME
    (c), never at b."""
    delivery = trace(cname_chain_no_mx(), MTA)
    mx_questions = [q for q in questions(delivery) if q[1] == "MX"]
    assert mx_questions == [("a.example.com", "MX"), ("c.example.org", "MX")]
    assert set(tried_hosts(delivery)) == {"a.example.com"}


def test_chain_with_mx_in_one_answer_is_used_as_is() -> None:
    """Postfix (docs/mta-behaviour.md#postfix-mx-lookup-and-cname): dns_get_answer takes every MX RR
    regardless of owner, so a full chain CNAME...+MX is used as-is: one MX question, delivery to the
    chain's MX host."""
    delivery = trace("cname-chain-to-mx", MTA)
    assert [q for q in questions(delivery) if q[1] == "MX"] == [("school.example.com", "MX")]
    assert str(delivery.outcome) == "delivered"
    assert delivery.delivered_to is not None
    assert delivery.delivered_to.address == "203.0.113.25"


def test_partial_chain_loop_stops_after_ten_mx_questions_and_falls_back() -> None:
    """Postfix (docs/mta-behaviour.md#postfix-mx-lookup-and-cname): at most 10 MX queries of
    CNAME-only answers, then DNS_NOTFOUND (not an error) and the A/AAAA lookup of the ORIGINAL
    domain, which loops again; the message bounces 5.4.4."""
    delivery = run_with_replies(MTA, loop_replies, "user@n0.loop.test")
    asked = questions(delivery)
    assert asked[:10] == [(f"n{k}.loop.test", "MX") for k in range(10)]
    assert asked[10] == ("n0.loop.test", "A")
    assert str(delivery.outcome) == "bounced"
    assert delivery.dsn == "5.4.4"


def test_partial_chain_loop_warns_name_server_loop() -> None:
    """Postfix (docs/mta-behaviour.md#postfix-mx-lookup-and-cname): after 10 CNAME-only answers
    Postfix warns `dns_lookup: Name server loop for <name>`."""
    delivery = run_with_replies(MTA, loop_replies, "user@n0.loop.test")
    log_line(delivery, r"dns_lookup: Name server loop for \S+")


def test_partial_chain_loop_bounce_names_the_loop() -> None:
    """Postfix (docs/mta-behaviour.md#postfix-mx-lookup-and-cname): the A/AAAA fallback of the
    original loops again, and the message bounces 5.4.4 "with that text", i.e. the `Name server loop
    for <name>` words."""
    delivery = run_with_replies(MTA, loop_replies, "user@n0.loop.test")
    assert delivery.dsn == "5.4.4"
    assert "Name server loop for" in delivery.reason


def test_logged_server_name_is_the_original_domain() -> None:
    """Postfix (docs/mta-behaviour.md#postfix-mx-lookup-and-cname): the logged server name is the
    qname (the original domain) since smtp_cname_overrides_servername = no: `connect to
    example.org[151.101.x.y]:25: Connection timed out`."""
    delivery = trace(district(), MTA)
    assert set(tried_hosts(delivery)) == {"district.example"}
    assert re.fullmatch(r"connect to district\.example\[151\.101\.(2|66)\.10\]:25: Connection timed out",
                        delivery.reason)


def test_cname_overrides_servername_logs_the_canonical_name() -> None:
    """Postfix (docs/mta-behaviour.md#postfix-mx-lookup-and-cname): with
    smtp_cname_overrides_servername = yes the logged name is the owner of the address records (the
    CNAME target)."""
    delivery = trace(district(), MTA, overrides={"smtp_cname_overrides_servername": "yes"})
    assert set(tried_hosts(delivery)) == {"edlio.map.fastly.net"}
    assert delivery.reason.startswith("connect to edlio.map.fastly.net[")


@pytest.mark.parametrize(("source", "pins"), [
    pytest.param("cname-chain-to-mx", (), id="chain-to-mx"),
    pytest.param("wa-students-2017", ("broken",), id="broken-farm"),
    pytest.param(district(), (), id="district"),
    pytest.param(cname_chain_no_mx(), (), id="chain-no-mx"),
])
def test_recipient_address_is_never_rewritten(source: ScenarioSpec | str, pins: tuple[str, ...]) -> None:
    """Postfix (docs/mta-behaviour.md#postfix-recipient-rewriting): no DNS-based address
    canonicalisation anywhere; the recipient stays user@original, also behind a CNAME chain (when
    run: RCPT TO stayed student@wa-students.org)."""
    delivery = trace(source, MTA, pins=pins)
    assert delivery.envelope_recipient == delivery.recipient
    assert f"to=<{delivery.recipient}>" in log_text(delivery)


def test_cname_loop_answered_servfail_defers() -> None:
    """(docs/mta-behaviour.md#postfix-dns-errors) A CNAME loop makes the recursive resolver answer
    SERVFAIL, which Postfix (like all four) treats as temporary: deferred 4.4.3, nothing tried."""
    delivery = trace(cname_loop(), MTA)
    assert str(delivery.outcome) == "deferred"
    assert delivery.dsn == "4.4.3"
    assert delivery.attempts == ()


# ---- implicit MX and DNS errors ------------------------------------------------------------


def test_nxdomain_still_asks_a_and_aaaa_then_bounces_5_4_4() -> None:
    """Postfix (docs/mta-behaviour.md#postfix-dns-errors): NXDOMAIN on MX still triggers the A and
    AAAA queries; both missing bounce 5.4.4 with the AAAA words: `Host or domain name not found.
    Name service error for name=<d> type=AAAA: Host not found`."""
    delivery = trace("nxdomain", MTA)
    assert questions(delivery) == [
        ("retired.example.com", "MX"), ("retired.example.com", "A"), ("retired.example.com", "AAAA"),
    ]
    assert str(delivery.outcome) == "bounced"
    assert delivery.dsn == "5.4.4"
    assert delivery.reason == ("Host or domain name not found. Name service error for "
                               "name=retired.example.com type=AAAA: Host not found")
    assert delivery.attempts == ()


def test_dangling_cname_is_host_not_found_and_bounces() -> None:
    """Postfix (docs/mta-behaviour.md#postfix-dns-errors): a dangling CNAME (NXDOMAIN with the
    chain) is HOST_NOT_FOUND for glibc: DNS_NOTFOUND, A and AAAA of the original also fail, bounce
    5.4.4."""
    delivery = trace("dangling-cname", MTA)
    assert questions(delivery) == [
        ("lists.example.com", "MX"), ("lists.example.com", "A"), ("lists.example.com", "AAAA"),
    ]
    assert str(delivery.outcome) == "bounced"
    assert delivery.dsn == "5.4.4"
    assert delivery.attempts == ()


def test_servfail_defers_4_4_3_without_fallback() -> None:
    """Postfix, SERVFAIL on the MX question (docs/mta-behaviour.md#postfix-dns-errors): glibc
    TRY_AGAIN -> DNS_RETRY -> defer 4.4.3 "...type=MX: Host not found, try again"; no A/AAAA
    fallback (#postfix-implicit-mx) unless ignore_mx_lookup_error."""
    delivery = trace("servfail", MTA)
    assert questions(delivery) == [("example.org", "MX")] * 2  # glibc attempts:2 (docs/agreement.md)
    assert str(delivery.outcome) == "deferred"
    assert delivery.dsn == "4.4.3"
    assert delivery.reason == ("Host or domain name not found. Name service error for "
                               "name=example.org type=MX: Host not found, try again")
    assert delivery.attempts == ()


def test_ignore_mx_lookup_error_falls_back_to_addresses() -> None:
    """Postfix (docs/mta-behaviour.md#postfix-implicit-mx): with ignore_mx_lookup_error = yes an MX
    lookup error falls back to the A and AAAA lookups of the domain."""
    delivery = trace("servfail", MTA, overrides={"ignore_mx_lookup_error": "yes"})
    # Each question SERVFAILs and glibc (attempts:2) sends it twice.
    assert questions(delivery) == [("example.org", "MX")] * 2 + [("example.org", "A")] * 2 + [
        ("example.org", "AAAA")] * 2


def test_resolver_timeout_defers_4_4_3() -> None:
    """Postfix, no reply from the resolver (docs/mta-behaviour.md#postfix-dns-errors): TRY_AGAIN ->
    defer 4.4.3."""
    delivery = trace(dns_unanswered(), MTA)
    assert str(delivery.outcome) == "deferred"
    assert delivery.dsn == "4.4.3"


def test_refused_from_resolver_defers() -> None:
    """Postfix, REFUSED on the MX question (docs/mta-behaviour.md#postfix-dns-errors): glibc
    converts REFUSED to TRY_AGAIN -> defer (4.4.3), no fallback to the domain's A record."""
    delivery = run_with_replies(MTA, rcode_for_mx(dns.rcode.REFUSED), "user@example.org")
    assert str(delivery.outcome) == "deferred"
    assert delivery.dsn == "4.4.3"
    assert delivery.attempts == ()


def test_formerr_from_resolver_bounces_5_4_3() -> None:
    """Postfix, FORMERR on the MX question (docs/mta-behaviour.md#postfix-dns-errors): NO_RECOVERY
    -> DNS_FAIL -> bounce 5.4.3."""
    delivery = run_with_replies(MTA, rcode_for_mx(dns.rcode.FORMERR), "user@example.org")
    assert str(delivery.outcome) == "bounced"
    assert delivery.dsn == "5.4.3"
    assert delivery.attempts == ()


def test_implicit_mx_asks_a_then_aaaa() -> None:
    """Postfix (docs/mta-behaviour.md#postfix-order-and-address-families): inet_protocols = all -> A
    then AAAA, both always queried."""
    delivery = trace("implicit-mx", MTA)
    assert questions(delivery) == [("example.org", "MX"), ("example.org", "A"), ("example.org", "AAAA")]
    assert str(delivery.outcome) == "delivered"


def test_implicit_mx_addresses_are_shuffled_without_family_preference() -> None:
    """Postfix (docs/mta-behaviour.md#postfix-order-and-address-families): addresses are shuffled
    (smtp_randomize_addresses = yes) and smtp_address_preference = any gives no family ordering:
    over seeds either family is tried first."""
    assert first_tried_over_seeds(dual_stack(), MTA) == {V4, V6}


def test_address_preference_ipv6_puts_ipv6_first() -> None:
    """Postfix (docs/mta-behaviour.md#postfix-order-and-address-families): smtp_address_preference
    sorts the families; ipv6 -> IPv6 first."""
    firsts = first_tried_over_seeds(dual_stack(), MTA, overrides={"smtp_address_preference": "ipv6"})
    assert firsts == {V6}


def test_implicit_mx_loopback_loops_back_to_myself() -> None:
    """Postfix (docs/mta-behaviour.md#postfix-ip-literal-mx-and-loops): an implicit-MX address that
    is one of ours bounces `mail for <orig> loops back to myself` (5.4.6)."""
    spec = scenario("""
        recipient: user@example.org
        zones:
          example.org: |
            $TTL 3600
            @  A  127.0.0.1
        hosts:
          default:
            smtp: accept
        """)
    delivery = trace(spec, MTA)
    assert str(delivery.outcome) == "bounced"
    assert delivery.dsn == "5.4.6"
    assert delivery.reason == "mail for example.org loops back to myself"


# ---- MX target that is a CNAME -------------------------------------------------------------


def test_mx_target_cname_is_followed_and_mx_name_logged() -> None:
    """Postfix, seen when running it (docs/mta-behaviour.md#postfix-cname-as-mx-target): an MX host
    that is a CNAME is followed silently; the logged name is the MX hostname (mail.example.com), not
    the CNAME target."""
    delivery = trace("mx-target-cname", MTA)
    assert str(delivery.outcome) == "delivered"
    assert delivery.delivered_to is not None
    assert delivery.delivered_to.host == "mail.example.com"
    assert delivery.delivered_to.address == "203.0.113.25"
    log_line(delivery, r"relay=mail\.example\.com\[203\.0\.113\.25\]:25, .*status=sent")


def test_mx_target_cname_with_cname_overrides_servername() -> None:
    """Postfix (docs/mta-behaviour.md#postfix-cname-as-mx-target): smtp_cname_overrides_servername =
    yes logs the CNAME target."""
    delivery = trace("mx-target-cname", MTA, overrides={"smtp_cname_overrides_servername": "yes"})
    assert delivery.delivered_to is not None
    assert delivery.delivered_to.host == "mx1.mailhost.example.net"


# ---- null MX -------------------------------------------------------------------------------


def test_null_mx_bounces_5_1_0_without_fallback() -> None:
    """Postfix, seen when running it (docs/mta-behaviour.md#postfix-null-mx): null MX bounces at
    once, dsn 5.1.0, `Domain <d> does not accept mail (nullMX)`; no A/AAAA fallback and no
    connection."""
    delivery = trace("null-mx", MTA)
    assert str(delivery.outcome) == "bounced"
    assert delivery.dsn == "5.1.0"
    assert delivery.reason == "Domain example.org does not accept mail (nullMX)"
    assert questions(delivery) == [("example.org", "MX")]
    assert delivery.attempts == ()


@pytest.mark.parametrize("records", [
    ("@ MX 0 .", "@ MX 10 mx.example.org."),
    ("@ MX 10 .", "@ MX 0 mx.example.org."),
])
def test_null_mx_beside_real_mx_bounces_whole_domain(records: tuple[str, str]) -> None:
    """Postfix (docs/mta-behaviour.md#postfix-null-mx): ANY MX RR with an empty exchange, at any
    preference and mixed with other MX RRs, aborts the whole answer with DNS_NULLMX: bounce 5.1.0."""
    spec = scenario(f"""
        recipient: user@example.org
        zones:
          example.org: |
            $TTL 3600
            {records[0]}
            {records[1]}
            mx A 192.0.2.25
        hosts:
          default:
            smtp: accept
        """)
    delivery = trace(spec, MTA)
    assert str(delivery.outcome) == "bounced"
    assert delivery.dsn == "5.1.0"
    assert delivery.attempts == ()


# ---- IP literal and self -------------------------------------------------------------------


def test_ip_literal_mx_is_accepted_with_numeric_name_warning() -> None:
    """Postfix, seen when running it (docs/mta-behaviour.md#postfix-ip-literal-mx-and-loops): an MX
    that is an IP literal is accepted and delivered to, with `warning: numeric domain name in
    resource data of MX record for <d>: <ip>`."""
    delivery = trace("mx-ip-literal", MTA)
    assert str(delivery.outcome) == "delivered"
    assert tried(delivery) == ["192.0.2.25"]
    log_line(delivery, r"warning: numeric domain name in resource data of MX record for example\.com: "
                       r"192\.0\.2\.25$")


def test_best_mx_on_loopback_loops_back_to_myself() -> None:
    """Postfix (docs/mta-behaviour.md#postfix-ip-literal-mx-and-loops): 127.0.0.1 is one of the own
    addresses (inet_interfaces = all); the best MX being self -> `mail for <d> loops back to
    myself`, bounce 5.4.6."""
    delivery = trace(mx_to("127.0.0.1"), MTA)
    assert str(delivery.outcome) == "bounced"
    assert delivery.dsn == "5.4.6"
    assert delivery.reason == "mail for example.com loops back to myself"
    assert delivery.attempts == ()


def test_self_as_backup_mx_truncates_the_list() -> None:
    """Postfix (docs/mta-behaviour.md#postfix-ip-literal-mx-and-loops): self as a backup MX -> the
    list is truncated at its own preference, so the loopback backup is never connected to."""
    delivery = trace(mx_to("127.0.0.1", backup=True), MTA)
    assert "127.0.0.1" not in tried(delivery)
    assert tried(delivery) == ["192.0.2.10"]
    assert str(delivery.outcome) == "deferred"


def test_self_as_backup_with_no_better_mx_is_unable_to_find_primary_relay() -> None:
    """Postfix (docs/mta-behaviour.md#postfix-ip-literal-mx-and-loops): self is a backup MX and
    nothing more preferred resolves -> `unable to find primary relay for <d>` (4.4.4), not "loops
    back to myself"."""
    spec = scenario("""
        recipient: user@example.com
        zones:
          example.com: |
            $TTL 3600
            @   MX  10 gone.example.com.
            @   MX  20 mx.example.com.
            mx  A   127.0.0.1
        hosts:
          default:
            smtp: accept
        """)
    delivery = trace(spec, MTA)
    assert delivery.attempts == ()
    assert str(delivery.outcome) == "deferred"
    assert delivery.dsn == "4.4.4"
    assert delivery.reason == "unable to find primary relay for example.com"


# ---- the MX hosts' own address lookups -----------------------------------------------------


def test_mx_host_without_address_is_skipped() -> None:
    """Postfix, the MX hosts' own address lookups
    (docs/mta-behaviour.md#postfix-mx-hosts-without-address): if some MX hosts resolve, the others
    are silently skipped."""
    delivery = trace("mx-no-address", MTA)
    assert str(delivery.outcome) == "delivered"
    assert tried_hosts(delivery) == ["mx2.example.com"]


def test_no_mx_host_with_address_is_hard_with_warning() -> None:
    """Postfix, the MX hosts' own address lookups
    (docs/mta-behaviour.md#postfix-mx-hosts-without-address): none resolve -> `warning: no MX host
    for <d> has a valid address record` and the last lookup error, hard since no soft error."""
    delivery = trace(mx_hosts_missing(), MTA)
    assert str(delivery.outcome) == "bounced"
    assert delivery.dsn.startswith("5.")
    log_line(delivery, r"warning: no MX host for example\.com has a valid address record")


def test_no_mx_host_with_address_after_soft_error_defers() -> None:
    """Postfix, the MX hosts' own address lookups
    (docs/mta-behaviour.md#postfix-mx-hosts-without-address): the failure is hard unless a soft
    error was seen: a SERVFAIL on the only MX host's lookup defers."""
    delivery = trace(mx_host_servfail(), MTA)
    assert str(delivery.outcome) == "deferred"
    assert delivery.dsn.startswith("4.")


# ---- order, randomisation, limits ----------------------------------------------------------


def test_equal_preference_addresses_are_shuffled_and_sorted_by_preference() -> None:
    """Postfix (docs/mta-behaviour.md#postfix-order-and-address-families): the address list is
    shuffled, then re-sorted by preference: random order among equal preferences (first address
    varies over seeds), and the preference-20 backup always last."""
    firsts = set()
    for seed in SEEDS:
        delivery = trace("address-limit", MTA, seed=seed, overrides={"smtp_mx_address_limit": "0"})
        assert tried_hosts(delivery)[-1] == "backup.example.com"
        assert len(delivery.attempts) == 8
        firsts.add(tried(delivery)[0])
    assert len(firsts) > 1


def test_mx_address_limit_five() -> None:
    """Postfix, seen when running it (docs/mta-behaviour.md#postfix-address-limit):
    smtp_mx_address_limit = 5: of seven refusing equal- preference hosts five are tried, the backup
    never; deferred 4.4.1 `connect to mxN.example.com[...]: Connection refused`."""
    delivery = trace("address-limit", MTA)
    assert len(delivery.attempts) == 5
    assert all(re.fullmatch(r"mx[1-7]\.example\.com", host) for host in tried_hosts(delivery))
    assert str(delivery.outcome) == "deferred"
    assert delivery.dsn == "4.4.1"
    assert re.fullmatch(r"connect to mx[1-7]\.example\.com\[203\.0\.113\.1[1-7]\]:25: Connection refused",
                        delivery.reason)


def test_mx_address_limit_override() -> None:
    """Postfix (docs/mta-behaviour.md#postfix-address-limit): smtp_mx_address_limit caps the
    addresses tried per delivery."""
    delivery = trace("address-limit", MTA, overrides={"smtp_mx_address_limit": "3"})
    assert len(delivery.attempts) == 3


# ---- timeouts and log lines ----------------------------------------------------------------


def test_connect_timeout_30s_and_wording() -> None:
    """Postfix (docs/mta-behaviour.md#postfix-timeouts): smtp_connect_timeout = 30s; `connect to
    mx.example.org[192.0.2.25]:25: Connection timed out`, dsn 4.4.1, status=deferred."""
    delivery = trace(one_mx("drop"), MTA)
    (attempt,) = delivery.attempts
    assert attempt.elapsed == pytest.approx(30.0, abs=0.5)
    assert delivery.reason == "connect to mx.example.org[192.0.2.25]:25: Connection timed out"
    assert delivery.dsn == "4.4.1"
    log_line(delivery, r"status=deferred \(connect to mx\.example\.org\[192\.0\.2\.25\]:25: "
                       r"Connection timed out\)$")


def test_connection_refused_wording() -> None:
    """Postfix (docs/mta-behaviour.md#postfix-log-wording): `connect to
    mx.example.org[192.0.2.25]:25: Connection refused` (4.4.1)."""
    delivery = trace(one_mx("refuse"), MTA)
    assert delivery.reason == "connect to mx.example.org[192.0.2.25]:25: Connection refused"
    assert delivery.dsn == "4.4.1"


def test_greeting_timeout_wording_and_dsn() -> None:
    """Postfix (docs/mta-behaviour.md#postfix-timeouts): smtp_helo_timeout = 300s covers the banner;
    `conversation with mx.example.org[192.0.2.25] timed out while receiving the initial server
    greeting`, 4.4.2."""
    delivery = trace(one_mx("tarpit"), MTA)
    (attempt,) = delivery.attempts
    assert attempt.elapsed == pytest.approx(300.0, abs=1.0)
    assert delivery.reason == ("conversation with mx.example.org[192.0.2.25] timed out while receiving "
                               "the initial server greeting")
    assert delivery.dsn == "4.4.2"
    assert str(delivery.outcome) == "deferred"


def test_5xx_greeting_is_skipped_with_refused_to_talk_wording() -> None:
    """Postfix (docs/mta-behaviour.md#postfix-error-classes): smtp_skip_5xx_greeting = yes
    downgrades a 5xx banner to 4xx and moves on; text `host H[IP] refused to talk to me: 554 ...`."""
    delivery = trace("greeting-554-first-mx", MTA)
    assert str(delivery.outcome) == "delivered"
    assert tried_hosts(delivery) == ["mx1.example.com", "mx2.example.com"]
    log_line(delivery, r"host mx1\.example\.com\[192\.0\.2\.10\] refused to talk to me: 554 5\.7\.1 no service")


def test_5xx_greeting_on_the_only_mx_defers() -> None:
    """Postfix (docs/mta-behaviour.md#postfix-error-classes): with smtp_skip_5xx_greeting = yes a
    5xx greeting is downgraded to 4xx, so a single rejecting MX defers rather than bounces."""
    delivery = trace(one_mx("reject", 'code: 554\n            text: "5.7.1 no service"'), MTA)
    assert str(delivery.outcome) == "deferred"
    assert delivery.dsn.startswith("4.")


def test_delivery_line_field_order() -> None:
    """Postfix (docs/mta-behaviour.md#postfix-log-wording): `QUEUEID: to=<u@d>, relay=none,
    delay=..., delays=a/b/c/d, dsn=4.4.1, status=deferred (connect to d[ip]:25: Connection timed
    out)`."""
    delivery = trace(one_mx("drop"), MTA)
    log_line(delivery, r"postfix/smtp\[\d+\]: [0-9A-F]+: to=<user@example\.org>, relay=none, delay=[\d.]+, "
                       r"delays=[\d.]+/[\d.]+/[\d.]+/[\d.]+, dsn=4\.4\.1, status=deferred \(connect to "
                       r"mx\.example\.org\[192\.0\.2\.25\]:25: Connection timed out\)$")


@pytest.mark.parametrize(("smtp", "extra", "result"), MOVE_ON_CASES)
def test_moves_on_to_next_mx(smtp: str, extra: str, result: str) -> None:
    """Seen when running the real MTAs (docs/mta-behaviour.md#postfix-error-classes): all four MTAs
    move on to the next MX after a 421 or a 554 greeting, after a refused connection and after a
    greeting timeout."""
    delivery = trace(two_mx(smtp, extra), MTA)
    assert tried_hosts(delivery) == ["mx1.example.com", "mx2.example.com"]
    assert results(delivery) == [result, "accepted"]
    assert str(delivery.outcome) == "delivered"


# ---- what the bounce says -------------------------------------------------------------------


def test_expiry_bounce_reports_last_deferral_reason() -> None:
    """Postfix (docs/mta-behaviour.md#postfix-bounce-wording): bounced after 5 d with the last
    deferral reason."""
    delivery = trace(district(), MTA)
    assert delivery.reason in delivery.bounce
    assert "5d" in delivery.bounce


# ---- addresses beside an MX ----------------------------------------------------------------


def test_a_record_beside_mx_is_not_used() -> None:
    """Postfix against RFC 5321 §5.1 (docs/mta-behaviour.md#postfix-implicit-mx,
    #rfc5321-implicit-mx): the implicit MX applies only when the MX lookup is DNS_NOTFOUND; the
    domain's own A record is never used beside an MX."""
    delivery = trace("a-beside-mx", MTA)
    assert ("example.com", "A") not in questions(delivery)
    assert tried(delivery) == ["192.0.2.25"]
    assert str(delivery.outcome) == "delivered"


# ---- the 2017 incident, in the model and as run -------------------------------------------


def test_worked_example_section_4() -> None:
    """Postfix (docs/mta-behaviour.md#the-2017-incident-mta-by-mta): queries MX district (CNAME
    only) -> MX edlio (NODATA) -> A district -> AAAA district; Fastly IPs, <=5 addresses;
    `to=<u@district.example>`; `connect to district.example[151.101.x.y]:25: Connection timed out`;
    deferred 4.4.1."""
    delivery = trace(district(), MTA)
    assert questions(delivery)[:4] == [
        ("district.example", "MX"), ("edlio.map.fastly.net", "MX"),
        ("district.example", "A"), ("district.example", "AAAA"),
    ]
    assert sorted(tried(delivery)) == sorted(FASTLY)
    assert len(delivery.attempts) <= 5
    assert str(delivery.outcome) == "deferred"
    assert delivery.dsn == "4.4.1"
    line = log_line(delivery, r"to=<u@district\.example>")
    assert re.search(r"status=deferred \(connect to district\.example\[151\.101\.(2|66)\.10\]:25: "
                     r"Connection timed out\)", line)


def test_confirmed_broken_farm_ipv4() -> None:
    """Postfix (inet_protocols=ipv4 broken farm), seen when running it
    (docs/mta-behaviour.md#the-2017-incident-mta-by-mta): asked wa-students.org/MX, then
    edlio.map.fastly.net/MX, then wa-students.org/A; tried both Fastly addresses; logged the
    ORIGINAL name; status=deferred, dsn 4.4.1; RCPT TO stayed student@wa-students.org."""
    delivery = trace("wa-students-2017", MTA, pins=("broken",), overrides={"inet_protocols": "ipv4"})
    assert questions(delivery) == [
        ("wa-students.org", "MX"), ("edlio.map.fastly.net", "MX"), ("wa-students.org", "A"),
    ]
    assert sorted(tried(delivery)) == sorted(FASTLY)
    assert set(tried_hosts(delivery)) == {"wa-students.org"}
    assert delivery.dsn == "4.4.1"
    assert delivery.envelope_recipient == "student@wa-students.org"
    log_line(delivery, r"connect to wa-students\.org\[151\.101\.(2|66)\.10\]:25: Connection timed out")
    log_line(delivery, r"to=<student@wa-students\.org>.*dsn=4\.4\.1, status=deferred")


def test_confirmed_broken_farm_random_address_order() -> None:
    """Postfix, seen when running it (docs/mta-behaviour.md#postfix-order-and-address-families): the
    two Fastly addresses are tried in random order."""
    firsts = first_tried_over_seeds("wa-students-2017", MTA, pins=("broken",))
    assert firsts == set(FASTLY)


def test_confirmed_nothing_listening_is_connection_refused() -> None:
    """Postfix, seen when running it (docs/mta-behaviour.md#postfix-log-wording): `Connection
    refused` when nothing listens (original name logged)."""
    delivery = trace(district("refuse"), MTA)
    assert re.fullmatch(r"connect to district\.example\[151\.101\.(2|66)\.10\]:25: Connection refused",
                        delivery.reason)


def test_confirmed_tarpit_greeting_timeout() -> None:
    """Postfix, seen when running it (docs/mta-behaviour.md#postfix-timeouts): a tarpit gives
    `conversation with wa-students.org[IP] timed out while receiving the initial server greeting`,
    dsn 4.4.2 (original name logged)."""
    delivery = trace(district("tarpit"), MTA)
    assert re.fullmatch(r"conversation with district\.example\[151\.101\.(2|66)\.10\] timed out while "
                        r"receiving the initial server greeting", delivery.reason)
    assert delivery.dsn == "4.4.2"


def test_confirmed_healthy_farm_delivers_to_preference_1() -> None:
    """Seen when running the real MTAs (docs/mta-behaviour.md#the-2017-incident-mta-by-mta): with
    the farm healthy, delivered to the preference-1 host."""
    delivery = trace("wa-students-2017", MTA, pins=("healthy",))
    assert str(delivery.outcome) == "delivered"
    assert delivery.delivered_to is not None
    assert delivery.delivered_to.host == "aspmx.l.google.com"

