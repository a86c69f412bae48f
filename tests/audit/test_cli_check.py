"""`mxsim check` and `mxsim record` through the CLI, against a detached lab (`lab up` on free
ports): formats, exit codes 0/1/2/3, --root-hints with the lab's own root.hints, and the
recorded file read back by `replay`, `trace` and `lab up`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mxsim.cli import app
from mxsim.lab.runner import LabInfo
from tests.lab.tools import lab

pytestmark = pytest.mark.lab

runner = CliRunner()
FAST = ["--smtp-timeout", "0.5s", "--rate", "400", "--no-progress"]


@pytest.fixture(scope="module")
def incident_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LabInfo, Path]]:
    state = tmp_path_factory.mktemp("lab") / "state"
    with lab("wa-students-2017", state, seed=2) as info:
        yield info, state


@pytest.fixture(scope="module")
def as_json(incident_lab: tuple[LabInfo, Path]) -> dict[str, object]:
    _info, state = incident_lab
    result = runner.invoke(app, ["check", "wa-students.org", "--lab", str(state), "-f", "json", *FAST])
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def test_json_has_the_summary_findings_and_probes(as_json: dict[str, object]) -> None:
    assert str(as_json["summary"]).startswith("mail to wa-students.org reaches aspmx.l.google.com")
    findings = as_json["findings"]
    assert isinstance(findings, list)
    found = {f["id"] for f in findings}
    assert {"APEX01_CNAME", "CONS01_MX", "AA02_NOT_AUTHORITATIVE_RD"} <= found
    apex = next(f for f in findings if f["id"] == "APEX01_CNAME")
    assert apex["args"]["backend"] == "hover01.dns.bra.prod.tucows.net" and apex["level"] == "ERROR"
    assert apex["evidence"][0]["address"] in ("216.40.47.26", "216.40.55.26")
    smtp = {p["address"]: p["state"] for p in as_json["smtp"]}  # type: ignore[attr-defined]
    assert smtp["142.250.153.26"] == "accepted" and smtp["151.101.2.10"] == "unknown"
    assert as_json["exit_code"] == 1


def test_junit_validates_and_fails_on_findings(incident_lab: tuple[LabInfo, Path]) -> None:
    from lxml import etree

    _info, state = incident_lab
    result = runner.invoke(app, ["check", "wa-students.org", "--lab", str(state), "-f", "junit", *FAST])
    assert result.exit_code == 1
    schema = etree.XMLSchema(etree.parse(str(Path(__file__).parent.parent / "data" / "junit.xsd")))
    document = etree.fromstring(result.stdout.encode())
    assert schema.validate(document), schema.error_log
    assert "APEX01_CNAME" in result.stdout and "<failure" in result.stdout


def test_sarif_has_a_rule_per_catalogue_entry(incident_lab: tuple[LabInfo, Path]) -> None:
    from mxsim.audit.catalog import CATALOG_LIST

    _info, state = incident_lab
    result = runner.invoke(app, ["check", "wa-students.org", "--lab", str(state), "-f", "sarif", "--fail-on",
                                 "error", *FAST])
    assert result.exit_code == 1  # APEX01_CNAME is an ERROR
    sarif = json.loads(result.stdout)
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == [s.id for s in CATALOG_LIST]
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels["APEX01_CNAME"] == "error" and levels["NS07_FARM"] == "note"


def test_root_hints_of_the_lab_work_without_its_map(incident_lab: tuple[LabInfo, Path]) -> None:
    """Live mode pointed at the lab's root.hints: every address is a loopback one, as served."""
    info, state = incident_lab
    result = runner.invoke(app, ["check", "wa-students.org", "--root-hints", str(state / "root.hints"),
                                 "--dns-port", str(info.dns_port), "--smtp-port", str(info.smtp_port), *FAST])
    assert result.exit_code == 1, result.output
    first = result.stdout.splitlines()[0]
    assert "backend hover01 on ns1.hover.com and ns2.hover.com answers the apex with a CNAME" in first


