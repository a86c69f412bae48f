"""`mxsim replay`: shares converge to what the farm and the cache imply; reports are stable."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mxsim.cli import app
from mxsim.commands.replay import ReplayConfig, run_replay
from mxsim.scenario import load_scenario_text

FARM = """
mxsim: 1
name: farm-{w}
recipient: user@example.org
expect:
  deliver_to: [mx.example.org]
zones:
  example.org: |
    $TTL {good_ttl}
    @   SOA ns1.example.org. hostmaster.example.org. 1 3600 600 86400 {good_ttl}
    @   NS  ns1.example.org.
    @   MX  10 mx.example.org.
    mx  A   192.0.2.25
    ns1 A   192.0.2.53
  example.net: |
    $TTL {bad_ttl}
    @   SOA ns1.example.net. hostmaster.example.net. 1 3600 600 86400 {bad_ttl}
    web A   198.51.100.80
servers:
  ns1.example.org:
    address: 192.0.2.53
    zones: [example.org]
    backends:
      good: {{weight: {good_weight}}}
      bad:
        weight: {bad_weight}
        answer:
          example.org: |
            example.org. {bad_ttl} CNAME web.example.net.
hosts:
  mx.example.org: {{smtp: accept}}
  web.example.net: {{smtp: drop}}
"""


def farm(w: float, *, cache: bool, good_ttl: int = 300, bad_ttl: int = 300) -> ReplayConfig:
    text = FARM.format(w=w, good_ttl=good_ttl, bad_ttl=bad_ttl, good_weight=1 - w, bad_weight=w)
    text += f"resolver:\n  cache: {'true' if cache else 'false'}\n"
    spec = load_scenario_text(text, file="farm.yaml")
    return ReplayConfig(specs=(spec,), messages=2000, mtas=("rfc5321",), seed=3, arrival=20000.0,
                        first_attempt_only=True)


@pytest.mark.parametrize("w", [0.2, 0.5, 0.8])
def test_without_cache_first_attempt_success_is_one_minus_w(w: float) -> None:
    """Each message's MX question draws a backend: success ~ Binomial(n, 1 - w)."""
    config = farm(w, cache=False)
    result = run_replay(config).scenarios[0].results[0]
    share = result.first_attempt_success / result.messages
    sigma = math.sqrt(w * (1 - w) / result.messages)
    assert abs(share - (1 - w)) < 4 * sigma, (share, 1 - w, sigma)


@pytest.mark.parametrize("w", [0.5, 0.8])
def test_with_cache_the_shorter_ttl_loses_share(w: float) -> None:
    """With a shared cache the farm is asked once per cache epoch, not once per message.

    Messages arrive every D = 10 s (2000 over 20000 s). unbound serves an entry fetched
    at t while floor(now) <= floor(t) + TTL (docs/lab.md#how-unbound-caches), and a fetch happens at the
    arrival of the first message after expiry, on the lattice, so an answer with TTL T
    is seen by n(T) = ceil((T + 1) / D) consecutive messages. Epochs are independent
    draws: good with probability 1 - w (n_g messages), bad with w (n_b messages). By the
    renewal-reward theorem the long-run share of messages that see the good answer is

        s = (1 - w) n_g / ((1 - w) n_g + w n_b)

    Here the good MX lives 300 s (n_g = 31) and the bad CNAME 60 s (n_b = 7): the cache
    tilts the odds towards the answer that lives longer. The estimator averages over
    about 2000 / E[n] epochs; its standard error is bounded by that of a Bernoulli(s)
    sample of that many epochs scaled by n_max / E[n].
    """
    config = farm(w, cache=True, good_ttl=300, bad_ttl=60)
    result = run_replay(config).scenarios[0].results[0]
    share = result.first_attempt_success / result.messages
    n_good, n_bad = math.ceil(301 / 10), math.ceil(61 / 10)
    mean_n = (1 - w) * n_good + w * n_bad
    expected = (1 - w) * n_good / mean_n
    epochs = result.messages / mean_n
    sigma = math.sqrt(expected * (1 - expected) / epochs) * n_good / mean_n
    assert abs(share - expected) < 4 * sigma, (share, expected, sigma)
    assert share > 1 - w + 2 * sigma  # and it really differs from the uncached share


