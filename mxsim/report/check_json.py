"""`mxsim check --format json`: everything the text shows, as one object with sorted keys."""

from __future__ import annotations

import json
from typing import Any

import dns.rdatatype

from mxsim.audit.behaviour import Analysis
from mxsim.audit.checks import counts_down
from mxsim.audit.finding import Finding
from mxsim.commands.check import CheckResult
from mxsim.commands.check_paths import PathResult
from mxsim.mta.results import Delivery
from mxsim.names import text as name_text

SCHEMA_VERSION = 1


def finding_json(finding: Finding) -> dict[str, Any]:
    return {
        "id": finding.id,
        "level": finding.level.label,
        "rfc": finding.spec.rfc,
        "message": finding.message,
        "args": dict(finding.args),
        "evidence": [
            {"address": e.address, "server": e.server, "backend": e.backend, "query": e.query,
             "share": None if e.share is None else round(e.share, 4), "detail": e.detail}
            for e in finding.evidence
        ],
    }


def _servers(analysis: Analysis) -> list[dict[str, Any]]:
    rows = []
    for address, view in sorted(analysis.addresses.items()):
        total = sum(view.by_behaviour.values())
        behaviours = []
        for key, count in sorted(view.by_behaviour.items(), key=lambda item: (-item[1], item[0])):
            behaviour = analysis.behaviour(key)
            aa_rd, aa_nord = behaviour.aa_share(True), behaviour.aa_share(False)
            behaviours.append({
                "backend": behaviour.backend, "nsid": behaviour.nsid, "flavour": behaviour.flavour,
                "detail": behaviour.detail, "description": behaviour.describe(), "replies": count,
                "share": round(count / total, 4) if total else 0.0,
                "aa_rd": None if aa_rd is None else round(aa_rd, 4),
                "aa_nord": None if aa_nord is None else round(aa_nord, 4),
                "ttl_countdown": counts_down(behaviour, address) is not None,
            })
        rows.append({
            "address": address, "names": list(view.servers), "tries": view.tries, "lost": view.lost,
            "answered": view.answered, "unknown": view.unknown, "not_sent": view.skipped,
            "tcp": None if view.tcp is None else view.tcp.reply is not None,
            "nsid": view.nsid_seen, "behaviours": behaviours,
        })
    return rows


def _delivery(delivery: Delivery) -> dict[str, Any]:
    target = delivery.delivered_to
    return {
        "mta": delivery.mta, "outcome": delivery.outcome.value, "dsn": delivery.dsn, "reason": delivery.reason,
        "route": delivery.route.kind.value,
        "delivered_to": None if target is None else {"host": target.host, "address": target.address, "mx": target.mx},
        "attempts": [{"host": a.host, "address": a.address, "result": a.result.value} for a in delivery.attempts],
        "questions": [f"{name_text(a.qname)} {dns.rdatatype.to_text(a.qtype)}" for a in delivery.dns],
    }


def _path(path: PathResult) -> dict[str, Any]:
    group = path.group
    return {
        "group": group.key, "flavour": group.flavour, "share": round(group.share, 4),
        "backends": group.backends(), "description": group.behaviours[0].describe(),
        "unknown": None if path.unknown is None else path.unknown.why,
        "deliveries": [_delivery(d) for d in path.deliveries],
    }


def data(result: CheckResult) -> dict[str, Any]:
    delegation = result.delegation
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "check",
        "summary": result.summary,
        "status": "unknown" if result.unmeasured else "measured",
        "domain": result.domain,
        "zone": result.zone,
        "exit_code": int(result.exit_code),
        "fail_on": result.fail_on.label,
        "seed": result.seed,
        "samples": result.samples,
        "mtas": list(result.mtas),
        "delegation": {
            "parent": None if delegation.parent is None else name_text(delegation.parent),
            "parent_ns": [name_text(n) for n in delegation.parent_ns],
            "glue": [[name_text(n), a] for n, a in delegation.glue],
            "nxdomain": delegation.nxdomain,
            "unknown": delegation.unknown,
        },
        "ns_without_address": [name_text(n) for n in result.ns_without_address],
        "servers": _servers(result.analysis) if result.analysis is not None else [],
        "paths": [_path(p) for p in result.paths],
        "smtp_probed": result.smtp_probed,
        "smtp": [
            {"address": p.address, "host": p.host, "state": p.state, "detail": p.detail,
             "starttls": p.session.starttls_offered, "tls": p.session.tls_version,
             "starttls_refused": p.session.starttls_refused.line if p.session.starttls_refused else None,
             "tls_error": p.session.tls_error}
            for p in result.probes
        ],
        "findings": [finding_json(f) for f in result.findings],
        "unknown": list(result.unknown),
        "unmeasured": list(result.unmeasured),
        "queries": result.queries,
    }


def render(result: CheckResult) -> str:
    return json.dumps(data(result), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