def test_record_then_replay_trace_and_lab_up(incident_lab: tuple[LabInfo, Path], tmp_path: Path) -> None:
    _info, state = incident_lab
    recording = tmp_path / "recorded.yaml"
    result = runner.invoke(app, ["record", "wa-students.org", "--output", str(recording), "--lab", str(state), *FAST])
    assert result.exit_code == 0, result.output
    assert f"wrote {recording}" in result.stdout and "cases: zone, cname" in result.stdout
    replay = runner.invoke(app, ["replay", str(recording), "-n", "40", "-m", "postfix", "--first-attempt-only",
                                 "--no-progress"])
    assert replay.exit_code in (0, 1) and "postfix" in replay.stdout, replay.output
    trace = runner.invoke(app, ["trace", str(recording), "--pin", "cname", "-m", "exim"])
    assert trace.exit_code == 1 and "edlio.map.fastly.net" in trace.stdout  # deferred
    with lab(recording, tmp_path / "replayed-lab") as served:
        again = runner.invoke(app, ["check", "wa-students.org", "--lab", str(tmp_path / "replayed-lab"), *FAST])
        assert served.pid > 0
    assert again.exit_code == 1
    assert "backend hover01 on ns1.hover.com and ns2.hover.com answers the apex with a CNAME" in again.stdout


def test_bad_input_exits_3(incident_lab: tuple[LabInfo, Path], tmp_path: Path) -> None:
    _info, state = incident_lab
    cases = [
        ["check", "not a domain!", "--lab", str(state)],
        ["check", "wa-students.org", "--lab", str(state), "--root-hints", str(state / "root.hints")],
        ["check", "wa-students.org", "--root-hints", str(tmp_path / "missing.hints")],
        ["check", "wa-students.org", "--lab", str(state), "--samples", "0"],
        ["check", "wa-students.org", "--lab", str(state), "--mta", "qmail"],
        ["check", "wa-students.org", "--lab", str(tmp_path / "no-lab")],
        ["record", "wa-students.org", "--output", str(tmp_path), "--lab", str(state)],
    ]
    for args in cases:
        result = runner.invoke(app, [*args, "--no-progress"])
        assert result.exit_code == 3, (args, result.output)
        assert result.output.startswith("mxsim: error:"), result.output


def test_nothing_answering_is_unknown_exit_2(tmp_path: Path) -> None:
    hints = tmp_path / "root.hints"
    hints.write_text(". 3600000 IN NS a.root-servers.net.\na.root-servers.net. 3600000 IN A 127.0.0.99\n")
    result = runner.invoke(app, ["check", "wa-students.org", "--root-hints", str(hints), "--dns-port", "29999",
                                 "--dns-timeout", "0.1s", "--no-progress"])
    assert result.exit_code == 2, result.output
    assert result.stdout.startswith("could not measure wa-students.org")


def test_no_pacing_by_default_in_the_lab_and_100_a_second_elsewhere(incident_lab: tuple[LabInfo, Path]) -> None:
    """Politeness protects servers others depend on; the lab's are the user's own."""
    from mxsim.cli.check import FailOn, _config

    _info, state = incident_lab

    def rate(root_hints: Path | None, lab_state: Path | None, given: float | None) -> float:
        return _config("wa-students.org", root_hints, lab_state, 20, None, False, "1s", "2s", given, 5000, 0,
                       FailOn.warning, 53, 25).rate

    assert rate(None, state, None) == 0.0
    assert rate(state / "root.hints", None, None) == 100.0
    assert rate(None, state, 50.0) == 50.0
    assert rate(None, None, None) == 100.0  # the live internet


def test_json_validates_against_the_check_schema(as_json: dict[str, object]) -> None:
    import jsonschema

    from mxsim.schemas import schema

    assert (as_json["schema_version"], as_json["kind"], as_json["status"]) == (1, "check", "measured")
    jsonschema.Draft202012Validator(schema("check")).validate(as_json)


def test_unmeasured_json_validates_too(tmp_path: Path) -> None:
    import jsonschema

    from mxsim.schemas import schema

    hints = tmp_path / "root.hints"
    hints.write_text(". 3600000 IN NS a.root-servers.net.\na.root-servers.net. 3600000 IN A 127.0.0.99\n")
    result = runner.invoke(app, ["check", "wa-students.org", "--root-hints", str(hints), "--dns-port", "29999",
                                 "--dns-timeout", "0.1s", "--no-progress", "-f", "json"])
    data = json.loads(result.stdout)
    assert result.exit_code == 2 and data["status"] == "unknown"
    jsonschema.Draft202012Validator(schema("check")).validate(data)


def test_quiet_prints_the_summary_only(incident_lab: tuple[LabInfo, Path]) -> None:
    _info, state = incident_lab
    result = runner.invoke(app, ["check", "wa-students.org", "--lab", str(state), "--quiet", *FAST])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [result.stdout.strip()]
    assert result.stdout.startswith("mail to wa-students.org reaches aspmx.l.google.com")


def test_a_rate_that_would_never_send_is_bad_input() -> None:
    result = runner.invoke(app, ["check", "example.org", "--rate", "1e-300", "--no-progress"])
    assert result.exit_code == 3 and "--rate must be 0 (no pacing) or at least 0.1" in result.output
