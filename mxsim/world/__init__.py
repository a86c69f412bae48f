"""The world a scenario describes: authoritative servers and SMTP hosts. No sockets here.

Both the model transport (in memory) and the lab (on loopback sockets) serve the same
`World`: a DNS query goes in as a `dns.message.Message`, a `Served` comes out.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator, Mapping
from dataclasses import replace

import dns.exception
import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from mxsim.errors import UsageError, shown
from mxsim.rrsets import rrset_of
from mxsim.scenario.spec import HostSpec, ScenarioSpec, ServerSpec
from mxsim.world.authority import AuthoritativeServer, Draw, Served, ZoneData
from mxsim.world.delegation import Delegations, complete
from mxsim.world.smtp_hosts import HostTable

__all__ = ["AuthoritativeServer", "Draw", "Served", "World", "parse_pins"]


def parse_pins(spec: ScenarioSpec, pins: list[str] | None) -> dict[dns.name.Name, str]:
    """`--pin SERVER=BACKEND` or `--pin CASE` (a case of the scenario) -> server -> backend."""
    found: dict[dns.name.Name, str] = {}
    for text in pins or []:
        if "=" not in text:
            case = spec.case(text)
            if case is None:
                known = ", ".join(c.name for c in spec.cases) or "none"
                raise UsageError(
                    f"--pin {text!r}: expected SERVER=BACKEND or the name of a case "
                    f"(cases in {spec.name}: {known})"
                )
            found.update(case.pins)
            continue
        server_text, backend = text.split("=", 1)
        try:
            server_name = dns.name.from_text(server_text.strip())
        except dns.exception.DNSException as error:
            raise UsageError(f"--pin '{shown(text)}': the server name is not a DNS name ({error})") from None
        server = spec.server(server_name)
        if server is None:
            raise UsageError(f"--pin {text!r}: the scenario has no server {server_text!r}")
        names = [b.name for b in server.backends]
        if backend.strip() not in names:
            raise UsageError(
                f"--pin {text!r}: server {server_text} has no backend {backend!r} "
                f"(backends: {', '.join(names) or 'none'})"
            )
        found[server_name] = backend.strip()
    return found


class World:
    """Servers by address, zones completed with made-up delegations, SMTP hosts."""

    def __init__(self, spec: ScenarioSpec, pins: Mapping[dns.name.Name, str] | None = None, *,
                 copy_zones: bool = True) -> None:
        self.spec = spec
        self.pins = dict(pins or {})
        self.delegations: Delegations = complete(spec, copy_zones=copy_zones)
        zone_data = {z.origin: ZoneData(z.origin, z.zone) for z in self.delegations.zones}
        root_ns = self._root_ns()
        self.servers: dict[dns.name.Name, AuthoritativeServer] = {}
        self.by_address: dict[str, AuthoritativeServer] = {}
        for server_spec in self.delegations.servers:
            server = AuthoritativeServer(
                server_spec,
                [zone_data[origin] for origin in server_spec.zones if origin in zone_data],
                root_ns,
                pin=self.pins.get(server_spec.name),
            )
            self.servers[server_spec.name] = server
            for address in server_spec.addresses:
                self.by_address[address] = server
        self.hosts = HostTable(spec.hosts, self._all_records())

    def with_hosts(self, hosts: tuple[HostSpec, ...]) -> World:
        """This world with other SMTP hosts: the DNS side (zones, servers, their caches) shared.

        Sound because nothing a query does changes a server's answers for later queries:
        backends are drawn from the asker's rng and countdowns read the asker's clock."""
        other = copy.copy(self)
        other.spec = replace(self.spec, hosts=hosts)
        other.hosts = HostTable(hosts, self._all_records())
        return other

    def _root_ns(self) -> dns.rrset.RRset:
        roots = self.delegations.root_servers
        rrset = dns.rrset.from_text_list(
            dns.name.root, 518400, dns.rdataclass.IN, dns.rdatatype.NS,
            [server.name.to_text() for server in roots],
        )
        return rrset

    def _all_records(self) -> Iterator[dns.rrset.RRset]:
        for zone_spec in self.delegations.zones:
            for name, rdataset in zone_spec.zone.iterate_rdatasets():
                yield rrset_of(name, rdataset)
        for server in self.spec.servers:
            for backend in server.backends:
                for _owner, rrsets in backend.answer:
                    yield from rrsets

    @property
    def root_hints(self) -> list[tuple[dns.name.Name, str]]:
        return [
            (server.name, address)
            for server in self.delegations.root_servers
            for address in server.addresses
        ]

    def server_specs(self) -> tuple[ServerSpec, ...]:
        return self.delegations.servers

    def query(
        self,
        address: str,
        query: dns.message.Message,
        *,
        tcp: bool = False,
        now: float = 0.0,
        rng: random.Random,
    ) -> Served:
        """Deliver one query to whatever listens at `address` in this world."""
        server = self.by_address.get(address)
        if server is None:
            # Nothing listens there: to the asker this looks like silence.
            return Served(None, 0.0, dns.name.empty, address, None, None)
        return server.handle(query, address=address, tcp=tcp, now=now, rng=rng)

    def smtp(self, address: str) -> HostSpec:
        return self.hosts.behaviour(address)

    def host_names(self, address: str) -> tuple[str, ...]:
        return self.hosts.names.get(address, ())
