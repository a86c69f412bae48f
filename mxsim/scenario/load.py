"""Scenario files (docs/scenario-format.md, format version 1) -> a checked, frozen `ScenarioSpec`.

Every problem is a `ScenarioError` with the file and line it is about, and unknown keys
get a "did you mean" hint, because a scenario is written by hand and run in CI where a
silently ignored typo would make a gate pass for the wrong reason.

The loader only checks and converts what the file says. Delegations, glue and default
servers that a scenario leaves out are the world's business (`mxsim.world`).

Decisions the contract leaves open:

- `answer` lines that give no TTL get 900 seconds. Names in `answer` text are absolute
  whether or not they end with a dot (a server may serve several zones, so there is no
  single origin to make them relative to); `@` is the root.
- Zone text is read like a master file with the zone's origin. When it gives no TTL
  that dnspython can use (no `$TTL`, no earlier TTL, no SOA), it is read as if it began
  with `$TTL 900`.
- A zone's `file:` is a path inside the scenario's own folder (scenario files come from
  other people, and a zone file's lines are quoted in errors); the limits on sizes and
  counts are in `mxsim.scenario.limits`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import replace
from difflib import get_close_matches
from enum import StrEnum
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath
from typing import TypeVar

import dns.exception
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.zone

from mxsim.errors import MESSAGE_LIMIT, ScenarioError, shown
from mxsim.recipients import recipient_problem
from mxsim.scenario.limits import (
    MAX_FILE_BYTES,
)
from mxsim.scenario.mta_sts import read_mta_sts
from mxsim.scenario.population import read_population
from mxsim.scenario.spec import (
    AaSpec,
    AuthorityMode,
    BackendSpec,
    CaseSpec,
    ExpectSpec,
    HostSpec,
    ResolverSpec,
    ScenarioSpec,
    ServerChoice,
    ServerSpec,
    SmtpKind,
    TlsMode,
    TtlMode,
    ZoneSpec,
)
from mxsim.scenario.timeline import Readers, read_timeline
from mxsim.scenario.yamlnodes import Entry, Mapping, Node, did_you_mean, parse_document
from mxsim.scenario.zonetext import (
    DnsTextError,
    RecordBudget,
    oversized,
    read_answer,
    read_zone,
    zone_rrsets,
)
from mxsim.units import parse_duration, parse_probability

SUPPORTED_VERSIONS = (1,)
MTA_PROFILES = ("postfix", "exim", "opensmtpd", "sendmail", "rfc5321")
# Profiles a scenario may list beyond the default set: they model a sender's option (MTA-STS).
MTA_CHOICES = (*MTA_PROFILES, "postfix-sts")
DEFAULT_REJECT_CODE = 554
DEFAULT_TEMPFAIL_CODE = 421

_TOP_KEYS = (
    "mxsim",
    "name",
    "description",
    "recipient",
    "expect",
    "zones",
    "servers",
    "hosts",
    "resolver",
    "mta",
    "cases",
    "timeline",
    "mta_sts",
)
_EXPECT_KEYS = ("deliver_to", "min_success", "max_delay")
_ZONE_FILE_KEYS = ("file",)
_SERVER_KEYS = ("address", "zones", "nsid", "backends")
_BACKEND_KEYS = (
    "weight",
    "nsid",
    "answer",
    "aa",
    "authority",
    "ttl",
    "rcode",
    "drop",
    "delay",
    "tcp",
    "edns",
)
_AA_KEYS = ("rd", "nord")
_HOST_KEYS = ("smtp", "banner", "code", "text", "delay", "starttls", "tls")
_RESOLVER_KEYS = ("cache", "server_choice", "warm", "population")
_CASE_KEYS = ("description", "pin")

_DEFAULT_HOST = "default"
_BUNDLED_SUFFIX = ".yaml"
# Shell patterns and host names: letters, digits, the glob characters and name punctuation.
_HOST_PATTERN = re.compile(r"^[A-Za-z0-9_.*?!\[\]-]+$")
# No control characters: the recipient goes on MTAs' command lines and into their logs.
_TOO_BIG = f"{{what}} is larger than {MAX_FILE_BYTES >> 20} MiB, the most a scenario or zone file may hold"
# Names the world makes up under a zone's origin when the zone has no SOA or no NS.
_MADE_UP = (("hostmaster", dns.rdatatype.SOA), ("ns1", dns.rdatatype.NS))

_E = TypeVar("_E", bound=StrEnum)
_T = TypeVar("_T")


# -- entry points -------------------------------------------------------------------------


def load_scenario(source: str | Path) -> ScenarioSpec:
    """Load a scenario from a .yaml path, or by the name of a bundled scenario."""
    path = Path(source)
    if isinstance(source, str) and not path.is_file() and _is_plain_name(source):
        return _load_bundled(source)
    try:
        text = read_limited(path)
    except FileNotFoundError:
        raise ScenarioError(_not_found(str(source)), file=str(source), line=None) from None
    except FileTooBig:
        raise ScenarioError(_TOO_BIG.format(what="the scenario"), file=str(path), line=None) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read the scenario: {exc}", file=str(path), line=None) from None
    return _load(text, str(path), path.parent, path.stem)


def load_scenario_text(
    text: str, file: str = "<string>", base_dir: Path | None = None
) -> ScenarioSpec:
    """Load a scenario from YAML text; `file` names it in errors, `base_dir` anchors `file:`."""
    stem = Path(file).stem if not file.startswith("<") else "scenario"
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise ScenarioError(_TOO_BIG.format(what="the scenario"), file=file, line=None)
    return _load(text, file, base_dir if base_dir is not None else Path("."), stem)


class FileTooBig(Exception):
    """A file holds more than MAX_FILE_BYTES (only that much plus one byte was read)."""


def read_limited(path: Path | Traversable) -> str:
    """A file's UTF-8 text, reading no more than the limit allows (a FIFO or /dev/zero ends)."""
    with path.open("rb") as handle:
        data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise FileTooBig
    return data.decode("utf-8")


