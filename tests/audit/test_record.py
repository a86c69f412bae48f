"""`mxsim record` of the lab's 2017 world: the file loads for replay, trace and lab up, and
replayed in the model its first-attempt share is the lab's own (2 good backends of 3)."""

from __future__ import annotations

from pathlib import Path

import dns.message
import dns.query
import pytest

from mxsim.commands.check import CheckConfig
from mxsim.commands.record import RecordConfig, RecordResult, run_record
from mxsim.commands.replay import ReplayConfig, run_replay
from mxsim.commands.trace import TraceConfig, run_trace
from mxsim.lab.runner import lab_endpoint
from mxsim.scenario import load_scenario
from mxsim.scenario.spec import ScenarioSpec, TtlMode
from mxsim.world import World
from tests.audit.conftest import SMTP_TIMEOUT
from tests.lab.conftest import running_lab
from tests.lab.tools import lab

pytestmark = pytest.mark.lab

HOVER = ("ns1.hover.com.", "ns2.hover.com.")
MESSAGES = 300


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> RecordResult:
    spec = load_scenario("wa-students-2017")
    world = World(spec)
    output = tmp_path_factory.mktemp("record") / "wa-students.yaml"
    with running_lab(world, seed=3) as served:
        config = CheckConfig("wa-students.org", tuple(world.root_hints), served.map, dns_port=served.dns_port,
                             smtp_port=served.smtp_port, smtp_timeout=SMTP_TIMEOUT)
        return run_record(RecordConfig(config, output))


def test_one_backend_per_behaviour_with_observed_weights(recorded: RecordResult) -> None:
    assert recorded.output is not None
    spec = load_scenario(str(recorded.output))
    for name in HOVER:
        server = next(s for s in spec.servers if s.name.to_text() == name)
        by_nsid = {b.nsid: b for b in server.backends}
        assert set(by_nsid) == {f"hover0{i}.dns.bra.prod.tucows.net" for i in (1, 3, 5)}
        total = sum(b.weight for b in server.backends)
        broken = by_nsid["hover01.dns.bra.prod.tucows.net"]
        assert abs(broken.weight / total - 1 / 3) <= 0.10
        assert broken.answer and broken.answer[0][1][0].rdtype == 5  # the CNAME chain, as served
        assert not broken.aa.rd and broken.aa.nord and broken.ttl == TtlMode.COUNTDOWN
        assert not by_nsid["hover05.dns.bra.prod.tucows.net"].answer
    hosts = {h.key: h.smtp.value for h in spec.hosts}
    assert hosts["151.101.2.10"] == "drop" and hosts["142.250.153.26"] == "accept"
    assert [c.name for c in spec.cases] == ["zone", "cname"]


def _first_attempt(spec: ScenarioSpec) -> float:
    # One resolver per message: each first attempt is an independent draw of the farm, so the
    # share measures the weights and not the luck of a few shared cache epochs.
    result = run_replay(ReplayConfig(specs=(spec,), messages=MESSAGES, resolvers=MESSAGES, mtas=("postfix",),
                                     first_attempt_only=True, seed=11))
    mta = result.scenarios[0].results[0]
    return mta.share(mta.first_attempt_success)


def test_replayed_in_the_model_it_gives_the_labs_shares(recorded: RecordResult) -> None:
    assert recorded.output is not None
    replayed = _first_attempt(load_scenario(str(recorded.output)))
    assert abs(replayed - 2 / 3) <= 0.10, replayed  # the lab's weights: two good backends of three
    assert abs(replayed - _first_attempt(load_scenario("wa-students-2017"))) <= 0.10


def test_trace_follows_each_recorded_behaviour(recorded: RecordResult) -> None:
    assert recorded.output is not None
    spec = load_scenario(str(recorded.output))
    good = run_trace(TraceConfig(spec, mtas=("postfix", "exim"), pins=("zone",)))
    assert all(d.delivered_to is not None and d.delivered_to.host == "aspmx.l.google.com" for d in good.deliveries)
    bad = run_trace(TraceConfig(spec, mtas=("postfix", "exim"), pins=("cname",)))
    assert all(d.outcome.value == "deferred" for d in bad.deliveries)
    assert {a.address for d in bad.deliveries for a in d.attempts} == {"151.101.2.10", "151.101.66.10"}


def test_lab_up_serves_the_recording(recorded: RecordResult, tmp_path: Path) -> None:
    assert recorded.output is not None
    with lab(recorded.output, tmp_path / "lab"):
        endpoint = lab_endpoint(tmp_path / "lab")
        address = endpoint.address_map.lab("216.40.47.26")
        query = dns.message.make_query("wa-students.org", "MX", use_edns=0, payload=1232)
        seen = set()
        for _ in range(30):
            reply = dns.query.udp(query, address, timeout=2.0, port=endpoint.dns_port)
            seen.add(reply.answer[0].rdtype)
        assert seen == {15, 5}  # MX from the good backends, CNAME from hover01's recording
