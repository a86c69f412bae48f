"""MTA-STS over a scenario's timeline: a policy that changes while its `id` does not.

RFC 8461 section 3.1: the `id` in the `_mta-sts` TXT record "MUST uniquely identify a
given instance of a policy, such that senders can determine when the policy has been
updated". A sender that holds a policy looks at the TXT record, and fetches again only
when the `id` differs (section 5.1; postfix-mta-sts-resolver never fetches again while it
stays the same). So a policy edited without a new `id` stays unseen by every sender that
fetched it before. A live check sees one moment, the record and the policy as they are
now, and cannot tell; a scenario's timeline holds every moment, so the history is read
here: at each change, the policy served against the `id` published then.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import dns.name
import dns.rdatatype

from mxsim.audit.finding import Evidence, Finding, finding
from mxsim.mta.sts import record_id
from mxsim.names import text as name_text
from mxsim.scenario.mta_sts import Endpoint, StsPolicy
from mxsim.scenario.spec import ScenarioSpec
from mxsim.scenario.timeline import epochs
from mxsim.units import format_duration


@dataclass(frozen=True, slots=True)
class _Published:
    """A policy as senders would fetch it at one time, with the `id` the TXT record gave then."""

    at: float
    policy_id: str
    policy: StsPolicy

    @property
    def meaning(self) -> tuple[object, ...]:
        """What a sender acts on: the mode, the set of mx patterns and max_age (not the layout of the text)."""
        return (self.policy.mode, frozenset(self.policy.mx), self.policy.max_age)

    def summary(self) -> str:
        return f"mode {self.policy.mode}, mx {', '.join(self.policy.mx) or '-'}, max_age {self.policy.max_age}"


def sts_history_findings(spec: ScenarioSpec, domain: dns.name.Name | None = None) -> list[Finding]:
    """STS05 for each time a policy's meaning changes while its `id` stays; `domain`: only that one."""
    found: list[Finding] = []
    last: dict[dns.name.Name, _Published] = {}
    for published_domain, now in _published(spec):
        if domain is not None and published_domain != domain:
            continue
        before = last.get(published_domain)
        if before is not None and before.meaning == now.meaning and before.policy_id == now.policy_id:
            continue  # the same policy under the same id: `since` stays when it was first published
        last[published_domain] = now
        if before is None or before.policy_id != now.policy_id:
            continue
        shown = name_text(published_domain)
        evidence = [Evidence("-", f"_mta-sts.{shown}", query=f"timeline at {_when(now.at)}",
                             detail=f"id={now.policy_id}; before: {before.summary()}; after: {now.summary()}")]
        found.append(finding("STS05_ID_UNCHANGED", evidence, domain=shown, policy_id=now.policy_id,
                             at=_when(now.at), since=_when(before.at)))
    return found


def _published(spec: ScenarioSpec) -> Iterator[tuple[dns.name.Name, _Published]]:
    """Each policy domain's served policy and published `id` at the start and at each change."""
    for at, state in epochs(spec):
        for sts in state.mta_sts:
            if sts.endpoint != Endpoint.SERVE or sts.policy is None:
                continue  # nothing fetched: a sender keeps what it had, and nothing new is learnt
            policy_id = _record_id(state, dns.name.Name((b"_mta-sts", *sts.domain.labels)))
            if policy_id is not None:
                yield sts.domain, _Published(at, policy_id, sts.policy)


def _record_id(state: ScenarioSpec, owner: dns.name.Name) -> str | None:
    """The `id` of the `v=STSv1` TXT record at `owner` in the deepest zone holding it, if any."""
    zones = [zone for zone in state.zones if owner.is_subdomain(zone.origin)]
    if not zones:
        return None
    zone = max(zones, key=lambda zone: len(zone.origin.labels))
    rdataset = zone.zone.get_rdataset(owner, dns.rdatatype.TXT)
    if rdataset is None:
        return None
    return record_id(b"".join(rdata.strings).decode("ascii", "replace") for rdata in rdataset)


def _when(at: float) -> str:
    return "the start" if at == 0 else format_duration(at)
