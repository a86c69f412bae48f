"""The Sendmail 8.17.1.9 profile against docs/mta-behaviour.md#sendmail, one test per behaviour or
claim.

Running the real Sendmail contradicted several claims read from its source: the texts of the null-MX
and host-unknown bounces, null MX beside a real MX, when a SERVFAIL defers the message, and the
order and count of its DNS questions. These tests pin only what running it confirmed (bounce or
defer, connection or not, the rewritten address) and leave those texts, that case and the question
sequence to the agreement tests (docs/agreement.md#sendmail-81719).
"""

from __future__ import annotations

import re

import pytest
from factkit import (
    FASTLY,
    MOVE_ON_CASES,
    V4,
    V6,
    cname_chain_no_mx,
    cname_loop,
    district,
    dns_unanswered,
    dual_stack,
    first_tried_over_seeds,
    log_line,
    one_mx,
    questions,
    results,
    reverse,
    trace,
    tried,
    tried_hosts,
    two_mx,
)

MTA = "sendmail"


# ---- canonicalisation of the recipient's domain -------------------------------------------


def test_single_cname_rewrites_recipient_to_target() -> None:
    """Sendmail, seen when running it (docs/mta-behaviour.md#sendmail-recipient-rewriting): ruleset
    3 canonifies the domain, so a single CNAME at the domain turns user@district.example into
    user@edlio.map.fastly.net."""
    delivery = trace(district(), MTA)
    assert delivery.envelope_recipient == "u@edlio.map.fastly.net"
    assert delivery.route.domain == "edlio.map.fastly.net"


def test_log_line_keeps_the_original_to_address() -> None:
    """Sendmail, seen when running it (docs/mta-behaviour.md#sendmail-recipient-rewriting): the log
    line still shows the original `to=` address while the RCPT TO is rewritten."""
    delivery = trace(district(), MTA)
    log_line(delivery, r"to=<u@district\.example>,")


def test_chain_is_canonicalised_to_its_end() -> None:
    """Sendmail (docs/mta-behaviour.md#sendmail-recipient-rewriting): dns_getcanonname copies each
    CNAME target and restarts, so a chain a -> b -> c is rewritten to the END of the chain (c)."""
    delivery = trace(cname_chain_no_mx(), MTA)
    assert delivery.envelope_recipient == "user@c.example.org"


def test_chain_ending_at_mx_is_canonicalised_to_its_end() -> None:
    """Sendmail, seen when running it (docs/mta-behaviour.md#sendmail-recipient-rewriting): also
    when the chain ends at a name that has MX records, the recipient becomes user@<end of the
    chain>; delivery goes to that name's MX."""
    delivery = trace("cname-chain-to-mx", MTA)
    assert delivery.envelope_recipient == "student@mailhost.example.org"
    assert str(delivery.outcome) == "delivered"
    assert tried(delivery) == ["203.0.113.25"]


def test_nocanonify_keeps_the_original_name() -> None:
    """Sendmail case B (FEATURE(nocanonify)) (docs/mta-behaviour.md#sendmail-mx-lookup-and-cname):
    the CNAME-only MX answer gives nmx = 0, no re-query of the CNAME target, and the ORIGINAL host
    name is the signature; the recipient is not rewritten
    (docs/mta-behaviour.md#sendmail-recipient-rewriting)."""
    delivery = trace(district(), MTA, overrides={"nocanonify": "yes"})
    assert delivery.envelope_recipient == "u@district.example"
    assert ("edlio.map.fastly.net", "MX") not in questions(delivery)
    assert set(tried_hosts(delivery)) == {"district.example"}
    assert sorted(tried(delivery)) == sorted(FASTLY)


def test_dont_expand_cnames_keeps_the_original_name() -> None:
    """Sendmail (docs/mta-behaviour.md#sendmail-recipient-rewriting): DontExpandCnames disables the
    CNAME replacement."""
    delivery = trace(district(), MTA, overrides={"DontExpandCnames": "yes"})
    assert delivery.envelope_recipient == "u@district.example"


def test_dangling_cname_bounces_without_rewriting() -> None:
    """(docs/mta-behaviour.md#sendmail-dns-errors) A dangling CNAME is NXDOMAIN, HOST_NOT_FOUND for
    glibc (Sendmail too): a bounce, nothing tried, and the NXDOMAIN chain does not rewrite the
    address."""
    delivery = trace("dangling-cname", MTA)
    assert str(delivery.outcome) == "bounced"
    assert delivery.attempts == ()
    assert delivery.envelope_recipient == "announce@lists.example.com"


