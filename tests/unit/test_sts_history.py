"""STS05: a policy whose meaning changes on the timeline while the `_mta-sts` id stays."""

from __future__ import annotations

from pathlib import Path

import dns.name

from mxsim.audit.catalog import Level
from mxsim.audit.sts_history import sts_history_findings
from mxsim.commands.check_sts import served_history
from mxsim.scenario import load_scenario, load_scenario_text


def _zone(policy_id: str) -> str:
    return (f"      shop.example: |\n        @ MX 10 mx1.new.example.com.\n"
            f"        _mta-sts TXT \"v=STSv1; id={policy_id}\"\n        mta-sts A 192.0.2.80\n")


def _policy(mx: str, max_age: int = 604800, extra: str = "") -> str:
    return ("        policy: |\n          version: STSv1\n          mode: enforce\n"
            f"          mx: {mx}\n{extra}          max_age: {max_age}\n")


BASE = """mxsim: 1
zones:
  shop.example: |
    @ MX 10 mx1.new.example.com.
    _mta-sts TXT "v=STSv1; id=one"
    mta-sts A 192.0.2.80
mta_sts:
  shop.example:
    policy: |
      version: STSv1
      mode: enforce
      mx: *.old.example.net
      max_age: 604800
"""


def _scenario(*changes: str) -> str:
    return BASE + "timeline:\n" + "".join(changes)


def _change(at: str, policy_id: str | None, policy: str | None = None, endpoint: str | None = None) -> str:
    text = f"  - at: {at}\n"
    if policy_id is not None:
        text += "    zones:\n" + _zone(policy_id)
    if policy is not None or endpoint is not None:
        text += "    mta_sts:\n      shop.example:\n" + (policy or "")
        text += f"        endpoint: {endpoint}\n" if endpoint else ""
    return text


def test_a_policy_edited_under_the_same_id_is_reported_at_the_change() -> None:
    spec = load_scenario_text(_scenario(_change("1h", "one"), _change("3h", None, _policy("*.new.example.com"))),
                              "s.yaml")
    (found,) = sts_history_findings(spec)
    assert found.id == "STS05_ID_UNCHANGED" and found.level == Level.WARNING
    assert found.message.startswith("the MTA-STS policy of shop.example changes at 3h while the id in its "
                                    "_mta-sts TXT record stays one, as it was since the start")
    assert "before: mode enforce, mx *.old.example.net" in found.evidence[0].detail
    assert "after: mode enforce, mx *.new.example.com" in found.evidence[0].detail


def test_a_new_id_with_the_new_policy_or_a_new_layout_is_no_finding() -> None:
    fixed = _scenario(_change("3h", "two", _policy("*.new.example.com")))
    relaid = _scenario(_change("3h", None, _policy("*.old.example.net", extra="          note: same policy\n")))
    for text in (fixed, relaid):
        assert sts_history_findings(load_scenario_text(text, "s.yaml")) == []


def test_an_endpoint_down_for_a_while_does_not_hide_the_edit_and_domains_filter() -> None:
    spec = load_scenario_text(_scenario(_change("1h", None, endpoint="not-found"),
                                        _change("2h", None, _policy("*.old.example.net", max_age=86400))), "s.yaml")
    (found,) = sts_history_findings(spec)
    assert "changes at 2h" in found.message and "since the start" in found.message
    assert sts_history_findings(spec, dns.name.from_text("other.example")) == []
    assert len(sts_history_findings(spec, dns.name.from_text("shop.example"))) == 1


def test_the_bundled_migration_changes_its_id_with_its_policy() -> None:
    assert sts_history_findings(load_scenario("mta-sts-migration-over-time")) == []
    assert sts_history_findings(load_scenario("mta-sts-stale-policy")) == []  # no timeline, one moment


def test_a_lab_check_reads_the_history_of_a_scenario_file_with_a_timeline(tmp_path: Path) -> None:
    with_timeline = tmp_path / "t.yaml"
    with_timeline.write_text(_scenario(_change("3h", None, _policy("*.new.example.com"))), encoding="utf-8")
    without = tmp_path / "b.yaml"
    without.write_text(BASE, encoding="utf-8")
    broken = tmp_path / "x.yaml"
    broken.write_text(BASE.replace("mode: enforce", "mode: sometimes"), encoding="utf-8")
    history = served_history(str(with_timeline))
    assert history is not None and len(sts_history_findings(history)) == 1
    assert served_history(str(without)) is None and served_history(str(broken)) is None
    assert served_history(str(tmp_path / "gone.yaml")) is None
