"""Sendmail 8.17.1.9 profile against /work/shared/MTA-FACTS.md, one test per row or claim.

§6 says several Sendmail rows of §3 did not hold when the real Sendmail was run: the texts
of the null-MX and host-unknown bounces, null MX beside a real MX, when a SERVFAIL defers
the message, and the order and count of its DNS questions. The sheet gives no corrected
values, so these tests pin only what survives §6 (bounce or defer, connection or not,
the rewritten address) and leave those texts, that row and the question sequence alone.
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
    trace,
    tried,
    tried_hosts,
    two_mx,
)

MTA = "sendmail"


# ---- Q1 / Q10: canonicalisation of the recipient's domain ---------------------------------


def test_single_cname_rewrites_recipient_to_target() -> None:
    """MTA-FACTS Q10 Sendmail (confirmed §6): ruleset 3 canonifies the domain, so a single CNAME
    at the domain turns user@district.example into user@edlio.map.fastly.net."""
    delivery = trace(district(), MTA)
    assert delivery.envelope_recipient == "u@edlio.map.fastly.net"
    assert delivery.route.domain == "edlio.map.fastly.net"


def test_log_line_keeps_the_original_to_address() -> None:
    """MTA-FACTS §6 Sendmail: the log line still shows the original `to=` address while the RCPT TO
    is rewritten."""
    delivery = trace(district(), MTA)
    log_line(delivery, r"to=<u@district\.example>,")


def test_chain_is_canonicalised_to_its_end() -> None:
    """MTA-FACTS Q10 Sendmail: dns_getcanonname copies each CNAME target and restarts, so a chain
    a -> b -> c is rewritten to the END of the chain (c)."""
    delivery = trace(cname_chain_no_mx(), MTA)
    assert delivery.envelope_recipient == "user@c.example.org"


def test_chain_ending_at_mx_is_canonicalised_to_its_end() -> None:
    """MTA-FACTS §6 Sendmail: also when the chain ends at a name that has MX records, the recipient
    becomes user@<end of the chain>; delivery goes to that name's MX."""
    delivery = trace("cname-chain-to-mx", MTA)
    assert delivery.envelope_recipient == "student@mailhost.example.org"
    assert str(delivery.outcome) == "delivered"
    assert tried(delivery) == ["203.0.113.25"]


def test_nocanonify_keeps_the_original_name() -> None:
    """MTA-FACTS Q1 Sendmail case B (FEATURE(nocanonify)): the CNAME-only MX answer gives nmx = 0,
    no re-query of the CNAME target, and the ORIGINAL host name is the signature; the
    recipient is not rewritten (Q10)."""
    delivery = trace(district(), MTA, overrides={"nocanonify": "yes"})
    assert delivery.envelope_recipient == "u@district.example"
    assert ("edlio.map.fastly.net", "MX") not in questions(delivery)
    assert set(tried_hosts(delivery)) == {"district.example"}
    assert sorted(tried(delivery)) == sorted(FASTLY)


def test_dont_expand_cnames_keeps_the_original_name() -> None:
    """MTA-FACTS Q10 Sendmail: DontExpandCnames disables the CNAME replacement."""
    delivery = trace(district(), MTA, overrides={"DontExpandCnames": "yes"})
    assert delivery.envelope_recipient == "u@district.example"


def test_dangling_cname_bounces_without_rewriting() -> None:
    """MTA-FACTS Q1 notes: a dangling CNAME is NXDOMAIN, HOST_NOT_FOUND for glibc (Sendmail
    too): a bounce, nothing tried, and the NXDOMAIN chain does not rewrite the address."""
    delivery = trace("dangling-cname", MTA)
    assert str(delivery.outcome) == "bounced"
    assert delivery.attempts == ()
    assert delivery.envelope_recipient == "announce@lists.example.com"


def test_cname_loop_answered_servfail_defers() -> None:
    """MTA-FACTS Q1 notes: a CNAME loop makes the recursive resolver answer SERVFAIL, which all
    four treat as temporary."""
    delivery = trace(cname_loop(), MTA)
    assert str(delivery.outcome) == "deferred"
    assert delivery.attempts == ()


