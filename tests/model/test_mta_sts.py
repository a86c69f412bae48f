"""MTA-STS senders in the model: postfix-sts (Postfix + postfix-mta-sts-resolver) and rfc5321 with
mta_sts=enforce, against a policy that matches, a stale one after an MX move, and a testing one."""

from __future__ import annotations

import pytest

from mxsim.mta.results import AttemptResult, Delivery, Outcome
from mxsim.scenario import ScenarioSpec
from tests.model.factkit import one_sender, scenario, trace

ZONE = """
zones:
  example.org: |
    $TTL 300
    @ MX 10 mx1.newmail.example.net.
    @ MX 20 mx2.newmail.example.net.
    _mta-sts TXT "v=STSv1; id=20240101"
    mta-sts A 192.0.2.80
  example.net: |
    mx1.newmail A 192.0.2.11
    mx2.newmail A 192.0.2.12
    mx1.oldmail A 192.0.2.21
hosts:
  "*.example.net":
    smtp: accept
    tls: handshake
recipient: alice@example.org
mta_sts:
  example.org:
    endpoint: {endpoint}
    policy: |
      version: STSv1
      mode: {mode}
      mx: {mx}
      max_age: 604800
"""


def world(mode: str = "enforce", mx: str = "*.newmail.example.net", endpoint: str = "serve") -> ScenarioSpec:
    return scenario(ZONE.format(mode=mode, mx=mx, endpoint=endpoint))


URL = "https://mta-sts.example.org/.well-known/mta-sts.txt"


@pytest.mark.parametrize("mta", ["postfix-sts", "rfc5321"])
def test_a_matching_enforce_policy_delivers_over_tls(mta: str) -> None:
    delivery = trace(world(), mta, overrides={"mta_sts": "enforce"} if mta == "rfc5321" else None)
    assert delivery.outcome == Outcome.DELIVERED
    assert delivery.route.policy_fetches == (URL,)
    assert delivery.delivered_to is not None and delivery.delivered_to.tls is not None


def test_postfix_sts_defers_on_a_stale_enforce_policy_after_trying_every_mx() -> None:
    delivery = trace(world(mx="*.oldmail.example.net"), "postfix-sts")
    assert delivery.outcome == Outcome.DEFERRED and delivery.dsn == "4.7.5"
    assert delivery.reason == "Server certificate not verified"
    assert [a.result for a in delivery.attempts] == [AttemptResult.TLS_FAILED] * 2
    assert any("status=deferred (Server certificate not verified)" in line for line in delivery.log)
    assert sum("server certificate verification failed for" in line for line in delivery.log) == 2


def test_rfc5321_skips_hosts_that_do_not_match_and_defers_when_none_do() -> None:
    delivery = trace(world(mx="*.oldmail.example.net"), "rfc5321", overrides={"mta_sts": "enforce"})
    assert delivery.outcome == Outcome.DEFERRED and delivery.attempts == ()
    assert "allows none of its MX hosts" in delivery.reason and delivery.dsn == "4.7.5"
    partly = trace(world(mx="mx2.newmail.example.net"), "rfc5321", overrides={"mta_sts": "enforce"})
    assert [a.host for a in partly.attempts] == ["mx2.newmail.example.net"]


@pytest.mark.parametrize("mta", ["postfix-sts", "rfc5321"])
def test_a_testing_policy_with_a_mismatch_delivers(mta: str) -> None:
    delivery = trace(world(mode="testing", mx="*.oldmail.example.net"), mta,
                     overrides={"mta_sts": "enforce"} if mta == "rfc5321" else None)
    assert delivery.outcome == Outcome.DELIVERED
    if mta == "rfc5321":
        assert any("does not match the policy" in note for note in delivery.route.notes)


def test_strict_testing_makes_postfix_sts_enforce_a_testing_policy() -> None:
    delivery = trace(world(mode="testing", mx="*.oldmail.example.net"), "postfix-sts",
                     overrides={"strict_testing": "yes"})
    assert delivery.outcome == Outcome.DEFERRED


@pytest.mark.parametrize("endpoint", ["not-found", "tls-error", "timeout"])
def test_an_unreachable_policy_leaves_delivery_unprotected(endpoint: str) -> None:
    delivery = trace(world(mx="*.oldmail.example.net", endpoint=endpoint), "postfix-sts")
    assert delivery.outcome == Outcome.DELIVERED and delivery.route.policy_fetches == (URL,)


def test_postfix_matches_a_dropped_wildcard_at_any_depth_unlike_rfc8461() -> None:
    deep = world(mx="*.example.net")  # mx1.newmail.example.net is two labels below example.net
    assert trace(deep, "postfix-sts").outcome == Outcome.DELIVERED
    assert trace(deep, "rfc5321", overrides={"mta_sts": "enforce"}).outcome == Outcome.DEFERRED


def _deliveries(spec: ScenarioSpec, mta: str, times: list[float]) -> list[Delivery]:
    """Messages sent by one sender at the given times, sharing its policy cache."""
    return one_sender(spec, mta, times, "alice@example.org", {"mta_sts": "enforce"} if mta == "rfc5321" else {})[0]


def test_the_resolver_fetches_once_then_only_looks_at_the_txt_record() -> None:
    spec = world()
    deliveries = _deliveries(spec, "postfix-sts", [0.0, 30.0, 3600.0, 8 * 86400.0])
    assert [d.route.policy_fetches for d in deliveries] == [(URL,), (), (), ()]
    txt = [[a.qname.to_text() for a in d.dns if a.qtype == 16] for d in deliveries]
    assert txt[1] == [] and txt[2] == ["_mta-sts.example.org."]  # within cache_grace nothing is asked
    assert all(d.outcome == Outcome.DELIVERED for d in deliveries)


def test_rfc8461_fetches_again_when_max_age_has_passed() -> None:
    deliveries = _deliveries(world(), "rfc5321", [0.0, 3600.0, 8 * 86400.0])
    assert [d.route.policy_fetches for d in deliveries] == [(URL,), (), (URL,)]
