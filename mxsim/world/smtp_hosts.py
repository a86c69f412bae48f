"""Which `hosts` entry governs an address: SMTP behaviour belongs to an address, not a name.

An entry applies to an address when its key is that address, or when its key (a name or
shell pattern, case-insensitive) matches a name that owns an A/AAAA record with that
address, or an alias whose CNAME chain ends at such a name. Entries are tried in file
order, `default` last; with no `default`, unmatched addresses refuse
(docs/scenario-format.md#hosts).
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterable
from fnmatch import fnmatchcase

import dns.name
import dns.rdatatype
import dns.rrset

from mxsim.scenario.spec import HostSpec, SmtpKind

DEFAULT_KEY = "default"
REFUSE_UNMATCHED = HostSpec(key=DEFAULT_KEY, line=0, smtp=SmtpKind.REFUSE)


def _same_address(key: str, address: str) -> bool:
    try:
        return ipaddress.ip_address(key) == ipaddress.ip_address(address)
    except ValueError:
        return False


def _text(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True).lower()


class HostTable:
    """Names per address (owners and aliases), and the entry that governs each address."""

    def __init__(self, hosts: Iterable[HostSpec], records: Iterable[dns.rrset.RRset]) -> None:
        entries = list(hosts)
        self.entries = [e for e in entries if e.key != DEFAULT_KEY]
        defaults = [e for e in entries if e.key == DEFAULT_KEY]
        self.default = defaults[0] if defaults else REFUSE_UNMATCHED
        # The names of each address are worked out on first use: `check` builds a world per
        # behaviour group and may never ask.
        self._records: Iterable[dns.rrset.RRset] | None = records
        self._names: dict[str, tuple[str, ...]] = {}
        self._cache: dict[str, HostSpec] = {}

    @property
    def names(self) -> dict[str, tuple[str, ...]]:
        """Address -> every name that leads to it (owners of its A/AAAA, and their aliases)."""
        if self._records is not None:
            records, self._records = self._records, None
            self._names = _names_by_address(records)
        return self._names

    def behaviour(self, address: str) -> HostSpec:
        cached = self._cache.get(address)
        if cached is not None:
            return cached
        key = str(ipaddress.ip_address(address))
        names = self.names.get(key, ())
        chosen = self.default
        for entry in self.entries:
            pattern = entry.key.lower().rstrip(".")
            if _same_address(entry.key, key) or any(fnmatchcase(n, pattern) for n in names):
                chosen = entry
                break
        self._cache[address] = chosen
        return chosen

    def addresses(self) -> list[str]:
        """Every address some name leads to, plus the addresses written as keys."""
        found = set(self.names)
        for entry in self.entries:
            try:
                found.add(str(ipaddress.ip_address(entry.key)))
            except ValueError:
                continue
        return sorted(found, key=lambda a: (ipaddress.ip_address(a).version, ipaddress.ip_address(a)))


def _names_by_address(records: Iterable[dns.rrset.RRset]) -> dict[str, tuple[str, ...]]:
    owners: dict[str, set[dns.name.Name]] = defaultdict(set)
    aliases_of: dict[dns.name.Name, set[dns.name.Name]] = defaultdict(set)
    for rrset in records:
        if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            for rdata in rrset:
                owners[str(ipaddress.ip_address(rdata.address))].add(rrset.name)
        elif rrset.rdtype == dns.rdatatype.CNAME:
            for rdata in rrset:
                aliases_of[rdata.target].add(rrset.name)
    names_of: dict[str, tuple[str, ...]] = {}
    for address, names in owners.items():
        found = set(names)
        frontier = list(names)
        while frontier:  # walk CNAME edges backwards; `found` stops loops
            for alias in aliases_of.get(frontier.pop(), ()):
                if alias not in found:
                    found.add(alias)
                    frontier.append(alias)
        names_of[address] = tuple(sorted(_text(name) for name in found))
    return names_of
