"""`mxsim trace` as text: what each MTA asked, what came back and from whom, what it did."""

from __future__ import annotations

import dns.rcode
import dns.rdatatype

from mxsim.commands.trace import TraceResult
from mxsim.mta.results import AttemptResult, Delivery, Outcome
from mxsim.mta.stub import StubAnswer
from mxsim.mta.verdict import verdict_of
from mxsim.units import format_duration


def _answer_summary(answer: StubAnswer) -> str:
    if answer.response is None:
        return "no answer (timeout)"
    rcode = dns.rcode.to_text(answer.rcode) if answer.rcode is not None else "?"
    records = []
    for rrset in answer.response.answer:
        for rdata in rrset:
            records.append(f"{rrset.name.to_text(omit_final_dot=True)} {dns.rdatatype.to_text(rrset.rdtype)} "
                           f"{rdata.to_text()}")
    if not records:
        return f"{rcode}, no records" if rcode != "NOERROR" else "NOERROR, no records (NODATA)"
    return f"{rcode}: " + "; ".join(records)


def _evidence(answer: StubAnswer) -> list[str]:
    lines = []
    for resolved in answer.resolved:
        if resolved.from_cache:
            lines.append("from the resolver's cache")  # no authoritative server was asked
        for u in resolved.upstream:
            server = u.server.to_text(omit_final_dot=True) if u.server else "?"
            backend = f" backend {u.backend}" if u.backend else ""
            nsid = f" nsid {u.nsid}" if u.nsid and u.nsid != u.backend else ""
            if u.error is not None:
                got = u.error.value
            else:
                rcode = dns.rcode.to_text(u.rcode) if u.rcode is not None else "?"
                got = f"{rcode}{' aa' if u.aa else ''}"
                if u.answer:
                    got += f", {len(u.answer)} answer RR"
                elif any(" NS " in line for line in u.authority) and not u.aa:
                    got += ", referral"
            lines.append(f"{u.qname.to_text(omit_final_dot=True)}/{dns.rdatatype.to_text(u.qtype)} "
                         f"@{server} [{u.address}]{backend}{nsid}: {got}")
    return lines


def render_delivery(delivery: Delivery, *, verbose: bool) -> list[str]:
    out = [f"== {delivery.mta_version}"]
    out.append(f"recipient {delivery.recipient}")
    if delivery.envelope_recipient != delivery.recipient:
        out.append(f"  rewritten to {delivery.envelope_recipient} (RCPT TO)")
    out.append("DNS questions, in the order the MTA asked them:")
    for number, answer in enumerate(delivery.dns, start=1):
        question = f"{answer.qname.to_text(omit_final_dot=True)} {dns.rdatatype.to_text(answer.qtype)}"
        out.append(f"  {number:>2}. {question:<42} -> {_answer_summary(answer)}")
        evidence = _evidence(answer)
        # Without --verbose: the farm members that answered, and the server that gave the data.
        shown = evidence if verbose else [e for e in evidence if "backend" in e] or evidence[-1:]
        out.extend(f"        {'' if line.startswith('from') else 'via '}{line}" for line in shown)
    route = delivery.route
    out.append(f"route: {route.kind.value} for {route.domain}")
    for note in route.notes:
        out.append(f"  {note}")
    if delivery.attempts:
        out.append("hosts tried, in order:")
        for attempt in delivery.attempts:
            mark = "ok  " if attempt.result == AttemptResult.ACCEPTED else "FAIL"
            out.append(f"  {mark} {attempt.host} [{attempt.address}]:{attempt.port} {attempt.result.value} "
                       f"after {format_duration(attempt.elapsed)}")
    verdict = {Outcome.DELIVERED: "DELIVERED", Outcome.DEFERRED: "DEFERRED", Outcome.BOUNCED: "BOUNCED"}
    target = delivery.delivered_to
    where = f" to {target.host} [{target.address}]" if target else ""
    out.append(f"outcome: {verdict[delivery.outcome]}{where}, dsn {delivery.dsn}, "
               f"after {format_duration(delivery.elapsed)}")
    if delivery.outcome != Outcome.DELIVERED:
        out.append(f"  reason: {delivery.reason}")
    out.append("log:")
    out.extend(f"  {line}" for line in delivery.log)
    if delivery.bounce:
        bounced = delivery.outcome == Outcome.BOUNCED
        heading = "bounce now:" if bounced else "bounce, if this lasts until the queue gives up:"
        out.append(heading)
        out.extend(f"  {line}" for line in delivery.bounce.splitlines())
    return out


def verdict_lines(result: TraceResult) -> list[str]:
    """One line per MTA: outcome, DSN, and where mail went or failed."""
    return [verdict_of(delivery).line() for delivery in result.deliveries]


def render(result: TraceResult, *, verbose: bool = False, quiet: bool = False) -> str:
    if quiet:
        return "\n".join(verdict_lines(result)) + "\n"
    pins = ", ".join(f"{server}={backend}" for server, backend in result.pins) or "none (drawn with the seed)"
    lines = [*verdict_lines(result), "", f"scenario {result.scenario}, seed {result.seed}, pinned backends: {pins}", ""]
    for delivery in result.deliveries:
        lines.extend(render_delivery(delivery, verbose=verbose))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
