"""`mxsim check` against the lab: the 2017 farm with its broken backend at weight 1/3,
its healthy twin, and a server that drops half its queries."""

from __future__ import annotations

import dataclasses

import pytest

from mxsim.audit.catalog import Level
from mxsim.audit.checks import ProbeState
from mxsim.commands.check import CheckResult
from mxsim.exits import CheckExit
from mxsim.report import check_json, check_text
from mxsim.scenario import load_scenario
from mxsim.scenario.spec import BackendSpec, ScenarioSpec, TlsMode
from tests.audit.conftest import check_spec

pytestmark = pytest.mark.lab

HOVER01 = "hover01.dns.bra.prod.tucows.net"
FARM = ("216.40.47.26", "216.40.55.26")
GOOGLE = {"142.250.153.26", "142.250.150.26", "142.251.9.26", "142.250.150.27", "142.251.9.27"}
FASTLY = {"151.101.2.10", "151.101.66.10"}
# Findings that say data is absent or different: never from a timeout.
MISSING = {"CONS01_MX", "CONS02_TXT", "CONS03_SOA", "CONS04_NS", "CONS05_ADDRESS", "SPF01_MISSING", "SPF02_DIFFERS",
           "SPF04_NONE", "MX03_TARGET_NO_ADDRESS", "MX05_NO_MX", "APEX01_CNAME", "DEL04_NS_NO_ADDRESS"}


@pytest.fixture(scope="module")
def incident() -> CheckResult:
    """The 2017 scenario, unpinned: each query draws hover05, hover03 or hover01 (1/3 each)."""
    return check_spec(load_scenario("wa-students-2017"))


def ids(result: CheckResult) -> set[str]:
    return {f.id for f in result.findings}


def test_the_broken_backend_is_named_by_nsid_with_its_share(incident: CheckResult) -> None:
    apex = [f for f in incident.findings if f.id == "APEX01_CNAME"]
    assert {dict(f.args)["ns_ip"] for f in apex} == set(FARM)
    assert all(dict(f.args)["backend"] == HOVER01 for f in apex)
    assert incident.analysis is not None
    for address in FARM:
        view = incident.analysis.view(address)
        key = next(k for k in view.by_behaviour if k[0] == HOVER01)
        assert abs(view.share(key) - 1 / 3) <= 0.10, (address, view.share(key))
    for finding in apex:
        share = next(e.share for e in finding.evidence)
        assert share is not None and abs(share - 1 / 3) <= 0.10


def test_the_incident_findings_and_exit_code(incident: CheckResult) -> None:
    found = ids(incident)
    assert {"APEX01_CNAME", "CONS01_MX"} <= found
    assert found & {"AA01_NOT_AUTHORITATIVE", "AA02_NOT_AUTHORITATIVE_RD"}, "the missing AA is reported"
    assert "TTL01_COUNTDOWN" in found and "AA03_UPWARD_REFERRAL" in found
    assert "PATH01_NOT_DELIVERED" in found
    assert incident.exit_code == CheckExit.FINDINGS


def test_google_accepts_and_fastly_times_out(incident: CheckResult) -> None:
    probes = {p.address: p for p in incident.probes}
    assert set(probes) >= GOOGLE | FASTLY
    for address in GOOGLE:
        assert probes[address].state == ProbeState.ACCEPTED, probes[address]
        session = probes[address].session
        assert session.starttls_offered and session.tls_version in ("TLSv1.2", "TLSv1.3"), session
    for address in FASTLY:
        assert probes[address].state == ProbeState.UNKNOWN and "timeout" in probes[address].detail
        assert probes[address].host == "edlio.map.fastly.net"


def test_the_summary_line_comes_first_and_names_the_culprit(incident: CheckResult) -> None:
    line = incident.summary
    assert line.startswith("mail to wa-students.org reaches aspmx.l.google.com for ")
    assert "times out at edlio.map.fastly.net" in line
    assert "backend hover01 on ns1.hover.com and ns2.hover.com answers the apex with a CNAME" in line
    assert check_text.render(incident).splitlines()[0] == line
    paths = {p.group.key: p for p in incident.paths}
    assert abs(paths["cname"].group.share - 1 / 3) <= 0.10
    assert all(d.outcome.value == "deferred" for d in paths["cname"].deliveries)
    assert all(d.delivered_to is not None and d.delivered_to.mx == "aspmx.l.google.com"
               for d in paths["zone"].deliveries)


def test_without_probes_the_summary_names_the_host_every_mta_would_reach() -> None:
    """Each MTA labels the Fastly host its own way (Postfix by the domain of the implicit MX,
    Exim by sites.edlio.com, Sendmail by the canonical name); the summary names the host the
    addresses belong to, so that one destination reads as one."""
    result = check_spec(load_scenario("wa-students-2017"), pins=["broken"], smtp=False, samples=4, rate=0.0)
    labels = {d.delivered_to.mx for p in result.paths for d in p.deliveries if d.delivered_to is not None}
    assert len(labels) > 1, labels  # the MTAs do disagree on the label
    assert result.summary.startswith("mail to wa-students.org would go to edlio.map.fastly.net for every lookup")
    assert "depends on the MTA" not in result.summary