def bundled_scenarios() -> list[str]:
    """Names of the bundled scenarios (the repository's `scenarios/`, packaged as `mxsim/scenarios`), sorted."""
    folder = _bundled_folder()
    if not folder.is_dir():
        return []
    return sorted(
        entry.name.removesuffix(_BUNDLED_SUFFIX)
        for entry in folder.iterdir()
        if entry.name.endswith(_BUNDLED_SUFFIX) and entry.is_file()
    )


def _bundled_folder() -> Traversable:
    # Anchored on the `mxsim` package so `scenarios` works with or without an __init__.py.
    return files("mxsim").joinpath("scenarios")


def _is_plain_name(source: str) -> bool:
    return "/" not in source and "\\" not in source and not source.endswith((".yaml", ".yml"))


def _not_found(source: str) -> str:
    names = bundled_scenarios()
    if _is_plain_name(source):
        listing = ", ".join(names) if names else "none"
        return f"no scenario file and no bundled scenario named `{shown(source)}` (bundled: {listing})"
    return "no such scenario file"


def _load_bundled(name: str) -> ScenarioSpec:
    names = bundled_scenarios()
    if name not in names:
        close = get_close_matches(name, names, n=1)
        if close:  # a likely typo: the one suggestion, not the whole list
            raise ScenarioError(f"no scenario file and no bundled scenario named `{name}`; did you mean "
                                f"`{close[0]}`? (`mxsim scenarios` lists them)", file=name, line=None)
        raise ScenarioError(_not_found(name), file=name, line=None)
    folder = _bundled_folder()
    resource = folder.joinpath(name + _BUNDLED_SUFFIX)
    return _load(read_limited(resource), str(resource), folder, name)


# -- the document -------------------------------------------------------------------------


