"""`check` against the lab serving the bundled stale-policy migration: the MTA-STS findings."""

from __future__ import annotations

import random

from mxsim.commands.check import run_check
from mxsim.commands.check_run import CheckConfig
from mxsim.scenario import ScenarioSpec, load_scenario, load_scenario_text
from mxsim.world import World
from tests.lab.conftest import running_lab

_ports = random.Random()


def _check(world: World, history: ScenarioSpec | None = None) -> tuple[list[tuple[str, dict[str, str]]], list[object]]:
    """The STS findings of a check of shop.example in a lab of `world`, and the statuses the endpoint gave."""
    port = _ports.randrange(20000, 30000)
    with running_lab(world, https_port=port) as lab:
        assert lab.servers.sts is not None
        config = CheckConfig("shop.example", tuple(world.root_hints), lab.map, dns_port=lab.dns_port,
                             smtp_port=lab.smtp_port, smtp_timeout=1.0, rate=0.0, samples=2,
                             policy_ca=lab.servers.sts.ca_file, https_port=port, mtas=("postfix",),
                             history=history)
        result = run_check(config)
        fetched = [r["status"] for r in lab.servers.status()["https"]]  # type: ignore[union-attr]
    return [(f.id, dict(f.args)) for f in result.findings if f.id.startswith("STS")], fetched


def test_check_finds_the_stale_enforce_policy_and_its_long_max_age() -> None:
    found, fetched = _check(World(load_scenario("mta-sts-stale-policy")))
    assert fetched == [200]  # check fetched the policy once, over verified HTTPS
    assert sorted((i, a.get("mx", "")) for i, a in found) == [
        ("STS02_ENFORCE_MX_MISMATCH", "mx1.newmail.example.com"),
        ("STS02_ENFORCE_MX_MISMATCH", "mx2.newmail.example.com"),
        ("STS04_MAX_AGE_LONG", ""),
    ]


def test_check_reports_a_policy_it_cannot_fetch() -> None:
    spec = load_scenario("mta-sts-stale-policy")
    with open(spec.source, encoding="utf-8") as file:
        text = file.read().replace("endpoint: serve", "endpoint: not-found")
    found, fetched = _check(World(load_scenario_text(text, "stale.yaml")))
    assert fetched == [404]
    assert [i for i, _ in found] == ["STS01_POLICY_UNREACHABLE"]


def test_check_of_a_lab_reads_the_timeline_for_a_policy_edited_under_the_same_id() -> None:
    """The live check sees the start only; the history the lab's scenario holds shows the edit at 6h."""
    spec = load_scenario("mta-sts-migration-over-time")
    with open(spec.source, encoding="utf-8") as file:
        text = file.read().replace("id=20240601", "id=20230115")  # the fix forgets the new id
    unfixed = load_scenario_text(text, "unfixed.yaml")
    live, _fetched = _check(World(unfixed))
    assert [i for i, _ in live] == ["STS04_MAX_AGE_LONG"]
    both, _fetched = _check(World(unfixed), history=unfixed)
    assert sorted(i for i, _ in both) == ["STS04_MAX_AGE_LONG", "STS05_ID_UNCHANGED"]
    (edited,) = [args for i, args in both if i == "STS05_ID_UNCHANGED"]
    assert edited == {"domain": "shop.example", "at": "6h", "policy_id": "20230115", "since": "the start"}
