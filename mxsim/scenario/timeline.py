"""`timeline`: how the world changes over time (docs/scenario-format.md#timeline).

Each change has `at` (a duration after the start) and one or more edits, each under a key
that a registered change kind reads and applies: `zones`, `servers`, `hosts` and `mta_sts` here. A
new kind of change (say `mta_sts`) is one `register(key, kind)` call with a `ChangeKind`
that reads its YAML against the scenario as it stands and applies itself to a spec
(docs/architecture.md#timelines).

Changes are read in time order against the scenario as the earlier ones left it, so a
server a change names exists by then or is given whole, and a zone it serves exists by
then. The world at time t is the base scenario with every change up to t applied
(`spec_at`); nothing here does I/O or builds servers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol, TypeVar

import dns.name

from mxsim.scenario.mta_sts import StsSpec, read_mta_sts
from mxsim.scenario.spec import ChangeSpec, HostSpec, ScenarioSpec, ServerSpec, ZoneSpec
from mxsim.scenario.yamlnodes import Entry, Node
from mxsim.units import format_duration

_DEFAULT_HOST = "default"
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Readers:
    """The loader's readers for the sections a change repeats, handed in (the loader imports this module)."""

    zone: Callable[[dns.name.Name, Entry], ZoneSpec]
    server: Callable[[dns.name.Name, Entry, dict[dns.name.Name, ZoneSpec], ServerSpec | None], ServerSpec]
    host: Callable[[Entry], HostSpec]
    duration: Callable[[Node, str], float]
    name: Callable[[str, Entry, str], dns.name.Name]


class ChangeKind(Protocol):
    def read(self, node: Node, state: ScenarioSpec, readers: Readers) -> object:
        """The edit as the file writes it, checked against the scenario as it stands; errors at file:line."""

    def apply(self, state: ScenarioSpec, value: object) -> ScenarioSpec:
        """The scenario with the edit made."""


CHANGE_KINDS: dict[str, ChangeKind] = {}


def register(key: str, kind: ChangeKind) -> None:
    """A new key under `timeline[]`; edits apply in the order kinds were registered."""
    CHANGE_KINDS[key] = kind


def read_timeline(node: Node, base: ScenarioSpec, readers: Readers) -> tuple[ChangeSpec, ...]:
    if node.is_null:
        return ()
    changes: list[ChangeSpec] = []
    state = base
    for item in node.items("a list of changes, each with `at` and what changes (zones, servers, hosts, mta_sts)"):
        change = _change(item, state, readers, changes[-1] if changes else None)
        state = apply_change(state, change)
        changes.append(change)
    return tuple(changes)


def _change(item: Node, state: ScenarioSpec, readers: Readers, previous: ChangeSpec | None) -> ChangeSpec:
    kinds = ", ".join(CHANGE_KINDS)
    mapping = item.mapping(f"a change (`at` and any of {kinds})", ("at", *CHANGE_KINDS))
    at_entry = mapping.get("at")
    if at_entry is None:
        raise item.error("a change needs `at`: when it happens, as a duration after the start such as 1h")
    at = readers.duration(at_entry.value, "`at`")
    if previous is not None and at < previous.at:
        raise at_entry.value.error(
            f"changes must be in time order: this one at {format_duration(at)} follows one at "
            f"{format_duration(previous.at)} (line {previous.line})")
    edits: list[tuple[str, object]] = []
    for key, kind in CHANGE_KINDS.items():
        entry = mapping.get(key)
        if entry is None:
            continue
        value = kind.read(entry.value, state, readers)
        state = kind.apply(state, value)
        edits.append((key, value))
    if not edits:
        raise item.error(f"the change at {format_duration(at)} changes nothing; expected any of: {kinds}")
    return ChangeSpec(at=at, line=item.line, edits=tuple(edits))


def apply_change(spec: ScenarioSpec, change: ChangeSpec) -> ScenarioSpec:
    for key, value in change.edits:
        spec = CHANGE_KINDS[key].apply(spec, value)
    return spec


def spec_at(spec: ScenarioSpec, at: float) -> ScenarioSpec:
    """The scenario as it stands at `at` seconds: every change due by then applied."""
    for change in spec.timeline:
        if change.at > at:
            break
        spec = apply_change(spec, change)
    return spec