def test_cname_loop_answered_servfail_defers() -> None:
    """(docs/mta-behaviour.md#sendmail-dns-errors) A CNAME loop makes the recursive resolver answer
    SERVFAIL, which all four treat as temporary."""
    delivery = trace(cname_loop(), MTA)
    assert str(delivery.outcome) == "deferred"
    assert delivery.attempts == ()


# ---- implicit MX and DNS errors ------------------------------------------------------------


def test_nxdomain_bounces() -> None:
    """Sendmail (docs/mta-behaviour.md#sendmail-dns-errors): NXDOMAIN -> EX_NOHOST -> bounce (the
    text read from the source did not hold when run, so only the bounce is pinned)."""
    delivery = trace("nxdomain", MTA)
    assert str(delivery.outcome) == "bounced"
    assert delivery.attempts == ()


def test_servfail_defers() -> None:
    """Sendmail, SERVFAIL on the MX question (docs/mta-behaviour.md#sendmail-dns-errors):
    EX_TEMPFAIL -> defer, nothing tried."""
    delivery = trace("servfail", MTA)
    assert str(delivery.outcome) == "deferred"
    assert delivery.attempts == ()


def test_resolver_timeout_defers() -> None:
    """Sendmail, no reply from the resolver (docs/mta-behaviour.md#sendmail-dns-errors): defer."""
    delivery = trace(dns_unanswered(), MTA)
    assert str(delivery.outcome) == "deferred"
    assert delivery.attempts == ()


def test_implicit_mx_tries_ipv6_then_ipv4() -> None:
    """Sendmail (docs/mta-behaviour.md#sendmail-order-and-address-families): InetMode is AF_INET6
    when available: for each host all v6 addresses first, then it retries with AF_INET."""
    delivery = trace(dual_stack(), MTA)
    assert tried(delivery) == [V6, V4]


def test_implicit_mx_delivers() -> None:
    """Sendmail, NODATA on the MX question (docs/mta-behaviour.md#sendmail-implicit-mx): implicit MX
    on the (canonical) name."""
    delivery = trace("implicit-mx", MTA)
    assert str(delivery.outcome) == "delivered"
    assert delivery.route.domain == "example.org"


# ---- MX target that is a CNAME -------------------------------------------------------------


def test_mx_target_cname_is_followed_with_mx_name() -> None:
    """Sendmail, seen when running it (docs/mta-behaviour.md#sendmail-cname-as-mx-target): followed
    silently by libc; CurHostName stays the MX name."""
    delivery = trace("mx-target-cname", MTA)
    assert str(delivery.outcome) == "delivered"
    assert delivery.delivered_to is not None
    assert delivery.delivered_to.host == "mail.example.com"
    log_line(delivery, r"relay=mail\.example\.com\. \[203\.0\.113\.25\]")


# ---- null MX -------------------------------------------------------------------------------


def test_null_mx_bounces_without_fallback() -> None:
    """Sendmail (docs/mta-behaviour.md#sendmail-null-mx): a sole `MX 0 .` is NULLMX -> bounce, no
    connection and no fallback to the A record (none fell back when run); the bounce text is not
    pinned (it did not match the source when run)."""
    delivery = trace("null-mx", MTA)
    assert str(delivery.outcome) == "bounced"
    assert delivery.attempts == ()


# ---- IP literal ----------------------------------------------------------------------------


def test_ip_literal_mx_is_delivered_to() -> None:
    """Sendmail, seen when running it (docs/mta-behaviour.md#sendmail-ip-literal-mx-and-loops): an
    MX that is an IP literal is delivered to."""
    delivery = trace("mx-ip-literal", MTA)
    assert str(delivery.outcome) == "delivered"
    assert tried(delivery) == ["192.0.2.25"]


# ---- order and limits ----------------------------------------------------------------------


def test_equal_preference_mx_order_is_random() -> None:
    """Sendmail (docs/mta-behaviour.md#sendmail-order-and-address-families): equal preferences are
    re-randomised (mxrand, get_random): the first host varies over seeds."""
    assert len(first_tried_over_seeds("address-limit", MTA)) > 1


