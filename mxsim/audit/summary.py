"""The one-line summary of a check: where mail to the domain goes, for what share of lookups,
and, for a path that fails, which backend on which server sends it there; for a path that
rests on an answer never obtained, that it is unknown and why (pure)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from mxsim.audit.behaviour import Analysis, Flavour, PathGroup
from mxsim.audit.catalog import Level
from mxsim.audit.finding import Finding, pct
from mxsim.mta.results import Delivery, Outcome, Target
from mxsim.names import text as name_text


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


def summary_line(domain: str, paths: Sequence[tuple[PathGroup, tuple[Delivery, ...], str | None]],
                 analysis: Analysis, smtp: bool, findings: tuple[Finding, ...], named: Mapping[str, set[str]],
                 nothing: str = "") -> str:
    """The line the user cannot miss: where mail goes, for what share of lookups, and why not;
    and for what share it could not be measured, and why.

    `paths`: each behaviour group with its modelled deliveries and, when the path rests on an
    answer never obtained, why (the path is then unknown), largest share first;
    `named`: address -> the host names that own it (for the hosts a path fails at);
    `nothing`: why no behaviour served the zone, when none did.
    """
    if not paths or all(why is not None for _, _, why in paths):
        reasons = "; ".join(dict.fromkeys(why for _, _, why in paths if why)) or nothing or "no reason known"
        what = "no name server gave a usable answer: " if not paths else ""
        defer = " (senders defer and try again)" if paths and _all_defer(paths) else ""
        line = f"mail to {domain}: unknown for every lookup{defer}: {what}{reasons}"
        return line + _tally(findings)
    fraction = _fraction([group.share for group, _, _ in paths])
    parts = []
    for index, (group, deliveries, why) in enumerate(paths):
        share = fraction(group.share, index == 0)
        if why is not None:
            parts.append(f"mail to {domain}: unknown for {share} ({why})" if index == 0 else f"{share} unknown ({why})")
            continue
        phrase = _path_phrase(deliveries, smtp, named)
        head = f"mail to {domain} {phrase} for {share}" if index == 0 else f"{share} {phrase}"
        bad = any(d.outcome != Outcome.DELIVERED for d in deliveries) or group.flavour != Flavour.ZONE
        if bad and len(paths) > 1:
            servers = sorted({s for b in group.behaviours for a in b.addresses() for s in analysis.view(a).servers})
            # The NSID's first label names a backend as people say it ("hover01"); evidence keeps it whole.
            backends = sorted({b.nsid.split(".")[0] if b.nsid else b.backend for b in group.behaviours})
            head += f" (backend {', '.join(backends)} on {' and '.join(servers)} {_culprit(group, analysis)})"
        parts.append(head)
    return "; ".join(parts) + _tally(findings)


def _all_defer(paths: Sequence[tuple[PathGroup, tuple[Delivery, ...], str | None]]) -> bool:
    deliveries = [d for _, found, _ in paths for d in found]
    return bool(deliveries) and all(d.outcome == Outcome.DEFERRED for d in deliveries)


def _tally(findings: tuple[Finding, ...]) -> str:
    if not findings:
        return ""
    errors = sum(f.level >= Level.ERROR for f in findings)
    warnings = sum(f.level == Level.WARNING for f in findings)
    return f" [{len(findings)} findings: {errors} errors, {warnings} warnings]"


def _culprit(group: PathGroup, analysis: Analysis) -> str:
    behaviour = group.behaviours[0]
    if behaviour.flavour == Flavour.CNAME:
        where = "the apex" if analysis.domain == analysis.zone else name_text(analysis.domain)
        return f"answers {where} with a CNAME"
    return behaviour.describe()
