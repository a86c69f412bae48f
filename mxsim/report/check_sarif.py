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


def data(result: CheckResult) -> dict[str, Any]:
    rules = [
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
    index = {spec.id: i for i, spec in enumerate(CATALOG_LIST)}
    results = []
    for finding in result.findings:
        where = sorted({e.address for e in finding.evidence}) or [result.domain]
        results.append({
            "ruleId": finding.id,
            "ruleIndex": index[finding.id],
            "level": sarif_level(finding.level),
            "message": {"text": finding.message},
            "locations": [
                {"logicalLocations": [{"name": result.domain, "kind": "namespace"},
                                      {"name": address, "kind": "resource"}]}
                for address in where
            ],
            "properties": {"mxsimLevel": finding.level.label, "evidence": finding_json(finding)["evidence"]},
        })
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "mxsim", "version": __version__, "rules": rules}},
            "properties": {"summary": result.summary, "domain": result.domain, "exitCode": int(result.exit_code),
                           "unknown": list(result.unknown), "unmeasured": list(result.unmeasured)},
            "results": results,
        }],
    }


def render(result: CheckResult) -> str:
    return json.dumps(data(result), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