def epochs(spec: ScenarioSpec) -> list[tuple[float, ScenarioSpec]]:
    """(start, the scenario from then on) for the start and each change, in time order."""
    found = [(0.0, spec)]
    current = spec
    for change in spec.timeline:
        current = apply_change(current, change)
        if found[-1][0] == change.at:
            found[-1] = (change.at, current)
        else:
            found.append((change.at, current))
    return found


# -- the kinds this module knows -----------------------------------------------------------


class ZoneChange:
    """`zones`: an origin's data replaced whole from then on (or a new zone)."""

    def read(self, node: Node, state: ScenarioSpec, readers: Readers) -> object:
        zones: dict[dns.name.Name, ZoneSpec] = {}
        for entry in node.mapping("`zones` of a change (zone origin -> zone text)"):
            origin = readers.name(entry.key, entry, "zone origin")
            if origin in zones:
                raise entry.error(f"zone {_show(origin)} is changed twice in one change")
            zones[origin] = readers.zone(origin, entry)
        return tuple(zones.values())

    def apply(self, state: ScenarioSpec, value: object) -> ScenarioSpec:
        new = _typed(value, ZoneSpec)
        by_origin = {zone.origin: zone for zone in state.zones}
        by_origin.update((zone.origin, zone) for zone in new)
        return replace(state, zones=tuple(by_origin.values()))


class ServerChange:
    """`servers`: a server's keys replaced (the others kept), or a new server given whole."""

    def read(self, node: Node, state: ScenarioSpec, readers: Readers) -> object:
        origins = {zone.origin: zone for zone in state.zones}
        servers: dict[dns.name.Name, ServerSpec] = {}
        for entry in node.mapping("`servers` of a change (server name -> what changes)"):
            name = readers.name(entry.key, entry, "server name")
            if name in servers:
                raise entry.error(f"server {_show(name)} is changed twice in one change")
            servers[name] = readers.server(name, entry, origins, state.server(name))
        return tuple(servers.values())

    def apply(self, state: ScenarioSpec, value: object) -> ScenarioSpec:
        by_name = {server.name: server for server in state.servers}
        by_name.update((server.name, server) for server in _typed(value, ServerSpec))
        return replace(state, servers=tuple(by_name.values()))


class HostChange:
    """`hosts`: SMTP behaviour by address or pattern, an entry replaced whole or added."""

    def read(self, node: Node, state: ScenarioSpec, readers: Readers) -> object:
        return tuple(readers.host(entry) for entry in node.mapping("`hosts` of a change (address or pattern -> smtp)"))

    def apply(self, state: ScenarioSpec, value: object) -> ScenarioSpec:
        by_key = {host.key: host for host in state.hosts}
        by_key.update((host.key, host) for host in _typed(value, HostSpec))
        # `default` applies after every other entry, as in the base scenario.
        hosts = sorted(by_key.values(), key=lambda host: host.key == _DEFAULT_HOST)
        return replace(state, hosts=tuple(hosts))


class MtaStsChange:
    """`mta_sts`: a policy domain's policy and endpoint replaced whole from then on (or a new domain).

    The `_mta-sts` TXT record that announces a new `id` is a zone's business: change it
    under `zones` in the same change, or leave it as it was (the migration trap).
    """

    def read(self, node: Node, state: ScenarioSpec, readers: Readers) -> object:
        specs = read_mta_sts(node)
        if not specs:
            raise node.error("`mta_sts` of a change: expected policy domains, each with `policy` and `endpoint`")
        return specs

    def apply(self, state: ScenarioSpec, value: object) -> ScenarioSpec:
        by_domain = {spec.domain: spec for spec in state.mta_sts}
        by_domain.update((spec.domain, spec) for spec in _typed(value, StsSpec))
        return replace(state, mta_sts=tuple(by_domain.values()))


def _typed(value: object, kind: type[_T]) -> tuple[_T, ...]:
    assert isinstance(value, tuple) and all(isinstance(item, kind) for item in value)
    return value


def _show(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True) or "."


register("zones", ZoneChange())
register("servers", ServerChange())
register("hosts", HostChange())
register("mta_sts", MtaStsChange())
