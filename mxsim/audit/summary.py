"""The one-line summary of a check: where mail to the domain goes, for what share of lookups,
and, for a path that fails, which backend on which server sends it there (pure)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from mxsim.audit.behaviour import Analysis, Flavour, PathGroup, name_text
from mxsim.audit.catalog import Level
from mxsim.audit.finding import Finding, pct
from mxsim.mta.results import Delivery, Outcome, Target


def _fraction(shares: list[float]) -> Callable[[float, bool], str]:
    """`2 of 3 lookups (64%)` when every share is close to a small fraction, else a percentage;
    the second argument says whether to name the unit (the first share of the line does)."""
    for denominator in range(1, 7):
        if all(abs(s * denominator - round(s * denominator)) <= 0.05 * denominator for s in shares):
            def text(share: float, lead: bool, n: int = denominator) -> str:
                k = round(share * n)
                if k == n:
                    return "every lookup"
                return f"{k} of {n}{' lookups' if lead else ''} ({pct(share)})"
            return text
    return lambda share, lead: f"{pct(share)}{' of lookups' if lead else ''}"


def _host(target: Target, named: Mapping[str, set[str]]) -> str:
    """The host an address belongs to, as its address records name it: the same for every MTA
    (each labels it its own way: Postfix by the domain of an implicit MX, Exim by the name it
    re-routed to, Sendmail by the canonical name)."""
    owners = named.get(target.address)
    return min(owners) if owners else target.mx


def _path_phrase(deliveries: tuple[Delivery, ...], smtp: bool, named: Mapping[str, set[str]]) -> str:
    delivered = {_host(d.delivered_to, named) for d in deliveries if d.delivered_to is not None}
    failed = [d for d in deliveries if d.outcome != Outcome.DELIVERED]
    if not failed and len(delivered) == 1:
        host = next(iter(delivered))
        return f"reaches {host}" if smtp else f"would go to {host}"
    if failed and not delivered:
        attempts = [d.attempts[-1] for d in failed if d.attempts]
        if attempts:
            results = sorted({a.result.value for a in attempts})
            word = "times out" if results == ["timeout"] else "fails (" + ", ".join(results) + ")"
            hosts = sorted({n for d in failed for t in d.route.targets for n in named.get(t.address, {t.mx})})
            return f"{word} at {', '.join(hosts[:2])}"
        return f"{failed[0].outcome.value}: {failed[0].reason}"
    per = "; ".join(f"{d.mta}: " + (f"to {_host(d.delivered_to, named)}" if d.delivered_to else d.outcome.value)
                    for d in deliveries)
    return f"depends on the MTA ({per})"


def summary_line(domain: str, paths: Sequence[tuple[PathGroup, tuple[Delivery, ...]]], analysis: Analysis,
                 smtp: bool, findings: tuple[Finding, ...], named: Mapping[str, set[str]]) -> str:
    """The line the user cannot miss: where mail goes, for what share of lookups, and why not.

    `paths`: each behaviour group with its modelled deliveries, largest share first;
    `named`: address -> the host names that own it (for the hosts a path fails at).
    """
    if not paths:
        return f"mail to {domain}: no name server gave a usable answer; no path could be followed"
    fraction = _fraction([group.share for group, _ in paths])
    parts = []
    for index, (group, deliveries) in enumerate(paths):
        phrase = _path_phrase(deliveries, smtp, named)
        share = fraction(group.share, index == 0)
        head = f"mail to {domain} {phrase} for {share}" if index == 0 else f"{share} {phrase}"
        bad = any(d.outcome != Outcome.DELIVERED for d in deliveries) or group.flavour != Flavour.ZONE
        if bad and len(paths) > 1:
            servers = sorted({s for b in group.behaviours for a in b.addresses() for s in analysis.view(a).servers})
            # The NSID's first label names a backend as people say it ("hover01"); evidence keeps it whole.
            backends = sorted({b.nsid.split(".")[0] if b.nsid else b.backend for b in group.behaviours})
            head += f" (backend {', '.join(backends)} on {' and '.join(servers)} {_culprit(group, analysis)})"
        parts.append(head)
    line = "; ".join(parts)
    errors = sum(f.level >= Level.ERROR for f in findings)
    warnings = sum(f.level == Level.WARNING for f in findings)
    if findings:
        line += f" [{len(findings)} findings: {errors} errors, {warnings} warnings]"
    return line


def _culprit(group: PathGroup, analysis: Analysis) -> str:
    behaviour = group.behaviours[0]
    if behaviour.flavour == Flavour.CNAME:
        where = "the apex" if analysis.domain == analysis.zone else name_text(analysis.domain)
        return f"answers {where} with a CNAME"
    return behaviour.describe()
