"""`mxsim check --format jsonl`: one compact line per domain, written as each domain finishes.

Only what a batch is sorted by: the verdict, the share of lookups per behaviour with
where each MTA's mail went, the findings by ID and level, and whether it was measured.
`mxsim check DOMAIN -f json` gives the whole report of one domain.
"""

from __future__ import annotations

import json
from typing import Any

from mxsim.commands.check import CheckResult

SCHEMA_VERSION = 1


def data(result: CheckResult) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "check",
        "domain": result.domain,
        "summary": result.summary,
        "status": "unknown" if result.unmeasured else "measured",
        "why": "; ".join(result.unmeasured) or None,
        "exit_code": int(result.exit_code),
        "paths": [
            {"share": round(p.group.share, 4), "backends": p.group.backends(), "flavour": p.group.flavour,
             "unknown": None if p.unknown is None else p.unknown.why,
             "outcomes": {d.mta: d.outcome.value for d in p.deliveries}}
            for p in result.paths
        ],
        "findings": [{"id": f.id, "level": f.level.label, "message": f.message,
                      "backends": sorted({e.backend for e in f.evidence if e.backend})} for f in result.findings],
        "queries": result.queries,
        "samples": result.samples,
    }


def line_text(line: dict[str, Any]) -> str:
    return json.dumps(line, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"


def render(result: CheckResult) -> str:
    return line_text(data(result))
