"""One-to-one map from a world's real-world addresses onto loopback IPv4 addresses.

Name-server addresses land in 127.53.0.0/16, every other SMTP-relevant address in
127.25.0.0/16, each in sorted order, so one scenario always gets the same map. An
address that is both a name server and a mail host keeps its single 127.53 address:
the map is one-to-one, and the SMTP listener joins the DNS one there.

IPv6 choice: a real IPv6 address also maps to a loopback IPv4 address (the lab only
listens on IPv4), and AAAA records are served as the IPv4-mapped form of it,
`::ffff:127.x.y.z`. The record types stay as the scenario wrote them, so the same
questions get the same kinds of answers as in the model, and a dual-stack client
(Linux's default for AF_INET6 sockets) connects through the mapped form to the IPv4
listener. `connectable()` turns such an answer back into a plain IPv4 address for
clients that are not dual-stack.

Inside a network namespace that the lab made (`lab up --netns`), the map can instead be
the identity (`AddressMap.identity`): every server and host listens on its real address,
added to the namespace's `lo`, and answers go out unchanged. That namespace has no
other interface, so real addresses there reach nothing but the lab; this is more
faithful for real MTAs (an MX written as an IP literal, AAAA records as written).
`namespace` names the namespace of such a map, and every user of it checks that it runs
inside that very namespace (`in_namespace`) before it binds or sends.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import dns.message
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.rrset

from mxsim.lab.errors import LabSafetyError
from mxsim.transport.destinations import LOOPBACK, NoDestinationError, OffLimitsError, loopback_only

if TYPE_CHECKING:
    from mxsim.world import World

DNS_NETWORK = "127.53.0.0/16"
SMTP_NETWORK = "127.25.0.0/16"
MAPPED_V6 = ipaddress.IPv6Network("::ffff:0:0/96")


def ensure_loopback(address: str) -> str:
    """`address` as plain IPv4 text if it lies in 127.0.0.0/8 (also `::ffff:127.x.y.z`).

    Every bind and every send of the lab goes through here: that is the safety rule.
    """
    try:
        return loopback_only(address)
    except OffLimitsError as error:
        raise LabSafetyError(error.message) from None


def in_namespace(name: str) -> bool:
    """Whether this process runs inside the named network namespace (`ip netns add NAME`).

    Where either cannot be read the answer is no: the safe side.
    """
    try:
        return os.stat("/proc/self/ns/net").st_ino == os.stat(f"/run/netns/{name}").st_ino
    except OSError:
        return False


def connectable(address: str) -> str:
    """An address from a lab answer (A or AAAA) as the IPv4 address to connect to."""
    return ensure_loopback(address)


def _loopback_network(text: str) -> ipaddress.IPv4Network:
    try:
        network = ipaddress.ip_network(text)
    except ValueError as error:
        raise LabSafetyError(f"not a network: {text!r}") from error
    if not isinstance(network, ipaddress.IPv4Network) or not network.subnet_of(LOOPBACK):
        raise LabSafetyError(f"lab addresses must come from 127.0.0.0/8; refusing {text}")
    return network


def _sort_key(address: str) -> tuple[int, int]:
    ip = ipaddress.ip_address(address)
    return (ip.version, int(ip))


def _allocate(network: ipaddress.IPv4Network, count: int) -> list[str]:
    """`count` addresses from `network`, skipping .0 and .255 so none looks special."""
    found: list[str] = []
    for ip in network.hosts():
        if len(found) == count:
            break
        if int(ip) & 0xFF in (0, 255):
            continue
        found.append(str(ip))
    if len(found) < count:
        raise LabSafetyError(f"{network} has room for {len(found)} lab addresses, {count} needed")
    return found


@dataclass(frozen=True, slots=True)
class MappedAddress:
    real: str
    lab: str
    dns: bool  # a name server listens here
    smtp: bool  # a mail host's behaviour applies here


class UnmappedAddressError(LabSafetyError, NoDestinationError):
    """An answer holds an address the map does not know: serving it could leak traffic."""


class AddressMap:
    """real address <-> loopback address, and the rewriting of address records."""

    def __init__(self, entries: Iterable[MappedAddress], *, namespace: str | None = None) -> None:
        self.entries: tuple[MappedAddress, ...] = tuple(entries)
        self.namespace = namespace  # set: real addresses, served inside this network namespace
        inside_namespace = namespace is not None
        self._lab: dict[str, str] = {}
        self._real: dict[str, str] = {}
        for entry in self.entries:
            real = str(ipaddress.ip_address(entry.real))
            lab = str(ipaddress.ip_address(entry.lab)) if inside_namespace else ensure_loopback(entry.lab)
            if inside_namespace and lab != real:
                raise LabSafetyError(f"a namespace map serves real addresses as they are, not {real} -> {lab}")
            if real in self._lab or lab in self._real:
                raise LabSafetyError(f"the address map is not one-to-one at {real} -> {lab}")
            self._lab[real] = lab
            self._real[lab] = real

    @classmethod
    def build(
        cls,
        world: World,
        *,
        dns_network: str = DNS_NETWORK,
        smtp_network: str = SMTP_NETWORK,
    ) -> AddressMap:
        dns_net = _loopback_network(dns_network)
        smtp_net = _loopback_network(smtp_network)
        if dns_net.overlaps(smtp_net):
            raise LabSafetyError(f"{dns_network} and {smtp_network} overlap")
        servers = {
            str(ipaddress.ip_address(a)) for spec in world.server_specs() for a in spec.addresses
        }
        hosts = {str(ipaddress.ip_address(a)) for a in world.hosts.addresses()}
        dns_side = sorted(servers, key=_sort_key)
        smtp_side = sorted(hosts - servers, key=_sort_key)
        entries = [
            MappedAddress(real, lab, dns=True, smtp=real in hosts)
            for real, lab in zip(dns_side, _allocate(dns_net, len(dns_side)), strict=True)
        ]
        entries += [
            MappedAddress(real, lab, dns=False, smtp=True)
            for real, lab in zip(smtp_side, _allocate(smtp_net, len(smtp_side)), strict=True)
        ]
        return cls(entries)

    @property
    def inside_namespace(self) -> bool:
        return self.namespace is not None

    @classmethod
    def identity(cls, world: World, namespace: str) -> AddressMap:
        """Every address as itself, for a lab inside its own network namespace."""
        servers = {
            str(ipaddress.ip_address(a)) for spec in world.server_specs() for a in spec.addresses
        }
        hosts = {str(ipaddress.ip_address(a)) for a in world.hosts.addresses()}
        entries = [
            MappedAddress(real, real, dns=real in servers, smtp=real in hosts)
            for real in sorted(servers | hosts, key=_sort_key)
        ]
        return cls(entries, namespace=namespace)

    def lab(self, real: str) -> str:
        """The loopback address standing for a real one."""
        try:
            return self._lab[str(ipaddress.ip_address(real))]
        except (KeyError, ValueError) as error:
            raise UnmappedAddressError(f"{real} is not in the lab's address map") from error

    def real(self, lab: str) -> str:
        """The real-world address a loopback address stands for."""
        try:
            if self.inside_namespace:
                return self._real[str(ipaddress.ip_address(lab))]
            return self._real[ensure_loopback(lab)]
        except (KeyError, ValueError) as error:
            raise UnmappedAddressError(f"{lab} is not a lab address") from error

    def bindable(self, lab: str) -> str:
        """`lab` as an address the lab may bind or send to: 127/8, or any inside its namespace."""
        if self.namespace is not None:
            if not in_namespace(self.namespace):
                raise LabSafetyError(
                    f"refusing {lab}: this lab serves real addresses, and this process is not "
                    f"inside its network namespace {self.namespace}"
                )
            return str(ipaddress.ip_address(lab))
        return ensure_loopback(lab)

    def dns_addresses(self) -> list[MappedAddress]:
        return [entry for entry in self.entries if entry.dns]

    def smtp_addresses(self) -> list[MappedAddress]:
        return [entry for entry in self.entries if entry.smtp or entry.dns]

    def rewrite_rdata(self, rdata: dns.rdata.Rdata) -> dns.rdata.Rdata:
        if isinstance(rdata, dns.rdtypes.IN.A.A):
            return dns.rdtypes.IN.A.A(rdata.rdclass, rdata.rdtype, self.lab(rdata.address))
        if isinstance(rdata, dns.rdtypes.IN.AAAA.AAAA):
            address = "::ffff:" + self.lab(rdata.address)
            return dns.rdtypes.IN.AAAA.AAAA(rdata.rdclass, rdata.rdtype, address)
        return rdata

    def rewrite_rrset(self, rrset: dns.rrset.RRset) -> dns.rrset.RRset:
        if rrset.rdtype not in (dns.rdatatype.A, dns.rdatatype.AAAA):
            return rrset
        out = dns.rrset.RRset(rrset.name, rrset.rdclass, rrset.rdtype)
        for rdata in rrset:
            out.add(self.rewrite_rdata(rdata), rrset.ttl)
        out.ttl = rrset.ttl
        return out

    def rewrite_message(self, message: dns.message.Message) -> None:
        """Serve address records as lab addresses, in every section, in place."""
        if self.inside_namespace:
            return
        message.answer = [self.rewrite_rrset(rrset) for rrset in message.answer]
        message.authority = [self.rewrite_rrset(rrset) for rrset in message.authority]
        message.additional = [self.rewrite_rrset(rrset) for rrset in message.additional]

    def real_rdata(self, rdata: dns.rdata.Rdata) -> dns.rdata.Rdata:
        """The inverse of `rewrite_rdata`: a lab answer's address as the world wrote it."""
        if self.inside_namespace:
            return rdata
        if isinstance(rdata, dns.rdtypes.IN.A.A):
            return dns.rdtypes.IN.A.A(rdata.rdclass, rdata.rdtype, self.real(rdata.address))
        if isinstance(rdata, dns.rdtypes.IN.AAAA.AAAA):
            return dns.rdtypes.IN.AAAA.AAAA(rdata.rdclass, rdata.rdtype, self.real(rdata.address))
        return rdata

    def unrewrite_message(self, message: dns.message.Message) -> None:
        """Address records of a lab answer back to real addresses, in every section, in place.

        The wire transport does this so that traces over the lab show the addresses the
        scenario wrote, as the model's do.
        """
        if self.inside_namespace:
            return
        for section in (message.answer, message.authority, message.additional):
            for index, rrset in enumerate(section):
                if rrset.rdtype not in (dns.rdatatype.A, dns.rdatatype.AAAA):
                    continue
                out = dns.rrset.RRset(rrset.name, rrset.rdclass, rrset.rdtype)
                for rdata in rrset:
                    out.add(self.real_rdata(rdata), rrset.ttl)
                out.ttl = rrset.ttl
                section[index] = out

    def to_json(self) -> list[dict[str, object]]:
        return [
            {"real": e.real, "lab": e.lab, "dns": e.dns, "smtp": e.smtp} for e in self.entries
        ]

    @classmethod
    def from_json(cls, rows: Iterable[Mapping[str, object]], *, namespace: str | None = None) -> AddressMap:
        return cls(
            (MappedAddress(str(r["real"]), str(r["lab"]), bool(r["dns"]), bool(r["smtp"])) for r in rows),
            namespace=namespace,
        )
