"""`mxsim replay --format json`: everything the replay counted, stable key order."""

from __future__ import annotations

import json
from typing import Any

from mxsim.commands.replay import MtaReplay, ReplayResult
from mxsim.report.replay_series import buckets_json, deferrals_json, migration_json
from mxsim.report.replay_text import verdict_line

SCHEMA_VERSION = 1


def _mta(m: MtaReplay, verdict: str) -> dict[str, Any]:
    return {**_counts(m, verdict), **series_json(m)}


def series_json(m: MtaReplay) -> dict[str, Any]:
    """With --bucket, the series; with an MX change in the timeline, the migration summary."""
    extra: dict[str, Any] = {}
    if m.buckets:
        extra["buckets"] = buckets_json(m)
    if m.migration is not None:
        extra["migration"] = migration_json(m.migration)
    if m.deferrals is not None:
        extra["deferrals"] = deferrals_json(m.deferrals)
    return extra


def _counts(m: MtaReplay, verdict: str) -> dict[str, Any]:
    def share(count: int) -> float:
        return round(m.share(count), 6)

    return {
        "mta": m.mta,
        "mta_version": m.mta_version,
        "messages": m.messages,
        "delivered_expected": {"count": m.delivered_expected, "share": share(m.delivered_expected)},
        "delivered_elsewhere": {"count": m.delivered_elsewhere, "share": share(m.delivered_elsewhere)},
        "bounced": {"count": m.bounced, "share": share(m.bounced)},
        "queued": {"count": m.queued, "share": share(m.queued)},
        "first_attempt_success": {"count": m.first_attempt_success, "share": share(m.first_attempt_success)},
        "warned": m.warned,
        "attempts": m.attempts,
        "delay": {"p50_s": _round(m.delay_p50), "p95_s": _round(m.delay_p95), "max_s": _round(m.delay_max)},
        "first_attempt_failures": [{"host": host, "count": count, "share": share(count)}
                                   for host, count in m.first_failures],
        "paths": [{"path": path, "count": count, "share": share(count)} for path, count in m.paths],
        "bounces": [{"text": text, "count": count} for text, count in m.bounce_texts],
        "gates": [{"name": g.name, "passed": g.passed, "expected": g.expected, "observed": g.observed}
                  for g in m.gates],
        "passed": m.passed,
        "status": m.status,
        "verdict": verdict,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def render(result: ReplayResult) -> str:
    width = max(len(s.scenario) for s in result.scenarios)
    payload = {
        "schema_version": SCHEMA_VERSION,
        "kind": "replay",
        "seed": result.seed,
        "messages": result.messages,
        "arrival": {"window_s": result.arrival, "process": result.process.value},
        "resolvers": result.resolvers,
        "passed": result.passed,
        "status": result.status,
        "scenarios": [
            {"scenario": s.scenario, "deliver_to": list(s.deliver_to), "passed": s.passed, "status": s.status,
             "mtas": [_mta(m, verdict_line(s.scenario, m, width=width)) for m in s.results]}
            for s in result.scenarios
        ],
    }
    return json.dumps(payload, indent=2) + "\n"
