"""Scenario files: load and check them (`load`), and the frozen values they become (`spec`)."""

from mxsim.scenario.load import bundled_scenarios, load_scenario, load_scenario_text
from mxsim.scenario.spec import (
    AaSpec,
    AuthorityMode,
    BackendSpec,
    CaseSpec,
    ExpectSpec,
    HostSpec,
    ResolverSpec,
    ScenarioSpec,
    ServerChoice,
    ServerSpec,
    SmtpKind,
    TtlMode,
    ZoneSpec,
)

__all__ = [
    "AaSpec",
    "AuthorityMode",
    "BackendSpec",
    "CaseSpec",
    "ExpectSpec",
    "HostSpec",
    "ResolverSpec",
    "ScenarioSpec",
    "ServerChoice",
    "ServerSpec",
    "SmtpKind",
    "TtlMode",
    "ZoneSpec",
    "bundled_scenarios",
    "load_scenario",
    "load_scenario_text",
]