def test_same_seed_same_bytes_in_every_format(tmp_path: Path) -> None:
    runner = CliRunner()
    for fmt in ("text", "json", "junit", "markdown"):
        args = ["replay", "wa-students-2017", "-n", "60", "--arrival", "6h", "--seed", "5", "-f", fmt,
                "--no-progress"]
        first = runner.invoke(app, args)
        second = runner.invoke(app, args)
        assert first.exit_code == second.exit_code
        assert first.stdout == second.stdout and first.stdout


def test_gates_decide_the_exit_code_and_junit_names_the_failed_gate(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "report.xml"
    failing = runner.invoke(app, ["replay", "wa-students-2017", "--pin", "broken", "--horizon", "1h", "-n", "20",
                                  "-m", "postfix", "-f", "junit", "--output", str(out), "--no-progress"])
    assert failing.exit_code == 1  # every answer is the broken one: nothing reaches Google in the hour
    xml = out.read_text()
    assert 'name="postfix"' in xml and "min_success: expected &gt;= 99.00%, observed 0.00%" in xml
    passing = runner.invoke(app, ["replay", "wa-students-healthy", "-n", "30", "-m", "postfix", "--no-progress"])
    assert passing.exit_code == 0, passing.stdout


def test_junit_validates_against_the_junit_schema(tmp_path: Path) -> None:
    from lxml import etree

    runner = CliRunner()
    result = runner.invoke(app, ["replay", "wa-students-2017", "wa-students-healthy", "-n", "40", "-f", "junit",
                                 "--no-progress"])
    schema = etree.XMLSchema(etree.parse(str(Path(__file__).parent.parent / "data" / "junit.xsd")))
    document = etree.fromstring(result.stdout.encode())
    assert schema.validate(document), schema.error_log


def test_markdown_has_the_table_and_a_mermaid_diagram_per_mta() -> None:
    from markdown_it import MarkdownIt

    runner = CliRunner()
    text = runner.invoke(app, ["replay", "wa-students-2017", "-n", "40", "-f", "markdown", "--no-progress"]).stdout
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    fences = [t for t in tokens if t.type == "fence"]
    assert [f.info for f in fences] == ["mermaid"] * 5
    for fence in fences:
        lines = fence.content.splitlines()
        assert lines[0] == "flowchart LR"
        assert all('"' not in line.split('"', 2)[-1].replace('"]', "").replace('"])', "").replace('"))', "")
                   or line.count('"') % 2 == 0 for line in lines)
    assert any(t.type == "table_open" for t in tokens)


def test_mtas_differ_on_the_incident_for_reasons_of_their_schedules() -> None:
    """The 2017 farm (1 in 3 answers broken): Sendmail canonifies the domain with AAAA, A and MX
    questions at the apex (three farm draws) and retries every queue run; OpenSMTPD waits
    400 s x n^2; Postfix suspends the dead destination for 5 minutes. So first-attempt
    success and delays differ, in the directions those rules imply."""
    from mxsim.scenario import load_scenario

    config = ReplayConfig(specs=(load_scenario("wa-students-2017"),), messages=300, arrival=86400.0, seed=1)
    results = {m.mta: m for m in run_replay(config).scenarios[0].results}
    first = {name: m.first_attempt_success / m.messages for name, m in results.items()}
    assert first["sendmail"] < first["postfix"] and first["sendmail"] < first["exim"]
    assert all(m.delivered_expected == m.messages for m in results.values())
    assert results["sendmail"].attempts > 2 * results["exim"].attempts  # queue runs every 10 minutes


def test_how_often_an_mta_retries_decides_how_many_messages_bounce() -> None:
    """wa-students-worse: 9 answers in 10 are the broken CNAME. A message bounces when none
    of the attempts that get a fresh draw before the queue gives up draws the good
    backend: about (1 - p)^k. OpenSMTPD fits ~29 attempts in 4 days (400 s x n^2), Exim
    ~190 (every 30 minutes), Postfix ~110 (backoff up to 4000 s, 5 days), so OpenSMTPD
    bounces (or nearly) and the others deliver, Exim sooner than Postfix. Sendmail asks AAAA, A and
    MX at the apex while canonifying: each may draw the CNAME, which then answers every
    type while cached, so p is about 0.1^3 and most messages bounce. The messages share one
    resolver, so their fates are correlated (a good answer in the cache delivers all that
    retry while it lives): one seed's 30 messages bounce anywhere from 9 to 27 under
    Sendmail, so shares and medians are taken over three seeds."""
    from mxsim.scenario import load_scenario

    spec = load_scenario("wa-students-worse")
    bounced = dict.fromkeys(("postfix", "exim", "opensmtpd", "sendmail"), 0)
    p50 = dict.fromkeys(bounced, 0.0)
    for seed in (2, 3, 4):
        config = ReplayConfig(specs=(spec,), messages=30, arrival=86400.0, seed=seed, mtas=tuple(bounced))
        for m in run_replay(config).scenarios[0].results:
            bounced[m.mta] += m.bounced
            assert m.delay_p50 is not None, m.mta
            p50[m.mta] += m.delay_p50
    assert bounced["exim"] == 0 and bounced["postfix"] == 0
    assert bounced["sendmail"] > 0.3 * 90
    assert bounced["sendmail"] > bounced["opensmtpd"] >= bounced["postfix"]
    # Every 30 minutes beats a backoff that grows to 66 minutes; one seed's median of 30
    # correlated delays can go either way, their sum over three seeds does not.
    assert p50["exim"] < p50["postfix"]


def test_markdown_mermaid_parses_with_mermaids_own_parser() -> None:
    """The Markdown report's diagrams parse with mermaid 11 itself (tests/js; `.ci/run` installs it)."""
    import shutil
    import subprocess

    js = Path(__file__).parent.parent / "js"
    node = shutil.which("node")
    assert node is not None, "node is needed: it ships with this machine image (and `.ci/run` expects it)"
    assert (js / "node_modules" / "mermaid").is_dir(), f"run: npm ci --prefix {js}"
    runner = CliRunner()
    markdown = runner.invoke(app, ["replay", "wa-students-2017", "wa-students-healthy", "-n", "30",
                                   "-f", "markdown", "--no-progress"]).stdout
    checked = subprocess.run([node, str(js / "mermaid_check.mjs")], input=markdown, capture_output=True,
                             text=True, timeout=120, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip().endswith("10/10 mermaid blocks parse")


def test_a_scenario_without_gates_never_reads_as_a_pass() -> None:
    runner = CliRunner()
    done = runner.invoke(app, ["replay", "nxdomain", "-n", "10", "-m", "postfix", "--no-progress"])
    assert done.exit_code == 0  # nothing was asked of it
    assert "PASS" not in done.stdout and "== nxdomain: no gates" in done.stdout
    assert done.stdout.rstrip().endswith("result: no gates")
    failing = runner.invoke(app, ["replay", "nxdomain", "-n", "10", "-m", "postfix", "--fail-on", "bounce",
                                  "--no-progress"])
    assert failing.exit_code == 1 and "no_bounce: expected 0 bounced, observed 10 bounced FAIL" in failing.stdout
    queued = runner.invoke(app, ["replay", "wa-students-2017", "--pin", "broken", "-n", "10", "-m", "postfix",
                                 "--first-attempt-only", "--fail-on", "defer", "-f", "json", "--no-progress"])
    assert queued.exit_code == 1 and '"no_queued"' in queued.stdout


def test_verdict_lines_come_first_and_name_where_first_attempts_failed() -> None:
    runner = CliRunner()
    done = runner.invoke(app, ["replay", "wa-students-2017", "--pin", "broken", "-n", "10", "-m", "rfc5321",
                               "-m", "exim", "--horizon", "1h", "--no-progress"])
    first, second = done.stdout.splitlines()[:2]
    assert first.split()[:3] == ["wa-students-2017", "rfc5321", "FAIL"]
    assert "0.0% to expected hosts, 1st try 0.0% (failed: edlio.map.fastly.net 100.0%)" in first
    assert second.split()[1] == "exim"
    quiet = runner.invoke(app, ["replay", "wa-students-2017", "--pin", "broken", "-n", "10", "-m", "rfc5321",
                                "-m", "exim", "--horizon", "1h", "--no-progress", "--quiet"])
    assert quiet.stdout.splitlines() == [first, second]


def test_json_names_its_schema_and_kind() -> None:
    import json

    runner = CliRunner()
    done = runner.invoke(app, ["replay", "wa-students-2017", "-n", "10", "-m", "postfix", "-f", "json",
                               "--no-progress"])
    report = json.loads(done.stdout)
    assert (report["schema_version"], report["kind"]) == (1, "replay")
    (mta,) = report["scenarios"][0]["mtas"]
    assert set(mta["delay"]) == {"p50_s", "p95_s", "max_s"} and mta["verdict"].startswith("wa-students-2017")
    assert mta["status"] in ("pass", "fail")
