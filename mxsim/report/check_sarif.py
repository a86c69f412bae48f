"""`mxsim check --format sarif`: SARIF 2.1.0, one rule per catalogue entry, one result per finding.

Levels map as code scanners expect: ERROR and CRITICAL to `error`, WARNING to `warning`,
NOTICE and INFO to `note`. Locations are logical (the domain, the server address):
there is no source file behind a DNS finding.
"""

from __future__ import annotations

import json
from typing import Any

from mxsim import __version__
from mxsim.audit.catalog import CATALOG_LIST, Level
from mxsim.commands.check import CheckResult
from mxsim.report.check_json import finding_json

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def sarif_level(level: Level) -> str:
    if level >= Level.ERROR:
        return "error"
    return "warning" if level == Level.WARNING else "note"


def _rules() -> list[dict[str, Any]]:
    return [
        {
            "id": spec.id,
            "name": spec.id.split("_", 1)[1].title().replace("_", ""),
            "shortDescription": {"text": spec.template},
            "fullDescription": {"text": spec.about},
            "help": {"text": f"{spec.about} ({spec.rfc}; docs/findings.md in mxsim)"},
            "defaultConfiguration": {"level": sarif_level(spec.level)},
            "properties": {"level": spec.level.label, "rfc": spec.rfc, "args": list(spec.args)},
        }
        for spec in CATALOG_LIST
    ]


_INDEX = {spec.id: i for i, spec in enumerate(CATALOG_LIST)}


def results(result: CheckResult) -> list[dict[str, Any]]:
    """One SARIF result per finding, located at the domain and the server address it rests on."""
    found = []
    for finding in result.findings:
        where = sorted({e.address for e in finding.evidence}) or [result.domain]
        found.append({
            "ruleId": finding.id,
            "ruleIndex": _INDEX[finding.id],
            "level": sarif_level(finding.level),
            "message": {"text": finding.message},
            "locations": [
                {"logicalLocations": [{"name": result.domain, "kind": "namespace"},
                                      {"name": address, "kind": "resource"}]}
                for address in where
            ],
            "properties": {"mxsimLevel": finding.level.label, "evidence": finding_json(finding)["evidence"]},
        })
    return found


def domain_properties(result: CheckResult) -> dict[str, Any]:
    return {"summary": result.summary, "domain": result.domain, "exitCode": int(result.exit_code),
            "unknown": list(result.unknown), "unmeasured": list(result.unmeasured)}


def document(found: list[dict[str, Any]], properties: dict[str, Any],
             invocation: dict[str, Any] | None = None) -> dict[str, Any]:
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "mxsim", "version": __version__, "rules": _rules()}},
        "properties": properties,
        "results": found,
    }
    if invocation is not None:
        run["invocations"] = [invocation]
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}


def data(result: CheckResult) -> dict[str, Any]:
    return document(results(result), domain_properties(result))


def text(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render(result: CheckResult) -> str:
    return text(data(result))