def test_reports_render_the_same_bytes_twice(incident: CheckResult) -> None:
    assert check_json.render(incident) == check_json.render(incident)
    assert check_text.render(incident) == check_text.render(incident)


def test_the_healthy_twin_exits_0_with_no_finding() -> None:
    result = check_spec(load_scenario("wa-students-healthy"), rate=400.0)
    assert result.findings == ()
    assert result.unknown == ()
    assert result.exit_code == CheckExit.CLEAN
    assert result.summary == "mail to wa-students.org reaches aspmx.l.google.com for every lookup"


def test_the_same_world_gives_the_same_report() -> None:
    """Pinned backends answer alike every time: two checks, same bytes (no clock in reports)."""
    spec = load_scenario("wa-students-2017")
    first = check_spec(spec, pins=["healthy"], rate=400.0, seed=7)
    second = check_spec(spec, pins=["healthy"], rate=400.0, seed=7)
    assert check_text.render(first) == check_text.render(second)


def _half_drop() -> ScenarioSpec:
    healthy = load_scenario("wa-students-healthy")
    servers = tuple(
        dataclasses.replace(s, backends=(BackendSpec("lossy", 0, nsid="lossy01.example", drop=0.5),), nsid=None)
        if s.name.to_text() == "ns2.hover.com." else s
        for s in healthy.servers
    )
    return dataclasses.replace(healthy, servers=servers)


def test_a_server_dropping_half_its_queries_is_unknown_never_missing() -> None:
    spec = _half_drop()
    # No retries: about half the samples of ns2 get no reply at all.
    result = check_spec(spec, rate=400.0, retries=0, dns_timeout=0.2)
    found = ids(result)
    assert not found & MISSING, sorted(found)
    assert "NS03_PACKET_LOSS" in found
    assert result.analysis is not None
    view = result.analysis.view("216.40.55.26")
    assert 0.3 <= view.unknown / (view.unknown + view.answered) <= 0.7
    assert any("216.40.55.26" in reason and "unknown" in reason for reason in result.unknown)
    assert result.summary.startswith("mail to wa-students.org reaches aspmx.l.google.com for every lookup")
    # The loss is a warning; below --fail-on error what is left is "could not measure": exit 2.
    strict = dataclasses.replace(result, fail_on=Level.ERROR)
    assert strict.exit_code == CheckExit.UNMEASURED
    assert result.exit_code == CheckExit.FINDINGS


def test_with_retries_a_lossy_server_still_serves_its_data() -> None:
    result = check_spec(_half_drop(), rate=400.0, dns_timeout=0.2)
    assert not ids(result) & MISSING
    assert result.analysis is not None
    view = result.analysis.view("216.40.55.26")
    assert view.answered > view.unknown * 3  # three tries each: about 1 sample in 8 stays unknown


def test_a_host_that_offers_starttls_and_refuses_it_is_a_warning() -> None:
    """The healthy twin with its googlemail.com hosts answering STARTTLS with 454: the probe
    makes the whole upgrade, so it tells a working TLS from an advertised one."""
    healthy = load_scenario("wa-students-healthy")
    hosts = tuple(dataclasses.replace(h, tls=TlsMode.REFUSE) if h.key == "*.googlemail.com" else h
                  for h in healthy.hosts)
    result = check_spec(dataclasses.replace(healthy, hosts=hosts), rate=400.0, samples=4)
    failing = {dict(f.args)["address"]: f for f in result.findings if f.id == "SMTP04_STARTTLS_FAILS"}
    assert set(failing) == {"142.250.150.27", "142.251.9.27"}  # aspmx2 and aspmx3.googlemail.com
    assert all("454 4.7.0" in f.message for f in failing.values())
    probes = {p.address: p for p in result.probes}
    assert probes["142.250.153.26"].session.tls_version in ("TLSv1.2", "TLSv1.3")
    assert probes["142.250.150.27"].session.tls_version is None
    assert "STARTTLS offered, refused: 454" in check_text.render(result)
    assert result.exit_code == CheckExit.FINDINGS and {f.id for f in result.findings} == {"SMTP04_STARTTLS_FAILS"}


def test_the_budget_caps_the_samples_evenly() -> None:
    """Round robin: a spent budget leaves every address with fewer samples, none with none."""
    result = check_spec(load_scenario("wa-students-healthy"), budget=100, rate=400.0)
    assert result.analysis is not None
    for view in result.analysis.addresses.values():
        assert view.skipped > 0 and view.answered >= 40
    assert result.findings == () and result.exit_code == CheckExit.CLEAN
    assert "samples not sent (--budget spent)" in check_text.render(result)
