"""Timelines: load-time checks with file:line, the world at a time, trace --at, replay's reports over time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mxsim.commands.replay import ReplayConfig, run_replay
from mxsim.errors import ScenarioError
from mxsim.report import replay_json, replay_markdown, replay_text
from mxsim.scenario import load_scenario, load_scenario_text
from mxsim.scenario.timeline import spec_at
from mxsim.world.timeline import WorldTimeline

ROOT = Path(__file__).resolve().parents[2]

BASE = """mxsim: 1
recipient: user@example.org
zones:
  example.org: |
    @ MX 10 mx.old.example.
servers:
  ns1.example.org: {address: 192.0.2.53, zones: [example.org]}
"""


def _error(timeline: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(BASE + timeline, "t.yaml")
    return caught.value


def test_changes_out_of_time_order_are_an_error_at_the_later_line() -> None:
    error = _error("timeline:\n  - at: 2h\n    hosts: {a.example: {smtp: refuse}}\n"
                   "  - at: 1h\n    hosts: {a.example: {smtp: accept}}\n")
    assert str(error).startswith("t.yaml:11: changes must be in time order")


def test_a_new_server_must_be_given_whole_and_serve_zones_that_exist() -> None:
    assert str(_error("timeline:\n  - at: 1h\n    servers:\n      ns9.example.org: {zones: [example.org]}\n")
               ).startswith("t.yaml:11: server ns9.example.org needs an `address`")
    error = _error("timeline:\n  - at: 1h\n    servers:\n      ns1.example.org: {zones: [example.net]}\n")
    assert str(error).startswith("t.yaml:11: server ns1.example.org serves zone example.net, which `zones` does not")


def test_a_change_that_changes_nothing_or_misspells_a_kind_is_an_error() -> None:
    assert "changes nothing" in str(_error("timeline:\n  - at: 1h\n"))
    assert "did you mean `zones`" in str(_error("timeline:\n  - at: 1h\n    zone: {}\n"))


def test_a_zone_created_by_a_change_can_be_served_by_a_server_the_same_change_changes() -> None:
    spec = load_scenario_text(BASE + "timeline:\n  - at: 1h\n    servers:\n      ns1.example.org: "
                              "{zones: [example.org, example.net]}\n    zones:\n      example.net: '@ A 192.0.2.1'\n")
    later = spec_at(spec, 3600)
    assert [str(z.origin) for z in later.zones] == ["example.org.", "example.net."]
    assert later.server(later.servers[0].name).addresses == ("192.0.2.53",)  # kept from before
    assert len(spec_at(spec, 3599).zones) == 1


def test_the_world_at_a_time_answers_with_that_times_zone() -> None:
    spec = load_scenario("migrate-to-m365")
    timeline = WorldTimeline(spec)
    assert timeline.starts == [0.0, 1800.0] and timeline.epoch(1799.9) == 0 and timeline.epoch(1800) == 1
    hosts = {t: timeline.at(t).host_names("198.51.100.25") for t in (0.0, 7200.0)}
    assert hosts[7200.0] == ("example-org.mail.protection.outlook.com",)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from mxsim.cli import main; main()", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def test_trace_at_shows_the_world_of_that_time_and_bad_timelines_exit_3(tmp_path: Path) -> None:
    before = _cli("trace", "migrate-to-m365", "-m", "postfix", "-q")
    after = _cli("trace", "migrate-to-m365", "-m", "postfix", "-q", "--at", "2h")
    assert "aspmx.l.google.com" in before.stdout and "outlook.com" in after.stdout, (before.stdout, after.stdout)
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE + "timeline:\n  - at: 2h\n    hosts: {a: {}}\n  - at: 1h\n    hosts: {a: {}}\n")
    done = _cli("trace", str(bad))
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 3 and "bad.yaml:11: changes must be in time order" in last, done.stderr


def test_replay_reports_buckets_and_the_migration_in_every_format() -> None:
    from jsonschema import Draft202012Validator

    from mxsim.schemas import schema

    spec = load_scenario("migrate-to-m365")
    result = run_replay(ReplayConfig(specs=(spec,), messages=400, mtas=("postfix", "exim"), arrival=7200.0,
                                     resolvers=40, bucket=1800.0))
    document = json.loads(replay_json.render(result))
    Draft202012Validator(schema("replay")).validate(document)
    mta = document["scenarios"][0]["mtas"][0]
    assert [b["start_s"] for b in mta["buckets"]] == [0.0, 1800.0, 3600.0, 5400.0]
    assert sum(b["messages"] for b in mta["buckets"]) == 400
    assert mta["buckets"][0]["first_attempt_hosts"] == {"aspmx.l.google.com": 100}
    assert mta["buckets"][3]["first_attempt_hosts"] == {"example-org.mail.protection.outlook.com": 100}
    migration = mta["migration"]
    assert migration["messages_after"] == 300 and 0 < migration["reached_old"] < 300
    assert migration["last_old_attempt_s"] < 1800 + 3600 + 1  # within one TTL of the change
    assert migration["fates"] == [{"fate": "delivered by the old provider", "count": migration["reached_old"]}]
    assert "over time" in replay_text.render(result)
    assert replay_markdown.render(result).count("xychart-beta") == 2


def test_what_if_a_lower_ttl_moves_mail_sooner() -> None:
    from mxsim.cli.replay import with_variants

    specs = with_variants((load_scenario("migrate-to-m365"),), ["ttl=300"], None)
    result = run_replay(ReplayConfig(specs=specs, messages=1000, mtas=("postfix",), arrival=7200.0, resolvers=10))
    original, lowered = (s.results[0].migration for s in result.scenarios)
    assert original is not None and lowered is not None
    assert lowered.share < original.share / 4
    assert lowered.last_old_s is not None and lowered.last_old_s <= 1800 + 301
    advice = "advice: lower the MX TTL to 5m at least 1h (the old TTL) before changing the MX"
    assert advice in replay_text.render(result)


def test_plot_draws_an_svg_or_says_how_to_get_the_plotting_library(tmp_path: Path) -> None:
    import importlib.util

    chart = tmp_path / "chart.svg"
    done = _cli("replay", "migrate-to-m365", "-n", "100", "-m", "postfix", "--bucket", "15m", "--plot", str(chart),
                "-q", "--no-progress")
    if importlib.util.find_spec("matplotlib") is None:
        assert done.returncode == 3 and "pip install 'mxsim[plot]'" in done.stderr, done.stderr
    else:
        assert done.returncode == 0, done.stderr
        assert chart.read_text().lstrip().startswith("<?xml") and "<svg" in chart.read_text()
    assert _cli("replay", "migrate-to-m365", "--plot", str(chart)).returncode == 3  # no --bucket: no series


def test_the_bucket_charts_parse_with_mermaids_own_parser() -> None:
    """The xychart-beta blocks of `--bucket --format markdown` parse with mermaid 11 itself (tests/js)."""
    import shutil

    js = ROOT / "tests" / "js"
    node = shutil.which("node")
    assert node is not None, "node is needed: it ships with this machine image (and `.ci/run` expects it)"
    assert (js / "node_modules" / "mermaid").is_dir(), f"run: npm ci --prefix {js}"
    markdown = _cli("replay", "migrate-to-m365", "-n", "200", "--arrival", "2h", "--resolvers", "20",
                    "--bucket", "15m", "-f", "markdown", "--no-progress").stdout
    assert markdown.count("xychart-beta") == 5
    checked = subprocess.run([node, str(js / "mermaid_check.mjs")], input=markdown, capture_output=True,
                             text=True, timeout=120, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip().endswith("10/10 mermaid blocks parse")
