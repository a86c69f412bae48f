"""A scenario as frozen values: what docs/scenario-format.md (format version 1) describes.

The loader (`mxsim.scenario.load`) builds these from YAML and checks them; the world
(`mxsim.world`) builds servers and SMTP hosts from them. Every value that came from a
file remembers its line, so later checks can still point at it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import dns.name
import dns.rcode
import dns.rrset
import dns.zone

from mxsim.scenario.mta_sts import StsSpec
from mxsim.scenario.resolver_kinds import PopulationSpec
from mxsim.scenario.server_choice import ServerChoice as ServerChoice  # re-exported: part of the format


class SmtpKind(StrEnum):
    """What a host does when an MTA connects to port 25 (`smtp` in docs/scenario-format.md#hosts)."""

    ACCEPT = "accept"  # greets with 220, accepts EHLO
    DROP = "drop"  # SYNs unanswered: connect timeout
    REFUSE = "refuse"  # RST: connection refused
    TARPIT = "tarpit"  # connects, never greets
    REJECT = "reject"  # 5xx greeting (code/text settable)
    TEMPFAIL = "tempfail"  # 4xx greeting (code/text settable)
    SLOW = "slow"  # greets after `delay`


class TlsMode(StrEnum):
    """What a host that offers STARTTLS does with it (addition: `hosts` key `tls`)."""

    REFUSE = "refuse"  # 454 4.7.0: senders go on in plain text (the lab's default)
    HANDSHAKE = "handshake"  # 220, then a real TLS handshake (a self-signed certificate)


class AuthorityMode(StrEnum):
    """What a backend puts in the authority section."""

    NORMAL = "normal"  # NS or SOA of the zone, as a correct server does
    ROOT_REFERRAL = "root-referral"  # the root NS set, as the 2017 farm did
    EMPTY = "empty"


class TtlMode(StrEnum):
    FIXED = "fixed"
    COUNTDOWN = "countdown"  # TTLs decrease like a cache's


@dataclass(frozen=True, slots=True)
class AaSpec:
    """The AA flag a backend sets, by whether the query had RD set."""

    rd: bool = True
    nord: bool = True


@dataclass(frozen=True, slots=True)
class BackendSpec:
    """One member of a farm behind a server's addresses; one is drawn per query."""

    name: str
    line: int
    weight: float = 1.0
    nsid: str | None = None
    # owner name -> the RRsets this backend answers for that name, whatever type is
    # asked, in file order (a CNAME chain keeps its order). Names are absolute.
    answer: tuple[tuple[dns.name.Name, tuple[dns.rrset.RRset, ...]], ...] = ()
    aa: AaSpec = AaSpec()
    authority: AuthorityMode = AuthorityMode.NORMAL
    ttl: TtlMode = TtlMode.FIXED
    rcode: dns.rcode.Rcode | None = None  # answer every query with this rcode, empty
    drop: float = 0.0  # share of queries never answered, 0..1
    delay: float = 0.0  # seconds before the answer leaves
    tcp: bool = True  # False: TCP connections are refused
    edns: bool = True  # False: FORMERR to queries that carry an OPT record

    def answer_for(self, name: dns.name.Name) -> tuple[dns.rrset.RRset, ...] | None:
        for owner, rrsets in self.answer:
            if owner == name:
                return rrsets
        return None


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """An authoritative name server: a name, its addresses, the zones it serves."""

    name: dns.name.Name  # absolute
    line: int
    addresses: tuple[str, ...]  # IPv4/IPv6 text, validated
    zones: tuple[dns.name.Name, ...]  # absolute origins; each is in ScenarioSpec.zones
    backends: tuple[BackendSpec, ...] = ()  # empty: one correct server
    nsid: str | None = None  # addition: NSID of a server that has no farm
    synthetic: bool = False  # made up by the world (root, TLD, default server)


@dataclass(frozen=True, slots=True)
class ZoneSpec:
    """A zone's data, parsed. `line` is where the zone's key stands in the scenario."""

    origin: dns.name.Name  # absolute
    zone: dns.zone.Zone  # relativize=False: every name in it is absolute
    line: int
    file: str | None = None  # the zone file, when the data came from `file:`


@dataclass(frozen=True, slots=True)
class HostSpec:
    """SMTP behaviour for the addresses that `key` matches (docs/scenario-format.md#hosts)."""

    key: str  # an address, a name, a shell pattern, or "default"
    line: int
    smtp: SmtpKind = SmtpKind.ACCEPT
    banner: str | None = None  # the whole greeting line for accept/slow, e.g. "220 mx ESMTP"
    code: int | None = None  # reply code for reject (5xx) / tempfail (4xx)
    text: str | None = None  # reply text for reject / tempfail
    delay: float = 0.0  # seconds before the greeting (slow), before closing (tarpit; 0: never)
    starttls: bool = True  # addition: whether EHLO offers STARTTLS
    tls: TlsMode = TlsMode.REFUSE  # addition: what STARTTLS then does


@dataclass(frozen=True, slots=True)
class ResolverSpec:
    cache: bool = True
    server_choice: ServerChoice = ServerChoice.RANDOM
    warm: bool | None = None  # None: warm exactly when the scenario has a timeline (docs/scenario-format.md#resolver)
    population: tuple[PopulationSpec, ...] = ()  # empty: `--resolvers N` caches of one kind

    def starts_warm(self, has_timeline: bool) -> bool:
        return has_timeline if self.warm is None else self.warm


@dataclass(frozen=True, slots=True)
class ExpectSpec:
    deliver_to: tuple[str, ...] = ()  # host names or shell patterns
    min_success: float | None = None
    max_delay: float | None = None  # seconds


@dataclass(frozen=True, slots=True)
class CaseSpec:
    """Addition: a named set of farm pins (server name -> backend name), e.g. `broken`."""

    name: str
    line: int
    pins: tuple[tuple[dns.name.Name, str], ...]
    description: str = ""


@dataclass(frozen=True, slots=True)
class ChangeSpec:
    """Addition: one entry of `timeline`; from `at` seconds on, its edits hold.

    Each edit is (key, value) as the change kind registered for that key read it
    (`mxsim.scenario.timeline`), in file order."""

    at: float
    line: int
    edits: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True, slots=True)
class ScenarioSpec:
    name: str
    source: str  # the file it came from (for messages)
    version: int = 1
    description: str = ""
    recipient: str | None = None
    expect: ExpectSpec = ExpectSpec()
    zones: tuple[ZoneSpec, ...] = ()
    servers: tuple[ServerSpec, ...] = ()
    hosts: tuple[HostSpec, ...] = ()
    resolver: ResolverSpec = ResolverSpec()
    mta: tuple[str, ...] = ("postfix", "exim", "opensmtpd", "sendmail", "rfc5321")
    cases: tuple[CaseSpec, ...] = ()
    timeline: tuple[ChangeSpec, ...] = ()  # addition: changes over time, in time order
    mta_sts: tuple[StsSpec, ...] = ()  # addition: MTA-STS policies and their endpoints
    lines: dict[str, int] = field(default_factory=dict, compare=False)  # top key -> line

    def zone(self, origin: dns.name.Name) -> ZoneSpec | None:
        for spec in self.zones:
            if spec.origin == origin:
                return spec
        return None

    def server(self, name: dns.name.Name) -> ServerSpec | None:
        for spec in self.servers:
            if spec.name == name:
                return spec
        return None

    def case(self, name: str) -> CaseSpec | None:
        for spec in self.cases:
            if spec.name == name:
                return spec
        return None
