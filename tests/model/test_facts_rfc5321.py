"""The plain RFC 5321 (+ RFC 7505) profile against the standards baseline
(docs/mta-behaviour.md#rfc-5321)."""

from __future__ import annotations

import dns.rcode
from factkit import (
    SEEDS,
    cname_chain_no_mx,
    dns_unanswered,
    questions,
    rcode_for_mx,
    run_with_replies,
    trace,
    tried,
    tried_hosts,
)

MTA = "rfc5321"


def test_mx_is_looked_up_first() -> None:
    """RFC 5321 (docs/mta-behaviour.md#rfc5321-mx-lookup-and-cname): look up MX first."""
    delivery = trace("implicit-mx", MTA)
    assert questions(delivery)[0] == ("example.org", "MX")


def test_cname_target_is_processed_as_the_initial_name() -> None:
    """RFC 5321 (docs/mta-behaviour.md#rfc5321-mx-lookup-and-cname): "If a CNAME record is found,
    the resulting name is processed as if it were the initial name": with no MX at the end of the
    chain, the implicit MX is the canonical name (c.example.org); the address is not rewritten."""
    delivery = trace(cname_chain_no_mx(), MTA)
    assert delivery.route.domain == "c.example.org"
    assert set(tried_hosts(delivery)) == {"c.example.org"}
    assert delivery.envelope_recipient == "user@a.example.com"


def test_chain_to_mx_uses_the_mx() -> None:
    """RFC 5321 (docs/mta-behaviour.md#rfc5321-mx-lookup-and-cname): the chain's end is processed as
    the initial name, so its MX is used; the address is not rewritten."""
    delivery = trace("cname-chain-to-mx", MTA)
    assert str(delivery.outcome) == "delivered"
    assert tried(delivery) == ["203.0.113.25"]
    assert delivery.envelope_recipient == "student@school.example.com"


def test_nxdomain_is_reported_as_an_error() -> None:
    """RFC 5321 (docs/mta-behaviour.md#rfc5321-dns-errors): NXDOMAIN MUST be reported as an error (a
    bounce, no connection)."""
    for source in ("nxdomain", "dangling-cname"):
        delivery = trace(source, MTA)
        assert str(delivery.outcome) == "bounced"
        assert delivery.attempts == ()


def test_temporary_error_queues_and_retries() -> None:
    """RFC 5321 (docs/mta-behaviour.md#rfc5321-dns-errors): a temporary error MUST cause queueing
    and retry."""
    for delivery in (trace("servfail", MTA), trace(dns_unanswered(), MTA),
                     run_with_replies(MTA, rcode_for_mx(dns.rcode.SERVFAIL), "user@example.org")):
        assert str(delivery.outcome) == "deferred"
        assert delivery.attempts == ()


def test_empty_mx_list_is_an_implicit_mx_of_preference_0() -> None:
    """RFC 5321 (docs/mta-behaviour.md#rfc5321-implicit-mx): an empty list of MXs -> implicit MX RR,
    preference 0, pointing to that host."""
    delivery = trace("implicit-mx", MTA)
    assert str(delivery.route.kind) == "implicit-mx"
    assert str(delivery.outcome) == "delivered"
    assert delivery.delivered_to is not None
    assert delivery.delivered_to.preference == 0
    assert delivery.delivered_to.host == "example.org"


def test_address_records_beside_mx_are_not_used() -> None:
    """RFC 5321 (docs/mta-behaviour.md#rfc5321-mx-lookup-and-cname): if MX RRs exist, address RRs of
    the name MUST NOT be used except through the MX RRs."""
    delivery = trace("a-beside-mx", MTA)
    assert ("example.com", "A") not in questions(delivery)
    assert tried(delivery) == ["192.0.2.25"]


def test_sorted_by_preference_equal_preferences_randomised() -> None:
    """RFC 5321 (docs/mta-behaviour.md#rfc5321-order-and-address-families): sort by preference,
    equal preferences randomised; the client SHOULD try at least two addresses (here: all, so the
    backup is reached)."""
    firsts = set()
    for seed in SEEDS:
        delivery = trace("address-limit", MTA, seed=seed)
        assert len(delivery.attempts) >= 2
        assert tried_hosts(delivery)[-1] == "backup.example.com"
        firsts.add(tried(delivery)[0])
    assert len(firsts) > 1


def test_null_mx_fails_immediately_556_5_1_10() -> None:
    """RFC 7505 (docs/mta-behaviour.md#rfc5321-null-mx): a null MX -> the sender must not attempt
    delivery and should fail immediately; recipient-side codes 556 / 5.1.10."""
    delivery = trace("null-mx", MTA)
    assert str(delivery.outcome) == "bounced"
    assert delivery.attempts == ()
    assert delivery.dsn == "5.1.10"
    assert delivery.reason.startswith("556 ")
    assert questions(delivery) == [("example.org", "MX")]
