"""`mxsim check` as text: the summary line first, then servers, paths, hosts and findings.

Pure and seed-stable: everything sorted by address, name or ID; no wall-clock time.
"""

from __future__ import annotations

from mxsim.audit.behaviour import Analysis, Behaviour
from mxsim.audit.checks import counts_down, tls_text
from mxsim.audit.finding import Finding, pct
from mxsim.commands.check import CheckResult
from mxsim.commands.check_paths import PathResult
from mxsim.mta.results import Delivery
from mxsim.names import text as name_text


def _aa(behaviour: Behaviour) -> str:
    rd, nord = behaviour.aa_share(True), behaviour.aa_share(False)

    def word(share: float | None) -> str:
        if share is None:
            return "-"
        return "yes" if share == 1 else ("no" if share == 0 else pct(share))

    return f"AA with RD {word(rd)}, without RD {word(nord)}"


def _servers(result: CheckResult, analysis: Analysis) -> list[str]:
    lines = ["name servers (address, names: replies, lost tries, unknown samples; backends by share of replies):"]
    for address, view in sorted(analysis.addresses.items()):
        tcp = "TCP ok" if view.tcp is None or view.tcp.reply is not None else "no TCP answer"
        lines.append(
            f"  {address} {view.server_text}: {view.answered} replies, {view.lost} of {view.tries} tries lost, "
            f"{view.unknown} samples unknown; {tcp}; NSID {'yes' if view.nsid_seen else 'no'}"
            + (f"; {view.skipped} samples not sent (--budget spent)" if view.skipped else "")
        )
        total = sum(view.by_behaviour.values())
        for key, count in sorted(view.by_behaviour.items(), key=lambda item: (-item[1], item[0])):
            behaviour = analysis.behaviour(key)
            extra = [_aa(behaviour)]
            if counts_down(behaviour, address) is not None:
                extra.append("TTLs count down")
            share = pct(count / total)
            lines.append(f"    {share:>4}  {behaviour.backend}: {behaviour.describe()}; {', '.join(extra)}")
    if result.ns_without_address:
        lines.append("  without an address: " + ", ".join(name_text(n) for n in result.ns_without_address))
    return lines


def delivery_line(delivery: Delivery) -> str:
    if delivery.delivered_to is not None:
        target = delivery.delivered_to
        return f"delivered to {target.host} [{target.address}]"
    tried = ", ".join(f"{a.host} [{a.address}] {a.result.value}" for a in delivery.attempts)
    head = f"{delivery.outcome.value} ({delivery.dsn})"
    return f"{head}: tried {tried}" if tried else f"{head}: {delivery.reason}"


def _paths(paths: tuple[PathResult, ...], smtp: bool) -> list[str]:
    what = "with the probed SMTP behaviour" if smtp else "SMTP not probed (--no-smtp): every host taken to accept"
    lines = [f"delivery paths (the model engine fed with the observed answers, {what}):"]
    for path in paths:
        group = path.group
        lines.append(f"  {group.key} {pct(group.share)} of lookups: {', '.join(group.backends())} "
                     f"{group.behaviours[0].describe()}")
        if path.unknown is not None:
            parting = path.unknown.parting
            tail = f"the MTAs part ways on it ({parting})" if parting else "each MTA as on a failed lookup:"
            lines.append(f"    unknown, as an answer it rests on was never obtained: {path.unknown.why}; {tail}")
        for delivery in path.deliveries:
            lines.append(f"    {delivery.mta:<10} {delivery_line(delivery)}")
    return lines


def _finding(finding: Finding) -> list[str]:
    lines = [f"  {finding.level.label:<8} {finding.id}: {finding.message}  [{finding.spec.rfc}]"]
    for evidence in finding.evidence[:6]:
        parts = [evidence.address]
        if evidence.server:
            parts.append(evidence.server)
        if evidence.backend:
            parts.append(f"backend {evidence.backend}")
        if evidence.query:
            parts.append(evidence.query)
        if evidence.share is not None:
            parts.append(pct(evidence.share))
        text = " · ".join(parts) + (f": {evidence.detail}" if evidence.detail else "")
        lines.append(f"           {text}")
    if len(finding.evidence) > 6:
        lines.append(f"           … and {len(finding.evidence) - 6} more (--format json has them all)")
    return lines


def render(result: CheckResult) -> str:
    lines = [result.summary, ""]
    delegation = result.delegation
    if delegation.parent is not None:
        parent_ns = ", ".join(name_text(n) for n in delegation.parent_ns) or "?"
        lines.append(f"zone {result.zone}: delegated by {name_text(delegation.parent)} to {parent_ns}")
    if result.analysis is not None:
        lines += _servers(result, result.analysis)
    if result.paths:
        lines += _paths(result.paths, result.smtp_probed)
    if result.probes:
        lines.append("SMTP probes (connect, banner, EHLO, STARTTLS, QUIT; never MAIL or DATA):")
        for probe in result.probes:
            tls = tls_text(probe.session)
            lines.append(f"  {probe.address} {probe.host}: {probe.state} ({probe.detail}){'; ' + tls if tls else ''}")
    worst = [f for f in result.findings if f.level >= result.fail_on]
    lines.append(f"findings: {len(result.findings)} ({len(worst)} at or above {result.fail_on.label}):")
    for finding in result.findings:
        lines += _finding(finding)
    if not result.findings:
        lines.append("  none")
    for reason in result.unknown:
        lines.append(f"unknown: {reason}")
    lines.append(f"DNS queries sent: {result.queries}; exit {int(result.exit_code)}")
    return "\n".join(lines) + "\n"

