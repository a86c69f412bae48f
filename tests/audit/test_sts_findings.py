"""MTA-STS findings from what a check saw: unreachable policy, MX outside it, a long max_age."""

from __future__ import annotations

from mxsim.audit.checks import StsFacts, sts_findings
from mxsim.scenario.mta_sts import parse_policy
from mxsim.transport.base import FetchStatus

URL = "https://mta-sts.example.org/.well-known/mta-sts.txt"
MX = {"mx1.newmail.example.net", "mx2.newmail.example.net"}


def _facts(mode: str, mx: str, max_age: int = 86400) -> StsFacts:
    policy = parse_policy(f"version: STSv1\nmode: {mode}\nmx: {mx}\nmax_age: {max_age}\n")
    return StsFacts("20240101", URL, "192.0.2.80", FetchStatus.OK, policy)


def test_no_record_no_findings() -> None:
    assert sts_findings("example.org", StsFacts(None), MX) == []
    assert sts_findings("example.org", None, MX) == []


def test_a_record_whose_policy_cannot_be_fetched() -> None:
    facts = StsFacts("20240101", URL, "192.0.2.80", FetchStatus.NOT_FOUND, problem="no policy there")
    (found,) = sts_findings("example.org", facts, MX)
    assert found.id == "STS01_POLICY_UNREACHABLE" and URL in found.message
    assert found.evidence[0].address == "192.0.2.80"


def test_the_stale_enforce_policy_is_an_error_per_mx_host() -> None:
    found = sts_findings("example.org", _facts("enforce", "*.oldmail.example.net"), MX)
    assert [f.id for f in found] == ["STS02_ENFORCE_MX_MISMATCH"] * 2
    assert {dict(f.args)["mx"] for f in found} == MX
    assert found[0].level.label == "ERROR"


def test_a_testing_policy_mismatch_is_a_warning_and_a_matching_policy_is_clean() -> None:
    (found,) = sts_findings("example.org", _facts("testing", "mx1.newmail.example.net"), MX)
    assert found.id == "STS03_TESTING_MX_MISMATCH" and "mx2.newmail.example.net" in found.message
    assert sts_findings("example.org", _facts("enforce", "*.newmail.example.net"), MX) == []


def test_a_max_age_past_the_migration_window() -> None:
    found = sts_findings("example.org", _facts("enforce", "*.newmail.example.net", 604800), MX)
    assert [f.id for f in found] == ["STS04_MAX_AGE_LONG"] and "7d" in found[0].message