def _load(text: str, file: str, base: Traversable, default_name: str) -> ScenarioSpec:
    root = parse_document(text, file, _TOP_KEYS)
    top = root.mapping("the scenario")
    version = _version(top, root)
    top.check_keys(_TOP_KEYS, "the scenario")
    budget = RecordBudget()
    zones: tuple[ZoneSpec, ...] = _section(
        top, "zones", lambda node: _zones(node, base, budget), ()
    )
    servers: tuple[ServerSpec, ...] = _section(
        top, "servers", lambda node: _servers(node, zones, budget), ()
    )
    spec = ScenarioSpec(
        name=_section(top, "name", lambda node: _one_line(node, "`name`"), default_name),
        source=file,
        version=version,
        description=_section(top, "description", _description, ""),
        recipient=_section(top, "recipient", _recipient, None),
        expect=_section(top, "expect", _expect, ExpectSpec()),
        zones=zones,
        servers=servers,
        hosts=_section(top, "hosts", _hosts, ()),
        resolver=_section(top, "resolver", _resolver, ResolverSpec()),
        mta=_section(top, "mta", _mta, MTA_PROFILES),
        cases=_section(top, "cases", lambda node: _cases(node, servers), ()),
        mta_sts=_section(top, "mta_sts", read_mta_sts, ()),
        lines={entry.key: entry.line for entry in top},
    )
    changes = top.get("timeline")
    if changes is None:
        return spec
    return replace(spec, timeline=read_timeline(changes.value, spec, _timeline_readers(base, budget)))


def _timeline_readers(base: Traversable, budget: RecordBudget) -> Readers:
    def zone(origin: dns.name.Name, entry: Entry) -> ZoneSpec:
        spec = _zone(origin, entry, base, budget)
        _check_made_up_names(spec, entry)
        return spec

    def server(name: dns.name.Name, entry: Entry, origins: dict[dns.name.Name, ZoneSpec],
               existing: ServerSpec | None) -> ServerSpec:
        return _server(name, entry, origins, budget, existing)

    return Readers(zone=zone, server=server, host=_host, duration=_duration, name=_domain_name)


def _section(top: Mapping, key: str, read: Callable[[Node], _T], default: _T) -> _T:
    entry = top.get(key)
    if entry is None:
        return default
    return read(entry.value)


def _version(top: Mapping, root: Node) -> int:
    supported = ", ".join(str(version) for version in SUPPORTED_VERSIONS)
    entry = top.get("mxsim")
    if entry is None:
        raise root.error(f"missing `mxsim: 1` (the format version; supported: {supported})")
    value = entry.value.value if entry.value.is_scalar else None
    if isinstance(value, bool) or not isinstance(value, int):
        raise entry.value.error(
            f"expected the format version number for `mxsim`, got {entry.value.describe()}"
        )
    if value not in SUPPORTED_VERSIONS:
        raise entry.value.error(
            f"scenario format version {value} is not supported (supported versions: {supported})"
        )
    return value


def _one_line(node: Node, what: str) -> str:
    text = node.text(f"a string for {what}").strip()
    if not text or "\n" in text:
        raise node.error(f"expected a one-line, non-empty string for {what}")
    return text


def _description(node: Node) -> str:
    return node.text("a string for `description`").strip()


def _recipient(node: Node) -> str:
    text = node.text("an address such as student@wa-students.org for `recipient`").strip()
    problem = recipient_problem(text)
    if problem is not None:
        raise node.error(f"the recipient '{shown(text)}': {problem}; expected an address such as "
                         "student@wa-students.org")
    return text


def _expect(node: Node) -> ExpectSpec:
    mapping = node.mapping("`expect`", _EXPECT_KEYS)
    return ExpectSpec(
        deliver_to=_section(
            mapping, "deliver_to", lambda item: _patterns(item, "`deliver_to`"), ()
        ),
        min_success=_section(
            mapping, "min_success", lambda item: _probability(item, "`min_success`"), None
        ),
        max_delay=_section(mapping, "max_delay", lambda item: _duration(item, "`max_delay`"), None),
    )


def _patterns(node: Node, what: str) -> tuple[str, ...]:
    patterns = []
    for text, item in node.texts(f"host names or shell patterns for {what}"):
        if not _HOST_PATTERN.match(text):
            raise item.error(f"'{shown(text)}' is not a host name or a shell pattern")
        patterns.append(text)
    return tuple(patterns)


# -- value converters ---------------------------------------------------------------------


def _probability(node: Node, what: str) -> float:
    value = node.value if node.is_scalar else None
    try:
        return parse_probability(value)
    except ValueError:
        raise node.error(
            f"expected a probability between 0 and 1 for {what}, got {node.describe()}"
        ) from None


def _duration(node: Node, what: str) -> float:
    value = node.value if node.is_scalar else None
    if not isinstance(value, str | int | float):
        raise node.error(f"expected a duration such as 30s, 5m, 2h or 4d for {what}")
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise node.error(f"{what}: {shown(str(exc))}") from None


