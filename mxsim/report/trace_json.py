"""`mxsim trace --format json`: one object, whatever the number of MTAs.

Its JSON Schema is mxsim/schemas/trace.schema.json.
"""

from __future__ import annotations

import json
from typing import Any

import dns.rcode
import dns.rdatatype

from mxsim.commands.trace import TraceResult
from mxsim.mta.results import Delivery
from mxsim.mta.stub import StubAnswer
from mxsim.mta.verdict import verdict_of

SCHEMA_VERSION = 1


def _answer_lines(answer: StubAnswer) -> list[str]:
    if answer.response is None:
        return []
    reply = answer.response
    return [
        f"{rrset.name} {reply.served_ttl(rrset)} IN {dns.rdatatype.to_text(rrset.rdtype)} {rdata.to_text()}"
        for rrset in reply.answer
        for rdata in rrset
    ]


def _question(answer: StubAnswer) -> dict[str, Any]:
    upstream = [
        {
            "server": u.server.to_text(omit_final_dot=True) if u.server else None,
            "address": u.address,
            "backend": u.backend,
            "nsid": u.nsid,
            "qname": u.qname.to_text(),
            "qtype": dns.rdatatype.to_text(u.qtype),
            "rcode": dns.rcode.to_text(u.rcode) if u.rcode is not None else None,
            "aa": u.aa,
            "error": u.error.value if u.error else None,
            "answer": list(u.answer),
        }
        for resolved in answer.resolved
        for u in resolved.upstream
    ]
    return {
        "qname": answer.qname.to_text(),
        "qtype": dns.rdatatype.to_text(answer.qtype),
        "rcode": dns.rcode.to_text(answer.rcode) if answer.rcode is not None else "TIMEOUT",
        "status": answer.status.value,
        "answer": _answer_lines(answer),
        "at_s": round(answer.at, 3),
        "upstream": upstream,
    }


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    target = delivery.delivered_to
    return {
        "mta": delivery.mta,
        "mta_version": delivery.mta_version,
        "recipient": delivery.recipient,
        "envelope_recipient": delivery.envelope_recipient,
        "route": {
            "kind": delivery.route.kind.value,
            "domain": delivery.route.domain,
            "targets": [
                {"host": t.host, "address": t.address, "preference": t.preference, "mx": t.mx}
                for t in delivery.route.targets
            ],
            "notes": list(delivery.route.notes),
        },
        "dns": [_question(answer) for answer in delivery.dns],
        "attempts": [
            {
                "host": a.host, "address": a.address, "port": a.port, "result": a.result.value,
                "at_s": round(a.at, 3), "elapsed_s": round(a.elapsed, 3), "reply": a.reply, "reason": a.reason,
            }
            for a in delivery.attempts
        ],
        "outcome": delivery.outcome.value,
        "dsn": delivery.dsn,
        "reason": delivery.reason,
        "log": list(delivery.log),
        "bounce": delivery.bounce or None,
        "delivered_to": {"host": target.host, "address": target.address} if target else None,
        "elapsed_s": round(delivery.elapsed, 3),
        "verdict": verdict_of(delivery).to_json(),
    }


def render(result: TraceResult) -> str:
    payload = {
        "schema_version": SCHEMA_VERSION,
        "kind": "trace",
        "scenario": result.scenario,
        "seed": result.seed,
        "pins": dict(result.pins),
        "mtas": [delivery_json(d) for d in result.deliveries],
    }
    return json.dumps(payload, indent=2, sort_keys=False) + "\n"