# ---- Q2 / Q6: implicit MX and DNS errors ---------------------------------------------------


def test_nxdomain_bounces() -> None:
    """MTA-FACTS Q2/Q6 Sendmail: NXDOMAIN -> EX_NOHOST -> bounce (the text is one of the rows §6
    says did not hold, so only the bounce is pinned)."""
    delivery = trace("nxdomain", MTA)
    assert str(delivery.outcome) == "bounced"
    assert delivery.attempts == ()


def test_servfail_defers() -> None:
    """MTA-FACTS Q6 SERVFAIL Sendmail: EX_TEMPFAIL -> defer, nothing tried."""
    delivery = trace("servfail", MTA)
    assert str(delivery.outcome) == "deferred"
    assert delivery.attempts == ()


def test_resolver_timeout_defers() -> None:
    """MTA-FACTS Q6 "Timeout / no resolver" Sendmail: defer."""
    delivery = trace(dns_unanswered(), MTA)
    assert str(delivery.outcome) == "deferred"
    assert delivery.attempts == ()


def test_implicit_mx_tries_ipv6_then_ipv4() -> None:
    """MTA-FACTS Q2/Q7 Sendmail: InetMode is AF_INET6 when available: for each host all v6
    addresses first, then it retries with AF_INET."""
    delivery = trace(dual_stack(), MTA)
    assert tried(delivery) == [V6, V4]


def test_implicit_mx_delivers() -> None:
    """MTA-FACTS Q6 NODATA Sendmail: implicit MX on the (canonical) name."""
    delivery = trace("implicit-mx", MTA)
    assert str(delivery.outcome) == "delivered"
    assert delivery.route.domain == "example.org"


# ---- Q3: MX target that is a CNAME ---------------------------------------------------------


def test_mx_target_cname_is_followed_with_mx_name() -> None:
    """MTA-FACTS Q3 and §6 Sendmail: followed silently by libc; CurHostName stays the MX name."""
    delivery = trace("mx-target-cname", MTA)
    assert str(delivery.outcome) == "delivered"
    assert delivery.delivered_to is not None
    assert delivery.delivered_to.host == "mail.example.com"
    log_line(delivery, r"relay=mail\.example\.com\. \[203\.0\.113\.25\]")


# ---- Q4: null MX ---------------------------------------------------------------------------


def test_null_mx_bounces_without_fallback() -> None:
    """MTA-FACTS Q4 Sendmail: a sole `MX 0 .` is NULLMX -> bounce, no connection and no
    fallback to the A record (§6: "none fell back"); the bounce text is not pinned (§6)."""
    delivery = trace("null-mx", MTA)
    assert str(delivery.outcome) == "bounced"
    assert delivery.attempts == ()


# ---- Q5 / §6: IP literal -------------------------------------------------------------------


def test_ip_literal_mx_is_delivered_to() -> None:
    """MTA-FACTS §6 Sendmail: an MX that is an IP literal is delivered to."""
    delivery = trace("mx-ip-literal", MTA)
    assert str(delivery.outcome) == "delivered"
    assert tried(delivery) == ["192.0.2.25"]


# ---- Q7: order and limits ------------------------------------------------------------------


def test_equal_preference_mx_order_is_random() -> None:
    """MTA-FACTS Q7 Sendmail: equal preferences are re-randomised (mxrand, get_random): the first
    host varies over seeds."""
    assert len(first_tried_over_seeds("address-limit", MTA)) > 1


def test_all_hosts_are_tried_in_one_attempt() -> None:
    """MTA-FACTS Q7 and §6 Sendmail: all hosts and all addresses are tried in one attempt: seven
    refusing equal-preference hosts, then the backup, which accepts."""
    delivery = trace("address-limit", MTA)
    assert len(delivery.attempts) == 8
    assert tried_hosts(delivery)[-1] == "backup.example.com"
    assert str(delivery.outcome) == "delivered"


# ---- Q8: timeouts and log lines ------------------------------------------------------------