def _choice(node: Node, kinds: type[_E], what: str) -> _E:
    text = node.text(f"a word for {what}")
    choices = [kind.value for kind in kinds]
    for kind in kinds:
        if kind.value == text.lower():
            return kind
    close = did_you_mean(text, choices)
    hint = f" ({close})" if close.startswith("did you mean") else ""
    raise node.error(f"unknown {what} `{shown(text)}`{hint}; expected one of: {', '.join(choices)}")


def _domain_name(text: str, where: Node | Entry, what: str) -> dns.name.Name:
    """`text` as an absolute name; names in keys are absolute with or without the dot."""
    if not text.strip():
        raise where.error(f"{what} is empty")
    try:
        return dns.name.from_text(text.strip())
    except dns.exception.DNSException as exc:
        raise where.error(f"{what} `{shown(text)}` is not a valid domain name: {exc}") from None


def _show(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True) or "."


def _weight(node: Node) -> float:
    value = node.number("`weight`")
    if value <= 0:
        raise node.error(f"a backend's `weight` must be a number > 0, got {node.describe()}")
    return value


# -- zones --------------------------------------------------------------------------------


def _zones(node: Node, base: Traversable, budget: RecordBudget) -> tuple[ZoneSpec, ...]:
    if node.is_null:
        return ()
    specs: dict[dns.name.Name, ZoneSpec] = {}
    for entry in node.mapping("`zones` (zone origin -> zone text)"):
        origin = _domain_name(entry.key, entry, "zone origin")
        if origin in specs:
            first = specs[origin].line
            raise entry.error(
                f"zone {_show(origin)} is defined twice (lines {first} and {entry.line})"
            )
        spec = _zone(origin, entry, base, budget)
        _check_made_up_names(spec, entry)
        specs[origin] = spec
    return tuple(specs.values())


def _zone(origin: dns.name.Name, entry: Entry, base: Traversable, budget: RecordBudget) -> ZoneSpec:
    value = entry.value
    if value.is_mapping:
        return _zone_from_file(origin, entry, base, budget)
    if value.is_null:
        text, first_line = "", value.line
    elif value.is_scalar:
        # A `|` block's text starts on the line after the indicator; other scalars on theirs.
        text = value.text("zone-file text")
        first_line = value.line + 1 if value.is_literal_block else value.line
    else:
        raise value.error(
            f"expected zone-file text or {{file: PATH}} for zone {_show(origin)}, "
            f"got {value.describe()}"
        )
    try:
        zone = read_zone(text, origin, budget)
    except DnsTextError as exc:
        line = first_line + exc.line - 1 if exc.line is not None else entry.line
        raise ScenarioError(
            f"zone {_show(origin)}: {exc.detail}", file=value.file, line=line
        ) from None
    _check_sizes(zone, origin, value)
    return ZoneSpec(origin=origin, zone=zone, line=entry.line)