def test_all_hosts_are_tried_in_one_attempt() -> None:
    """Sendmail, seen when running it (docs/mta-behaviour.md#sendmail-order-and-address-families):
    all hosts and all addresses are tried in one attempt: seven refusing equal-preference hosts,
    then the backup, which accepts."""
    delivery = trace("address-limit", MTA)
    assert len(delivery.attempts) == 8
    assert tried_hosts(delivery)[-1] == "backup.example.com"
    assert str(delivery.outcome) == "delivered"


# ---- timeouts and log lines ----------------------------------------------------------------


def test_connect_timeout_is_debian_iconnect_and_wording() -> None:
    """Sendmail (docs/mta-behaviour.md#sendmail-log-wording): Debian sets confTO_ICONNECT 2m for a
    message's first attempt; `stat=Deferred: Connection timed out with mx.example.org.`."""
    delivery = trace(one_mx("drop"), MTA)
    (attempt,) = delivery.attempts
    assert attempt.elapsed == pytest.approx(120.0, abs=1.0)
    assert delivery.reason == "Connection timed out with mx.example.org."
    log_line(delivery, r"stat=Deferred: Connection timed out with mx\.example\.org\.$")


def test_connection_refused_wording() -> None:
    """Sendmail (docs/mta-behaviour.md#sendmail-log-wording): `Connection refused by <host>`."""
    delivery = trace(one_mx("refuse"), MTA)
    assert re.fullmatch(r"Connection refused by mx\.example\.org\.?", delivery.reason)


def test_greeting_timeout_wording() -> None:
    """Sendmail (docs/mta-behaviour.md#sendmail-timeouts): Timeout.initial = 5m; `timeout waiting
    for input from <host> during client greeting`."""
    delivery = trace(one_mx("tarpit"), MTA)
    (attempt,) = delivery.attempts
    assert attempt.elapsed == pytest.approx(300.0, abs=1.0)
    assert re.fullmatch(r"timeout waiting for input from mx\.example\.org\.? during client greeting",
                        delivery.reason)


@pytest.mark.parametrize(("smtp", "extra", "result"), MOVE_ON_CASES)
def test_moves_on_to_next_mx(smtp: str, extra: str, result: str) -> None:
    """Seen when running the real MTAs (docs/mta-behaviour.md#sendmail-error-classes): all four MTAs
    move on to the next MX after a 421 or a 554 greeting, after a refused connection and after a
    greeting timeout."""
    delivery = trace(two_mx(smtp, extra), MTA)
    assert tried_hosts(delivery) == ["mx1.example.com", "mx2.example.com"]
    assert results(delivery) == [result, "accepted"]
    assert str(delivery.outcome) == "delivered"


# ---- the RFC 5321 baseline ------------------------------------------------------------------


def test_a_record_beside_mx_is_not_used() -> None:
    """Sendmail against RFC 5321 §5.1 (docs/mta-behaviour.md#sendmail-implicit-mx,
    #rfc5321-implicit-mx): MX hosts are used; the domain's own A record is never connected to."""
    delivery = trace("a-beside-mx", MTA)
    assert tried(delivery) == ["192.0.2.25"]


# ---- the 2017 incident, in the model and as run -----------------------------------------------


def test_worked_example_section_4() -> None:
    """Sendmail (docs/mta-behaviour.md#the-2017-incident-mta-by-mta): `u@edlio.map.fastly.net` in
    envelope, logs and DSN; Fastly IPs; deferred `Connection timed out with edlio.map.fastly.net.`;
    the DSN mentions `...@edlio.map.fastly.net`."""
    delivery = trace(district(), MTA)
    assert delivery.envelope_recipient == "u@edlio.map.fastly.net"
    assert sorted(tried(delivery)) == sorted(FASTLY)
    assert str(delivery.outcome) == "deferred"
    assert delivery.reason == "Connection timed out with edlio.map.fastly.net."
    assert "u@edlio.map.fastly.net" in delivery.bounce


def test_confirmed_broken_farm_rewrites_rcpt_to() -> None:
    """Sendmail (broken farm), seen when running it
    (docs/mta-behaviour.md#the-2017-incident-mta-by-mta): the RCPT TO is rewritten to the canonical
    name, student@edlio.map.fastly.net; the log line keeps the original `to=`; deferred `Connection
    timed out with edlio.map.fastly.net.`."""
    delivery = trace("wa-students-2017", MTA, pins=("broken",))
    assert delivery.envelope_recipient == "student@edlio.map.fastly.net"
    assert str(delivery.outcome) == "deferred"
    line = log_line(delivery, r"to=<student@wa-students\.org>,")
    assert line.endswith("stat=Deferred: Connection timed out with edlio.map.fastly.net.")


