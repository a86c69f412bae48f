"""Make up what a scenario does not write: the root, TLDs, default servers, glue.

A scenario writes only the part of the world it is about; everything above and around
its zones is filled in here (docs/scenario-format.md#general-rules).

The rules, in order:
- every zone has servers: those of `servers` that list it, else one made-up server per
  NS name the zone's apex writes, else `ns1.<zone>`;
- the root and every TLD under which a zone or a server name lies are made up, unless
  written; a made-up TLD is served by `a.nic.<tld>`, the root by `a.root-servers.net`;
- each zone is delegated from its closest enclosing zone, written or made up (a cut may
  skip levels: `edlio.com` need not exist for `sites.edlio.com` to be delegated);
- a zone that lacks SOA or apex NS gets them; glue goes beside each in-bailiwick NS;
- a server name that lies in no written zone gets its address records in the closest
  enclosing made-up zone, as authoritative data, so resolvers can find it.

Made-up servers take addresses from 100.64.0.0/10 (shared address space: not a host on
the internet), skipping any address the scenario uses; the root keeps its real address.
"""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.NS
import dns.rdtypes.ANY.SOA
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.zone

from mxsim.scenario.spec import ScenarioSpec, ServerSpec, ZoneSpec

ROOT_SERVER = dns.name.from_text("a.root-servers.net.")
ROOT_ADDRESS = "198.41.0.4"
SYNTHETIC_NETWORK = ipaddress.ip_network("100.64.0.0/10")
DELEGATION_TTL = 172800  # what the root and the TLDs use for NS and glue
ROOT_NS_TTL = 518400
DEFAULT_SOA_TIMERS = (7200, 3600, 1209600, 300)  # refresh retry expire minimum


@dataclass(frozen=True, slots=True)
class Delegations:
    """The completed world: every zone with its data, every server with its zones."""

    zones: tuple[ZoneSpec, ...]
    servers: tuple[ServerSpec, ...]
    root_servers: tuple[ServerSpec, ...]


def _address_pool(used: set[str]) -> Iterator[str]:
    for address in SYNTHETIC_NETWORK.hosts():
        text = str(address)
        if text not in used:
            yield text


def _used_addresses(spec: ScenarioSpec) -> set[str]:
    used = {address for server in spec.servers for address in server.addresses}
    for zone_spec in spec.zones:
        for _name, rdataset in zone_spec.zone.iterate_rdatasets():
            if rdataset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                used.update(str(rdata.address) for rdata in rdataset)
    used.add(ROOT_ADDRESS)
    return used


def _apex_ns_names(zone_spec: ZoneSpec) -> list[dns.name.Name]:
    rdataset = zone_spec.zone.get_rdataset(zone_spec.origin, dns.rdatatype.NS)
    if rdataset is None:
        return []
    return [rdata.target for rdata in rdataset]


def _closest_enclosing(name: dns.name.Name, origins: Iterable[dns.name.Name]) -> dns.name.Name:
    best = dns.name.root
    for origin in origins:
        if name.is_subdomain(origin) and len(origin) > len(best):
            best = origin
    return best


def _address_rdataset_type(address: str) -> dns.rdatatype.RdataType:
    return dns.rdatatype.AAAA if ":" in address else dns.rdatatype.A


def _add_address(zone: dns.zone.Zone, name: dns.name.Name, address: str, ttl: int) -> None:
    rdtype = _address_rdataset_type(address)
    rdata_class = dns.rdtypes.IN.AAAA.AAAA if rdtype == dns.rdatatype.AAAA else dns.rdtypes.IN.A.A
    rdataset = zone.find_rdataset(name, rdtype, create=True)
    rdataset.add(rdata_class(dns.rdataclass.IN, rdtype, address), ttl)


