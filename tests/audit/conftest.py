"""Checks against a lab on loopback: the lab serves a scenario in this process (on free
unprivileged ports, tests/lab/conftest.py), and `run_check` measures it over the wire,
knowing only its root hints and the address map, as `mxsim check --lab` does."""

from __future__ import annotations

from typing import Any

from mxsim.commands.check import CheckConfig, CheckResult, run_check
from mxsim.scenario.spec import ScenarioSpec
from mxsim.world import World, parse_pins
from tests.lab.conftest import running_lab

SMTP_TIMEOUT = 2.0  # seconds: the lab's dropped SYNs cost this per address; a TLS handshake on a busy
# machine (a CI runner at full load) has been seen to take more than half a second


def domain_of(spec: ScenarioSpec) -> str:
    assert spec.recipient is not None
    return spec.recipient.rpartition("@")[2]


def check_spec(spec: ScenarioSpec, *, lab_seed: int = 1, pins: list[str] | None = None, **config: Any) -> CheckResult:
    world = World(spec, parse_pins(spec, pins))
    with running_lab(world, seed=lab_seed) as lab:
        options: dict[str, Any] = {"smtp_timeout": SMTP_TIMEOUT, **config}
        return run_check(CheckConfig(domain_of(spec), tuple(world.root_hints), lab.map, dns_port=lab.dns_port,
                                     smtp_port=lab.smtp_port, **options))
