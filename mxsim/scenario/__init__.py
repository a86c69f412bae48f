"""Scenario files: load and check them (`load`), and the frozen values they become (`spec`)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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
        TlsMode,
        TtlMode,
        ZoneSpec,
    )

# Names resolve on first use (PEP 562): the frozen spec values are needed without the YAML loader
# (`mxsim check` builds specs; only files need PyYAML).
_WHERE = {
    "AaSpec": "mxsim.scenario.spec",
    "AuthorityMode": "mxsim.scenario.spec",
    "BackendSpec": "mxsim.scenario.spec",
    "CaseSpec": "mxsim.scenario.spec",
    "ExpectSpec": "mxsim.scenario.spec",
    "HostSpec": "mxsim.scenario.spec",
    "ResolverSpec": "mxsim.scenario.spec",
    "ScenarioSpec": "mxsim.scenario.spec",
    "ServerChoice": "mxsim.scenario.spec",
    "ServerSpec": "mxsim.scenario.spec",
    "SmtpKind": "mxsim.scenario.spec",
    "TlsMode": "mxsim.scenario.spec",
    "TtlMode": "mxsim.scenario.spec",
    "ZoneSpec": "mxsim.scenario.spec",
    "bundled_scenarios": "mxsim.scenario.load",
    "load_scenario": "mxsim.scenario.load",
    "load_scenario_text": "mxsim.scenario.load",
}

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
    "TlsMode",
    "TtlMode",
    "ZoneSpec",
    "bundled_scenarios",
    "load_scenario",
    "load_scenario_text",
]


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