def test_confirmed_healthy_farm_delivers_to_preference_1() -> None:
    """Seen when running the real MTAs (docs/mta-behaviour.md#the-2017-incident-mta-by-mta): with
    the farm healthy, delivered to the preference-1 host."""
    delivery = trace("wa-students-2017", MTA, pins=("healthy",))
    assert str(delivery.outcome) == "delivered"
    assert delivery.delivered_to is not None
    assert delivery.delivered_to.host == "aspmx.l.google.com"
    assert delivery.envelope_recipient == "student@wa-students.org"


# ---- the whole question stream, as the lab showed it (docs/agreement.md) ----------------------

SEARCH = {"search_domains": "site.example"}


def test_a_host_without_an_address_is_asked_with_and_without_its_dot_and_with_the_search_domain() -> None:
    """makeconnection: the MX host's name ends in a dot; with no address it is asked again
    through res_search (the name, then NAME.DOMAIN), then once more (mx-middle-no-address)."""
    delivery = trace("mx-middle-no-address", MTA, overrides=SEARCH)
    mx2 = [q for q in questions(delivery) if q[0].startswith("mx2.example.com")]
    assert mx2 == [(name, rdtype) for rdtype in ("AAAA", "A")
                   for name in ("mx2.example.com", "mx2.example.com", "mx2.example.com.site.example",
                                "mx2.example.com")]
    assert str(delivery.outcome) == "delivered"


def test_the_ptr_of_an_address_follows_each_connection_that_opened() -> None:
    """greeting-554-first-mx: both hosts answer the connection, each PTR comes after it; a
    refused connection (mx-middle-no-address's mx1) asks none."""
    delivery = trace("greeting-554-first-mx", MTA)
    asked = questions(delivery)
    assert [q for q in asked if q[1] == "PTR"] == reverse(["192.0.2.10", "192.0.2.20"])
    assert asked.index(reverse(["192.0.2.10"])[0]) < asked.index(("mx2.example.com", "AAAA"))
    refused = trace("mx-middle-no-address", MTA)
    assert [q for q in questions(refused) if q[1] == "PTR"] == reverse(["192.0.2.30"])


def test_trycanon_asks_again_and_the_domain_is_then_looked_up_with_its_dot() -> None:
    """implicit-mx-a-only: ruleset 3 canonifies example.org (AAAA, A), MX finds nothing,
    getmxrr's trycanon asks AAAA and A again, and the connection lookup is a DNS name's."""
    delivery = trace("implicit-mx-a-only", MTA, overrides=SEARCH)
    assert questions(delivery) == [
        ("example.org", "AAAA"), ("example.org", "A"), ("example.org", "MX"),
        ("example.org", "AAAA"), ("example.org", "A"),
        ("example.org", "AAAA"), ("example.org", "AAAA"), ("example.org.site.example", "AAAA"),
        ("example.org", "AAAA"), ("example.org", "A"), *reverse(["192.0.2.25"]),
    ]


def test_the_rewritten_recipient_is_canonified_again_only_after_a_delivery() -> None:
    """cname-to-address: after the delivery AAAA and A of web.example.net once more; the
    2017 broken case defers and asks nothing after its attempt."""
    delivered = trace("cname-to-address", MTA)
    assert questions(delivered)[-3:] == [*reverse(["203.0.113.80"]), ("web.example.net", "AAAA"),
                                         ("web.example.net", "A")]
    deferred = trace("wa-students-2017", MTA, pins=("broken",))
    assert questions(deferred)[-1] == ("edlio.map.fastly.net", "A")


def test_a_name_it_could_not_canonify_is_searched_for_its_mx() -> None:
    """nxdomain: canonification asks the name, then NAME.DOMAIN; the MX lookup the same; the
    bounce canonifies once more."""
    delivery = trace("nxdomain", MTA, overrides=SEARCH)
    name, searched = "retired.example.com", "retired.example.com.site.example"
    assert questions(delivery) == [(name, "AAAA"), (searched, "AAAA"), (name, "MX"), (searched, "MX"),
                                   (name, "AAAA"), (searched, "AAAA")]


def test_with_no_address_anywhere_it_names_the_last_host() -> None:
    delivery = trace("mx-none-resolve", MTA)
    log_line(delivery, r"relay=mx2\.example\.com\., dsn=5\.1\.2, stat=Host unknown "
                       r"\(Name server: mx2\.example\.com\.: no data known\)")