def test_connect_timeout_is_debian_iconnect_and_wording() -> None:
    """MTA-FACTS Q8 Sendmail: Debian sets confTO_ICONNECT 2m for a message's first attempt;
    `stat=Deferred: Connection timed out with mx.example.org.`."""
    delivery = trace(one_mx("drop"), MTA)
    (attempt,) = delivery.attempts
    assert attempt.elapsed == pytest.approx(120.0, abs=1.0)
    assert delivery.reason == "Connection timed out with mx.example.org."
    log_line(delivery, r"stat=Deferred: Connection timed out with mx\.example\.org\.$")


def test_connection_refused_wording() -> None:
    """MTA-FACTS Q8 Sendmail: `Connection refused by <host>`."""
    delivery = trace(one_mx("refuse"), MTA)
    assert re.fullmatch(r"Connection refused by mx\.example\.org\.?", delivery.reason)


def test_greeting_timeout_wording() -> None:
    """MTA-FACTS Q8 Sendmail: Timeout.initial = 5m; `timeout waiting for input from <host> during
    client greeting`."""
    delivery = trace(one_mx("tarpit"), MTA)
    (attempt,) = delivery.attempts
    assert attempt.elapsed == pytest.approx(300.0, abs=1.0)
    assert re.fullmatch(r"timeout waiting for input from mx\.example\.org\.? during client greeting",
                        delivery.reason)


@pytest.mark.parametrize(("smtp", "extra", "result"), MOVE_ON_CASES)
def test_moves_on_to_next_mx(smtp: str, extra: str, result: str) -> None:
    """MTA-FACTS §6: all four MTAs move on to the next MX after a 421 or a 554 greeting, after
    a refused connection and after a greeting timeout."""
    delivery = trace(two_mx(smtp, extra), MTA)
    assert tried_hosts(delivery) == ["mx1.example.com", "mx2.example.com"]
    assert results(delivery) == [result, "accepted"]
    assert str(delivery.outcome) == "delivered"


# ---- §1 / Q2 --------------------------------------------------------------------------------


def test_a_record_beside_mx_is_not_used() -> None:
    """MTA-FACTS §1 (RFC 5321 §5.1) and Q2 Sendmail: MX hosts are used; the domain's own A
    record is never connected to."""
    delivery = trace("a-beside-mx", MTA)
    assert tried(delivery) == ["192.0.2.25"]


# ---- §4 and §6 --------------------------------------------------------------------------------


def test_worked_example_section_4() -> None:
    """MTA-FACTS §4 Sendmail: `u@edlio.map.fastly.net` in envelope, logs and DSN; Fastly IPs;
    deferred `Connection timed out with edlio.map.fastly.net.`; the DSN mentions
    `...@edlio.map.fastly.net`."""
    delivery = trace(district(), MTA)
    assert delivery.envelope_recipient == "u@edlio.map.fastly.net"
    assert sorted(tried(delivery)) == sorted(FASTLY)
    assert str(delivery.outcome) == "deferred"
    assert delivery.reason == "Connection timed out with edlio.map.fastly.net."
    assert "u@edlio.map.fastly.net" in delivery.bounce


def test_confirmed_broken_farm_rewrites_rcpt_to() -> None:
    """MTA-FACTS §6 Sendmail (broken farm): the RCPT TO is rewritten to the canonical name,
    student@edlio.map.fastly.net; the log line keeps the original `to=`; deferred
    `Connection timed out with edlio.map.fastly.net.` (§4)."""
    delivery = trace("wa-students-2017", MTA, pins=("broken",))
    assert delivery.envelope_recipient == "student@edlio.map.fastly.net"
    assert str(delivery.outcome) == "deferred"
    line = log_line(delivery, r"to=<student@wa-students\.org>,")
    assert line.endswith("stat=Deferred: Connection timed out with edlio.map.fastly.net.")


def test_confirmed_healthy_farm_delivers_to_preference_1() -> None:
    """MTA-FACTS §6: with the farm healthy, delivered to the preference-1 host."""
    delivery = trace("wa-students-2017", MTA, pins=("healthy",))
    assert str(delivery.outcome) == "delivered"
    assert delivery.delivered_to is not None
    assert delivery.delivered_to.host == "aspmx.l.google.com"
    assert delivery.envelope_recipient == "student@wa-students.org"
