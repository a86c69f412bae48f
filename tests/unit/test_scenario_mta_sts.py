"""The `mta_sts` key: policy text read by RFC 8461 section 3.2, mistakes reported at their line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dns.name
import pytest

from mxsim.errors import ScenarioError
from mxsim.scenario import load_scenario_text
from mxsim.scenario.mta_sts import Endpoint, PolicyError, StsMode, mx_matches, parse_policy
from mxsim.scenario.timeline import spec_at

ROOT = Path(__file__).resolve().parents[2]
HEAD = "mxsim: 1\nzones:\n  example.org: |\n    @ MX 10 mx1.example.org.\nmta_sts:\n  example.org:\n"
GOOD = HEAD + (
    "    policy: |\n"             # line 7
    "      version: STSv1\n"      # line 8
    "      mode: enforce\n"       # line 9
    "      mx: mx1.example.org\n"
    "      mx: *.mail.example.org\n"
    "      max_age: 604800\n"
)


def test_a_policy_loads_with_its_mode_patterns_and_max_age() -> None:
    spec = load_scenario_text(GOOD, "s.yaml")
    (sts,) = spec.mta_sts
    assert sts.domain == dns.name.from_text("example.org")
    assert sts.host == dns.name.from_text("mta-sts.example.org")
    assert sts.endpoint == Endpoint.SERVE
    assert sts.policy is not None
    assert sts.policy.mode == StsMode.ENFORCE
    assert sts.policy.mx == ("mx1.example.org", "*.mail.example.org")
    assert sts.policy.max_age == 604800


@pytest.mark.parametrize(("line", "bad", "words"), [
    (9, "      mode: enforcing\n", "unknown mode"),
    (10, "      mx: mx.*.example.org\n", "expected an MX host name"),
    (12, "      max_age: 31557601\n", "max_age"),
    (8, "      version: STSv2\n", "STSv1"),
    (11, "      mx example.org\n", "key: value"),
])
def test_a_mistake_in_the_policy_is_reported_at_its_line(line: int, bad: str, words: str) -> None:
    _assert_error_at(GOOD, line, bad, words)


def _assert_error_at(text: str, line: int, bad: str, words: str) -> None:
    """`text` with line `line` replaced by `bad` fails to load, at the last line of `bad`, saying `words`."""
    lines = text.splitlines(keepends=True)
    lines[line - 1] = bad
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text("".join(lines), "s.yaml")
    at = line + bad.count("\n") - 1
    assert caught.value.line == at and words in str(caught.value), str(caught.value)


def test_an_endpoint_that_serves_needs_a_policy_and_others_do_not() -> None:
    with pytest.raises(ScenarioError, match="needs `policy:`"):
        load_scenario_text(HEAD + "    endpoint: serve\n", "s.yaml")
    spec = load_scenario_text(HEAD + "    endpoint: timeout\n", "s.yaml")
    assert spec.mta_sts[0].endpoint == Endpoint.TIMEOUT and spec.mta_sts[0].policy is None
    with pytest.raises(ScenarioError, match=r"expected one of") as caught:
        load_scenario_text(HEAD + "    endpoint: 404\n", "s.yaml")
    assert caught.value.line == 7
    with pytest.raises(ScenarioError, match="unknown key"):
        load_scenario_text(HEAD + "    endpont: serve\n", "s.yaml")


def test_the_wildcard_stands_for_exactly_one_label() -> None:
    assert mx_matches("*.example.org", "mx1.example.org")
    assert mx_matches("*.example.org", "MX1.Example.Org.")
    assert not mx_matches("*.example.org", "example.org")
    assert not mx_matches("*.example.org", "a.b.example.org")
    assert mx_matches("mx1.example.org", "mx1.example.org.")
    assert not mx_matches("mx1.example.org", "mx2.example.org")


def test_policy_text_rules() -> None:
    policy = parse_policy("version: STSv1\r\nmode: none\r\nmax_age: 0\r\nextension: kept out\r\n")
    assert policy.mode == StsMode.NONE and policy.mx == () and policy.max_age == 0
    with pytest.raises(PolicyError, match="at least one `mx:`"):
        parse_policy("version: STSv1\nmode: testing\nmax_age: 86400\n")
    with pytest.raises(PolicyError, match="given twice") as caught:
        parse_policy("version: STSv1\nmode: testing\nmode: enforce\nmx: a.example\nmax_age: 1\n")
    assert caught.value.line == 3


def test_a_bad_policy_on_the_command_line_is_one_line_and_exit_3(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(GOOD.replace("mode: enforce", "mode: strict") + "recipient: a@example.org\n")
    done = subprocess.run([sys.executable, "-c", "from mxsim.cli import main; main()", "trace", str(path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 3
    assert done.stderr.strip().count("\n") == 0 and f"{path}:9:" in done.stderr, done.stderr


TIMELINE = GOOD + (
    "timeline:\n"
    "  - at: 2h\n"                      # line 14
    "    mta_sts:\n"
    "      example.org:\n"
    "        policy: |\n"               # line 17
    "          version: STSv1\n"
    "          mode: testing\n"         # line 19
    "          mx: mx2.example.org\n"
    "          max_age: 86400\n"
)


def test_a_timeline_change_replaces_the_policy_from_its_time_on() -> None:
    spec = load_scenario_text(TIMELINE, "s.yaml")
    before, after = spec_at(spec, 7199.0).mta_sts, spec_at(spec, 7200.0).mta_sts
    assert before[0].policy is not None and before[0].policy.mx == ("mx1.example.org", "*.mail.example.org")
    assert after[0].policy is not None and after[0].policy.mode == StsMode.TESTING
    assert after[0].policy.mx == ("mx2.example.org",) and after[0].policy.max_age == 86400
    assert spec.mta_sts == before  # the base scenario is left as it was


def test_a_timeline_change_adds_a_policy_domain_and_may_change_only_the_endpoint() -> None:
    text = GOOD + ("timeline:\n  - at: 1h\n    mta_sts:\n      example.org: {endpoint: timeout}\n"
                   "      example.net: {endpoint: not-found}\n")
    later = spec_at(load_scenario_text(text, "s.yaml"), 3600.0).mta_sts
    assert [(str(sts.domain), sts.endpoint, sts.policy) for sts in later] == [
        ("example.org.", Endpoint.TIMEOUT, None), ("example.net.", Endpoint.NOT_FOUND, None)]


@pytest.mark.parametrize(("line", "bad", "words"), [
    (19, "          mode: enforcing\n", "unknown mode"),
    (21, "          max_age: 86400\n        endpoint: sometimes\n", "unknown endpoint"),
    (16, "      example..org:\n", "not a domain name"),
])
def test_a_mistake_in_a_timeline_policy_is_reported_at_its_line(line: int, bad: str, words: str) -> None:
    _assert_error_at(TIMELINE, line, bad, words)


def test_a_timeline_change_with_no_policy_domain_is_an_error() -> None:
    with pytest.raises(ScenarioError, match="expected policy domains") as caught:
        load_scenario_text(GOOD + "timeline:\n  - at: 1h\n    mta_sts: {}\n", "s.yaml")
    assert caught.value.line == 15