def _zone_from_file(
    origin: dns.name.Name, entry: Entry, base: Traversable, budget: RecordBudget
) -> ZoneSpec:
    mapping = entry.value.mapping(f"zone {_show(origin)}", _ZONE_FILE_KEYS)
    file_entry = mapping.get("file")
    if file_entry is None:
        raise entry.value.error(f"zone {_show(origin)}: expected `file: PATH` or zone-file text")
    where = file_entry.value
    relative = where.text("a path for `file`")
    resource = _inside(base, relative, where, f"zone {_show(origin)}")
    display = shown(str(base.joinpath(relative)), MESSAGE_LIMIT // 2)
    try:
        found = resource.is_file()
    except OSError:  # a name too long for the file system (ENAMETOOLONG): no such file either
        found = False
    if not found:
        raise where.error(f"zone {_show(origin)}: zone file {display} does not exist")
    try:
        text = read_limited(resource)
    except FileTooBig:
        raise where.error(
            f"zone {_show(origin)}: " + _TOO_BIG.format(what=f"zone file {display}")
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise where.error(f"zone {_show(origin)}: cannot read zone file {display}: {exc}") from None
    try:
        zone = read_zone(text, origin, budget)
    except DnsTextError as exc:
        raise ScenarioError(
            f"zone {_show(origin)}: {exc.detail}", file=display, line=exc.line
        ) from None
    _check_sizes(zone, origin, where)
    return ZoneSpec(origin=origin, zone=zone, line=entry.line, file=display)


def _inside(base: Traversable, relative: str, where: Node, what: str) -> Traversable:
    """`relative` under the scenario's folder; anything that leads out of it is an error.

    Scenario files come from other people: a zone file is read, and its lines quoted in
    errors, only from the scenario's own folder (symbolic links are followed first).
    """
    path = PurePosixPath(relative)
    if not relative.strip() or path.is_absolute() or relative.startswith("~") or "\x00" in relative:
        raise where.error(
            f"{what}: `file` must name a file inside the scenario's folder, "
            f"by a relative path such as zones/example.org.zone, got `{shown(relative)}`"
        )
    if isinstance(base, Path):
        folder = base.resolve()
        target = (folder / relative).resolve()
        if target.is_relative_to(folder):
            return target
    elif ".." not in path.parts:
        return base.joinpath(relative)
    raise where.error(
        f"{what}: zone file `{shown(relative)}` lies outside the scenario's folder; "
        "a scenario reads zone files from its own folder only"
    )


def _check_sizes(zone: dns.zone.Zone, origin: dns.name.Name, where: Node) -> None:
    problem = oversized(zone_rrsets(zone))
    if problem is not None:
        raise where.error(f"zone {_show(origin)}: {problem}")


def _check_made_up_names(spec: ZoneSpec, entry: Entry) -> None:
    """A zone without SOA or NS gets one naming hostmaster.ORIGIN or ns1.ORIGIN; they must fit."""
    for label, rdtype in _MADE_UP:
        if spec.zone.get_rdataset(spec.origin, rdtype) is not None:
            continue
        try:
            dns.name.from_text(label, spec.origin)
        except dns.name.NameTooLong:
            kind = dns.rdatatype.to_text(rdtype)
            octets = sum(len(label) + 1 for label in spec.origin.labels)
            raise entry.error(
                f"zone origin is too long ({octets} octets): a zone without its own {kind} record "
                f"gets one naming {label}.ORIGIN, which would exceed 255 octets; give the zone "
                f"a {kind} record or a shorter origin"
            ) from None


# -- servers and backends -----------------------------------------------------------------


def _servers(
    node: Node, zones: tuple[ZoneSpec, ...], budget: RecordBudget
) -> tuple[ServerSpec, ...]:
    if node.is_null:
        return ()
    origins = {zone.origin: zone for zone in zones}
    specs: dict[dns.name.Name, ServerSpec] = {}
    for entry in node.mapping("`servers` (server name -> server)"):
        name = _domain_name(entry.key, entry, "server name")
        if name in specs:
            first = specs[name].line
            raise entry.error(
                f"server {_show(name)} is defined twice (lines {first} and {entry.line})"
            )
        specs[name] = _server(name, entry, origins, budget)
    return tuple(specs.values())


def _server(
    name: dns.name.Name, entry: Entry, origins: dict[dns.name.Name, ZoneSpec], budget: RecordBudget,
    existing: ServerSpec | None = None,
) -> ServerSpec:
    """A server; with `existing` (a timeline changing a server), the keys not given stay as they were."""
    what = f"server {_show(name)}"
    if entry.value.is_null and existing is None:
        raise entry.error(f"{what} needs an `address`")
    mapping = entry.value.mapping(what, _SERVER_KEYS)
    address = mapping.get("address")
    if address is None and existing is None:
        raise entry.error(f"{what} needs an `address` (a server a change adds is given whole)")
    was = existing or ServerSpec(name=name, line=entry.line, addresses=(), zones=())
    return ServerSpec(
        name=name,
        line=entry.line,
        addresses=_addresses(address.value, what) if address is not None else was.addresses,
        zones=_section(mapping, "zones", lambda node: _served_zones(node, what, origins), was.zones),
        backends=_section(mapping, "backends", lambda node: _backends(node, what, budget), was.backends),
        nsid=_section(mapping, "nsid", lambda node: node.text(f"a string for {what} `nsid`"), was.nsid),
    )


def _addresses(node: Node, what: str) -> tuple[str, ...]:
    addresses: list[str] = []
    for text, item in node.texts("addresses"):
        try:
            address = str(ipaddress.ip_address(text.strip()))
        except ValueError:
            raise item.error(f"{what}: `{shown(text)}` is not an IPv4 or IPv6 address") from None
        if address in addresses:
            raise item.error(f"{what}: address {address} is listed twice")
        addresses.append(address)
    if not addresses:
        raise node.error(f"{what}: expected a list of addresses, got an empty list")
    return tuple(addresses)


def _served_zones(
    node: Node, what: str, origins: dict[dns.name.Name, ZoneSpec]
) -> tuple[dns.name.Name, ...]:
    served: list[dns.name.Name] = []
    for text, item in node.texts("zone origins"):
        origin = _domain_name(text, item, "zone")
        if origin not in origins:
            hint = did_you_mean(_show(origin), [_show(known) for known in origins])
            raise item.error(
                f"{what} serves zone {_show(origin)}, which `zones` does not define; {hint}"
            )
        if origin not in served:
            served.append(origin)
    return tuple(served)


def _backends(node: Node, server: str, budget: RecordBudget) -> tuple[BackendSpec, ...]:
    if node.is_null:
        return ()
    return tuple(
        _backend(entry, f"backend {shown(entry.key)} of {server}", budget)
        for entry in node.mapping(f"the backends of {server}")
    )


def _backend(entry: Entry, what: str, budget: RecordBudget) -> BackendSpec:
    if entry.value.is_null:
        return BackendSpec(name=entry.key, line=entry.line)
    mapping = entry.value.mapping(what, _BACKEND_KEYS)

    def field(key: str, read: Callable[[Node], _T], default: _T) -> _T:
        return _section(mapping, key, read, default)

    return BackendSpec(
        name=entry.key,
        line=entry.line,
        weight=field("weight", _weight, 1.0),
        nsid=field("nsid", lambda node: node.text(f"a string for {what} `nsid`"), None),
        answer=field("answer", lambda node: _answers(node, what, budget), ()),
        aa=field("aa", lambda node: _aa(node, what), AaSpec()),
        authority=field(
            "authority",
            lambda node: _choice(node, AuthorityMode, "`authority`"),
            AuthorityMode.NORMAL,
        ),
        ttl=field("ttl", lambda node: _choice(node, TtlMode, "`ttl` mode"), TtlMode.FIXED),
        rcode=field("rcode", _rcode, None),
        drop=field("drop", lambda node: _probability(node, "`drop`"), 0.0),
        delay=field("delay", lambda node: _duration(node, "`delay`"), 0.0),
        tcp=field("tcp", lambda node: node.boolean("`tcp`"), True),
        edns=field("edns", lambda node: node.boolean("`edns`"), True),
    )


def _aa(node: Node, what: str) -> AaSpec:
    if node.is_scalar:
        both = node.boolean("`aa` (true, false, or {rd: BOOL, nord: BOOL})")
        return AaSpec(rd=both, nord=both)
    mapping = node.mapping(f"`aa` of {what}", _AA_KEYS)
    return AaSpec(
        rd=_section(mapping, "rd", lambda item: item.boolean("`aa.rd`"), True),
        nord=_section(mapping, "nord", lambda item: item.boolean("`aa.nord`"), True),
    )


def _rcode(node: Node) -> dns.rcode.Rcode:
    text = node.text("an rcode name such as SERVFAIL for `rcode`").strip()
    try:
        return dns.rcode.from_text(text.upper())
    except dns.exception.DNSException:
        names = [rcode.name for rcode in dns.rcode.Rcode]
        raise node.error(
            f"unknown rcode `{shown(text)}`; {did_you_mean(text.upper(), names)}"
            " (rcodes are names such as SERVFAIL, REFUSED, NXDOMAIN, FORMERR, NOTIMP)"
        ) from None


def _answers(
    node: Node, what: str, budget: RecordBudget
) -> tuple[tuple[dns.name.Name, tuple[dns.rrset.RRset, ...]], ...]:
    answers: dict[dns.name.Name, tuple[dns.rrset.RRset, ...]] = {}
    for entry in node.mapping(f"`answer` of {what} (name -> RR lines)"):
        owner = _domain_name(entry.key, entry, "answer name")
        if owner in answers:
            raise entry.error(f"{what} has two answers for {_show(owner)}")
        answers[owner] = _answer_rrsets(entry, owner, budget)
    return tuple(answers.items())


def _answer_rrsets(
    entry: Entry, owner: dns.name.Name, budget: RecordBudget
) -> tuple[dns.rrset.RRset, ...]:
    value = entry.value
    text = value.text(f"RR lines (owner [ttl] [IN] TYPE rdata) for the answer to {_show(owner)}")
    first_line = value.line + 1 if value.is_literal_block else value.line
    try:
        rrsets = read_answer(text, budget)
    except DnsTextError as exc:
        line = first_line + exc.line - 1 if exc.line is not None else entry.line
        raise ScenarioError(
            f"answer for {_show(owner)}: {exc.detail}", file=value.file, line=line
        ) from None
    if not rrsets:
        raise value.error(f"the answer for {_show(owner)} has no records")
    problem = oversized(rrsets)
    if problem is not None:
        raise value.error(f"answer for {_show(owner)}: {problem}")
    return tuple(rrsets)


# -- hosts, resolver, mta, cases ----------------------------------------------------------


def _hosts(node: Node) -> tuple[HostSpec, ...]:
    if node.is_null:
        return ()
    hosts = [_host(entry) for entry in node.mapping("`hosts` (address or pattern -> smtp)")]
    # `default` applies after every other entry, wherever the file puts it.
    return tuple(sorted(hosts, key=lambda host: host.key == _DEFAULT_HOST))


def _host(entry: Entry) -> HostSpec:
    key = entry.key.strip()
    _check_host_key(key, entry)
    what = f"host {shown(key)}"
    if entry.value.is_null:
        return HostSpec(key=key, line=entry.line)
    mapping = entry.value.mapping(what, _HOST_KEYS)
    smtp = _section(
        mapping, "smtp", lambda node: _choice(node, SmtpKind, "smtp kind"), SmtpKind.ACCEPT
    )
    return HostSpec(
        key=key,
        line=entry.line,
        smtp=smtp,
        banner=_only_for(mapping, "banner", smtp, (SmtpKind.ACCEPT, SmtpKind.SLOW), _banner),
        code=_reply_code(mapping, smtp),
        text=_only_for(
            mapping,
            "text",
            smtp,
            (SmtpKind.REJECT, SmtpKind.TEMPFAIL),
            lambda node: node.text("the reply text for `text`"),
        ),
        delay=_slow_delay(mapping, smtp, entry),
        starttls=_section(mapping, "starttls", lambda node: node.boolean("`starttls`"), True),
        tls=_section(mapping, "tls", lambda node: _choice(node, TlsMode, "tls mode"), TlsMode.REFUSE),
    )


def _check_host_key(key: str, entry: Entry) -> None:
    if key == _DEFAULT_HOST:
        return
    try:
        ipaddress.ip_address(key)
        return
    except ValueError:
        pass
    if not _HOST_PATTERN.match(key):
        raise entry.error(f"`{shown(key)}` is not an address, a host name, a shell pattern or `default`")


def _only_for(
    mapping: Mapping,
    key: str,
    smtp: SmtpKind,
    kinds: tuple[SmtpKind, ...],
    read: Callable[[Node], _T],
) -> _T | None:
    entry = mapping.get(key)
    if entry is None:
        return None
    if smtp not in kinds:
        allowed = " and ".join(f"smtp: {kind.value}" for kind in kinds)
        raise entry.error(f"`{key}` applies to {allowed}, not to smtp: {smtp.value}")
    return read(entry.value)


def _banner(node: Node) -> str:
    text = node.text('a greeting line such as "220 mx.example.com ESMTP" for `banner`')
    if not text.startswith("220"):
        raise node.error(
            f'a banner is the whole 220 greeting line, e.g. "220 mx.example.com ESMTP"; got '
            f"'{shown(text)}' (for a 4xx/5xx greeting use smtp: tempfail or reject with code and text)"
        )
    return text


def _reply_code(mapping: Mapping, smtp: SmtpKind) -> int | None:
    ranges = {
        SmtpKind.REJECT: (500, DEFAULT_REJECT_CODE),
        SmtpKind.TEMPFAIL: (400, DEFAULT_TEMPFAIL_CODE),
    }
    given = _only_for(mapping, "code", smtp, tuple(ranges), lambda node: node)
    if smtp not in ranges:
        return None
    low, default = ranges[smtp]
    if given is None:
        return default
    value = given.value if given.is_scalar else None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value < low + 100:
        raise given.error(
            f"smtp: {smtp.value} needs a {low // 100}xx reply code, got {given.describe()}"
        )
    return value


def _slow_delay(mapping: Mapping, smtp: SmtpKind, entry: Entry) -> float:
    # For a tarpit, `delay` is how long it holds the silent connection before closing it.
    delay = _only_for(
        mapping, "delay", smtp, (SmtpKind.SLOW, SmtpKind.TARPIT),
        lambda node: _duration(node, "`delay`"),
    )
    if smtp is SmtpKind.SLOW and delay is None:
        raise entry.error(f"host {entry.key} is smtp: slow and needs a `delay` (e.g. 90s)")
    return delay or 0.0


def _resolver(node: Node) -> ResolverSpec:
    mapping = node.mapping("`resolver`", _RESOLVER_KEYS)
    return ResolverSpec(
        cache=_section(mapping, "cache", lambda item: item.boolean("`cache`"), True),
        server_choice=_section(
            mapping,
            "server_choice",
            lambda item: _choice(item, ServerChoice, "`server_choice`"),
            ServerChoice.RANDOM,
        ),
        warm=_section(mapping, "warm", lambda item: item.boolean("`warm`"), None),
        population=_section(mapping, "population", read_population, ()),
    )


def _mta(node: Node) -> tuple[str, ...]:
    profiles: list[str] = []
    for text, item in node.texts("MTA profiles"):
        name = text.strip().lower()
        if name not in MTA_CHOICES:
            close = did_you_mean(name, MTA_CHOICES)
            hint = f" ({close})" if close.startswith("did you mean") else ""
            raise item.error(
                f"unknown MTA profile `{shown(text)}`{hint}; expected one of: {', '.join(MTA_CHOICES)}"
            )
        if name in profiles:
            raise item.error(f"MTA profile {name} is listed twice")
        profiles.append(name)
    if not profiles:
        raise node.error("`mta` lists no profile; expected one of: " + ", ".join(MTA_PROFILES))
    return tuple(profiles)


def _cases(node: Node, servers: tuple[ServerSpec, ...]) -> tuple[CaseSpec, ...]:
    if node.is_null:
        return ()
    by_name = {server.name: server for server in servers}
    return tuple(_case(entry, by_name) for entry in node.mapping("`cases` (name -> case)"))


def _case(entry: Entry, servers: dict[dns.name.Name, ServerSpec]) -> CaseSpec:
    if entry.value.is_null:
        return CaseSpec(name=entry.key, line=entry.line, pins=())
    mapping = entry.value.mapping(f"case {shown(entry.key)}", _CASE_KEYS)
    return CaseSpec(
        name=entry.key,
        line=entry.line,
        pins=_section(mapping, "pin", lambda node: _pins(node, shown(entry.key), servers), ()),
        description=_section(
            mapping, "description", lambda node: node.text("a string for `description`").strip(), ""
        ),
    )


def _pins(
    node: Node, case: str, servers: dict[dns.name.Name, ServerSpec]
) -> tuple[tuple[dns.name.Name, str], ...]:
    if node.is_null:
        return ()
    pins: list[tuple[dns.name.Name, str]] = []
    for entry in node.mapping(f"`pin` of case {case} (server -> backend)"):
        name = _domain_name(entry.key, entry, "server name")
        server = servers.get(name)
        if server is None:
            hint = did_you_mean(_show(name), [_show(known) for known in servers])
            raise entry.error(
                f"case {case} pins server {_show(name)}, which `servers` does not define; {hint}"
            )
        pins.append((name, _pinned_backend(entry, case, server)))
    return tuple(pins)


def _pinned_backend(entry: Entry, case: str, server: ServerSpec) -> str:
    backend = entry.value.text("a backend name").strip()
    names = [spec.name for spec in server.backends]
    if not names:
        raise entry.value.error(
            f"case {case} pins server {_show(server.name)}, which has no `backends`"
        )
    if backend not in names:
        raise entry.value.error(
            f"case {case}: server {_show(server.name)} has no backend `{shown(backend)}`; "
            f"{did_you_mean(backend, names)}"
        )
    return backend
