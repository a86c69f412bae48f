"""`replay --what-if ttl=300`: the same scenario with the recipient domain's MX TTL changed.

The variant replays beside the original, so the advice "lower the MX TTL to T at least
the old TTL before the change" comes with its evidence: with warm caches, the variant's
caches hold the MX for at most T when the change comes, which is the state a TTL
lowered long enough before leaves.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import dns.name
import dns.rdatatype

from mxsim.errors import UsageError
from mxsim.scenario.spec import ChangeSpec, ScenarioSpec, ZoneSpec
from mxsim.units import format_duration, parse_duration


def parse_what_if(text: str) -> int:
    """`ttl=300` (or ttl=5m) -> 300."""
    name, sep, value = text.partition("=")
    if name.strip() != "ttl" or not sep:
        raise UsageError(f"--what-if {text!r}: expected ttl=SECONDS, e.g. ttl=300")
    try:
        seconds = parse_duration(value.strip())
    except ValueError as error:
        raise UsageError(f"--what-if {text!r}: {error}") from None
    if seconds < 1:
        raise UsageError(f"--what-if {text!r}: a TTL of at least 1 s")
    return int(seconds)


def with_mx_ttl(spec: ScenarioSpec, domain: str, ttl: int) -> ScenarioSpec:
    """The scenario with every MX set of `domain` (in the base zones and the timeline's) at `ttl`."""
    name = dns.name.from_text(domain)
    timeline = tuple(_change(change, name, ttl) for change in spec.timeline)
    return replace(spec, name=f"{spec.name} (what-if ttl={format_duration(ttl)})",
                   zones=tuple(_zone(zone, name, ttl) for zone in spec.zones), timeline=timeline)


def _change(change: ChangeSpec, name: dns.name.Name, ttl: int) -> ChangeSpec:
    edits = tuple((key, tuple(_zone(zone, name, ttl) for zone in value) if key == "zones" and isinstance(value, tuple)
                   else value) for key, value in change.edits)
    return replace(change, edits=edits)


def _zone(zone: ZoneSpec, name: dns.name.Name, ttl: int) -> ZoneSpec:
    if not name.is_subdomain(zone.origin) or zone.zone.get_rdataset(name, dns.rdatatype.MX) is None:
        return zone
    data = copy.deepcopy(zone.zone)
    rdataset = data.find_rdataset(name, dns.rdatatype.MX)
    rdataset.update_ttl(ttl)
    rdataset.ttl = ttl
    return replace(zone, zone=data)
