"""The wire trace against the lab, side by side with the model: same questions, hosts, outcome.

For every bundled scenario and every case it defines, a lab is brought up (a detached
process, as `mxsim lab up` runs it) and `run_wire_trace` sends the same profiles
through real sockets with timeouts scaled by 0.02; the model trace runs beside it.
Farms without pins draw per query in both worlds, from different streams, so an
unpinned farm is compared by what can happen, not by what did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dns.rdatatype
import pytest

from mxsim.commands.trace import TraceConfig, TraceResult, run_trace
from mxsim.commands.trace_wire import WireTraceConfig, run_wire_trace
from mxsim.lab.runner import lab_endpoint
from mxsim.mta.results import Delivery
from mxsim.scenario import bundled_scenarios, load_scenario
from mxsim.scenario.spec import ScenarioSpec
from tests.lab.tools import lab

pytestmark = pytest.mark.lab

SCALE = 0.02


def _random_farm(spec: ScenarioSpec) -> bool:
    return any(len(server.backends) > 1 or any(0 < b.drop < 1 for b in server.backends) for server in spec.servers)


def _runs() -> list[Any]:
    runs = []
    for name in bundled_scenarios():
        spec = load_scenario(name)
        runs.append(pytest.param(name, None, id=name))
        runs.extend(pytest.param(name, case.name, id=f"{name}:{case.name}") for case in spec.cases)
    return runs


def summary(delivery: Delivery) -> dict[str, Any]:
    """What must agree: questions in order; hosts and results per preference level, as sets.

    Names compare without case, as DNS compares them: name compression on the wire may
    give a suffix the case of an earlier name in the message ("hostedemail.COM").
    """
    preference = {t.address: t.preference for t in delivery.route.targets}
    levels: list[tuple[int | None, list[tuple[str, str, str]]]] = []
    for attempt in delivery.attempts:
        level = preference.get(attempt.address)
        if not levels or levels[-1][0] != level:
            levels.append((level, []))
        levels[-1][1].append((attempt.host.lower(), attempt.address, attempt.result.value))
    return {
        "questions": [
            (a.qname.to_text().lower(), dns.rdatatype.to_text(a.qtype), None if a.rcode is None else int(a.rcode))
            for a in delivery.dns
        ],
        "route": (delivery.route.kind.value, delivery.route.domain.lower()),
        "targets": sorted((t.preference, t.host.lower(), t.address) for t in delivery.route.targets),
        "attempts": [(level, sorted(hosts)) for level, hosts in levels],
        "outcome": delivery.outcome.value,
        "dsn": delivery.dsn,
        "envelope": delivery.envelope_recipient.lower(),
    }


def wire_and_model(name: str, case: str | None, state_dir: Path, **lab_options: Any) -> tuple[TraceResult, TraceResult]:
    spec = load_scenario(name)
    pins = (case,) if case else ()
    with lab(name, state_dir, pins=list(pins), **lab_options):
        endpoint = lab_endpoint(state_dir)
        wire = run_wire_trace(WireTraceConfig(TraceConfig(spec, pins=pins), endpoint, SCALE))
    return wire, run_trace(TraceConfig(spec, pins=pins))


@pytest.mark.parametrize(("name", "case"), _runs())
def test_wire_trace_agrees_with_the_model(name: str, case: str | None, tmp_path: Path) -> None:
    spec = load_scenario(name)
    wire, model = wire_and_model(name, case, tmp_path / "lab")
    assert [d.mta for d in wire.deliveries] == [d.mta for d in model.deliveries]
    if case is None and _random_farm(spec):
        # Each query draws a backend: the wire run must end as one of the cases ends.
        possible = {
            (d.mta, d.outcome, d.dsn)
            for c in spec.cases
            for d in run_trace(TraceConfig(spec, pins=(c.name,))).deliveries
        }
        for delivery in wire.deliveries:
            assert (delivery.mta, delivery.outcome, delivery.dsn) in possible, delivery.mta
        return
    for got, want in zip(wire.deliveries, model.deliveries, strict=True):
        assert summary(got) == summary(want), got.mta


def test_wire_trace_shows_real_addresses_and_nsids(tmp_path: Path) -> None:
    wire, _model = wire_and_model("wa-students-2017", "broken", tmp_path / "lab")
    postfix = wire.deliveries[0]
    addresses = {a.address for a in postfix.attempts}
    assert addresses == {"151.101.2.10", "151.101.66.10"}
    upstream = [u for answer in postfix.dns for r in answer.resolved for u in r.upstream]
    farm = [u for u in upstream if u.address in ("216.40.47.26", "216.40.55.26")]
    assert farm and all(u.nsid == "hover01.dns.bra.prod.tucows.net" and u.backend == "hover01" for u in farm)
    assert all(u.address.split(".")[0] != "127" for u in upstream)