def complete(spec: ScenarioSpec, *, copy_zones: bool = True) -> Delegations:
    """The scenario's world with every made-up zone, server, delegation and glue record.

    `copy_zones=False`: the spec's zones are completed in place (a spec made for one world
    and dropped after, as `check` makes one per behaviour group).
    """
    pool = _address_pool(_used_addresses(spec))
    written = {zone_spec.origin: zone_spec for zone_spec in spec.zones}
    servers: dict[dns.name.Name, ServerSpec] = {server.name: server for server in spec.servers}

    # Servers for zones that no `servers` entry lists.
    served = {origin for server in spec.servers for origin in server.zones}
    for origin, zone_spec in written.items():
        if origin in served:
            continue
        names = _apex_ns_names(zone_spec) or [dns.name.from_text("ns1", origin)]
        for ns_name in names:
            existing = servers.get(ns_name)
            if existing is not None:
                servers[ns_name] = replace(existing, zones=(*existing.zones, origin))
            else:
                servers[ns_name] = ServerSpec(
                    name=ns_name, line=zone_spec.line, addresses=(next(pool),),
                    zones=(origin,), synthetic=True,
                )

    # The root and the TLDs that anything lies under.
    needed_tlds: set[dns.name.Name] = set()
    for name in [*written, *servers]:
        if len(name) >= 2:
            needed_tlds.add(name.split(2)[1])
    # Copies: the loaded spec stays as the file says, and a world can be built twice.
    zones: dict[dns.name.Name, dns.zone.Zone] = {
        origin: copy.deepcopy(zone_spec.zone) if copy_zones else zone_spec.zone for origin, zone_spec in written.items()
    }
    made_up: list[dns.name.Name] = []
    if dns.name.root not in written:
        made_up.append(dns.name.root)
        servers[ROOT_SERVER] = ServerSpec(
            name=ROOT_SERVER, line=0, addresses=(ROOT_ADDRESS,), zones=(dns.name.root,),
            synthetic=True,
        )
    for tld in sorted(needed_tlds):
        if tld in written:
            continue
        made_up.append(tld)
        ns_name = dns.name.from_text("a.nic", tld)
        servers[ns_name] = ServerSpec(
            name=ns_name, line=0, addresses=(next(pool),), zones=(tld,), synthetic=True,
        )
    for origin in made_up:
        zones[origin] = dns.zone.Zone(origin, relativize=False)

    servers_of: dict[dns.name.Name, list[ServerSpec]] = {origin: [] for origin in zones}
    for server in sorted(servers.values(), key=lambda s: s.name):
        for origin in server.zones:
            servers_of.setdefault(origin, []).append(server)

    for origin, zone in zones.items():
        _ensure_apex(zone, origin, servers_of[origin], synthetic=origin not in written)

    # Delegations from the closest enclosing zone, with in-bailiwick glue.
    for origin in zones:
        if origin == dns.name.root:
            continue
        parent = _closest_enclosing(origin.parent(), zones)
        parent_zone = zones[parent]
        child_ns = _apex_ns_names_of(zones[origin], origin) or [s.name for s in servers_of[origin]]
        ns_rdataset = parent_zone.find_rdataset(origin, dns.rdatatype.NS, create=True)
        for ns_name in child_ns:
            ns_rdataset.add(
                dns.rdtypes.ANY.NS.NS(dns.rdataclass.IN, dns.rdatatype.NS, ns_name),
                DELEGATION_TTL,
            )
            glue_server = servers.get(ns_name)
            if glue_server is not None and ns_name.is_subdomain(origin):
                for address in glue_server.addresses:
                    _add_missing_address(parent_zone, ns_name, address, DELEGATION_TTL)

    # Server names: address records where a resolver will look for them.
    for server in servers.values():
        home = _closest_enclosing(server.name, zones)
        ttl = DELEGATION_TTL if home not in written else 3600
        for address in server.addresses:
            _add_missing_address(zones[home], server.name, address, ttl)

    zone_specs = tuple(
        replace(written[origin], zone=zones[origin]) if origin in written
        else ZoneSpec(origin=origin, zone=zones[origin], line=0)
        for origin in sorted(zones)
    )
    all_servers = tuple(sorted(servers.values(), key=lambda s: s.name))
    roots = tuple(server for server in all_servers if dns.name.root in server.zones)
    return Delegations(zones=zone_specs, servers=all_servers, root_servers=roots)


def _apex_ns_names_of(zone: dns.zone.Zone, origin: dns.name.Name) -> list[dns.name.Name]:
    rdataset = zone.get_rdataset(origin, dns.rdatatype.NS)
    return [] if rdataset is None else [rdata.target for rdata in rdataset]


def _add_missing_address(zone: dns.zone.Zone, name: dns.name.Name, address: str, ttl: int) -> None:
    """Add an address record unless the name already has records of that type.

    Records the author wrote win over the server's `address`, even when they differ:
    a scenario may be about exactly that mismatch.
    """
    if zone.get_rdataset(name, _address_rdataset_type(address)) is None:
        _add_address(zone, name, address, ttl)


def _ensure_apex(
    zone: dns.zone.Zone, origin: dns.name.Name, servers: list[ServerSpec], *, synthetic: bool
) -> None:
    ns_names = _apex_ns_names_of(zone, origin) or [server.name for server in servers]
    if zone.get_rdataset(origin, dns.rdatatype.NS) is None and ns_names:
        ttl = ROOT_NS_TTL if origin == dns.name.root else DELEGATION_TTL if synthetic else 3600
        rdataset = zone.find_rdataset(origin, dns.rdatatype.NS, create=True)
        for ns_name in ns_names:
            rdataset.add(dns.rdtypes.ANY.NS.NS(dns.rdataclass.IN, dns.rdatatype.NS, ns_name), ttl)
    if zone.get_rdataset(origin, dns.rdatatype.SOA) is None:
        mname = ns_names[0] if ns_names else dns.name.from_text("ns1", origin)
        refresh, retry, expire, minimum = DEFAULT_SOA_TIMERS
        soa = dns.rdtypes.ANY.SOA.SOA(
            dns.rdataclass.IN, dns.rdatatype.SOA, mname,
            dns.name.from_text("hostmaster", origin), 1, refresh, retry, expire, minimum,
        )
        zone.find_rdataset(origin, dns.rdatatype.SOA, create=True).add(soa, 86400 if synthetic else 3600)
