"""A `ScenarioSpec` written back as a scenario file (docs/scenario-format.md, format version 1).

`mxsim record` builds a spec from what it measured and writes it here, so that
`replay`, `trace` and `lab up` read it back with the ordinary loader. The output is
deterministic: keys in the contract's order, zones, servers and hosts in the spec's
order, records sorted; strings are written as JSON strings (always valid YAML), zone
data and answers as `|` blocks. Round trip: `load_scenario_text(dump_scenario(spec))`
gives back an equal spec (lines aside).
"""

from __future__ import annotations

import json

import dns.name
import dns.rcode
import dns.rrset

from mxsim.scenario.spec import (
    AaSpec,
    AuthorityMode,
    BackendSpec,
    HostSpec,
    ResolverSpec,
    ScenarioSpec,
    ServerSpec,
    SmtpKind,
    TlsMode,
    TtlMode,
    ZoneSpec,
)
from mxsim.units import format_duration

INDENT = "  "


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _name(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True) or "."


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(round(value, 6))


def _block(text: str, depth: int) -> list[str]:
    pad = INDENT * depth
    return [pad + line if line else "" for line in text.rstrip("\n").splitlines()]


def zone_text(spec: ZoneSpec) -> str:
    """The zone as master-file text relative to its origin, records sorted."""
    return str(spec.zone.to_text(sorted=True, relativize=True, want_comments=False))


def rrsets_text(rrsets: tuple[dns.rrset.RRset, ...]) -> str:
    return "\n".join(line for rrset in rrsets for line in rrset.to_text().splitlines())


def _backend(backend: BackendSpec, depth: int) -> list[str]:
    pad = INDENT * depth
    inner = INDENT * (depth + 1)
    lines = [f"{pad}{_q(backend.name)}:"]
    body: list[str] = []
    if backend.weight != 1.0:
        body.append(f"{inner}weight: {_number(backend.weight)}")
    if backend.nsid is not None:
        body.append(f"{inner}nsid: {_q(backend.nsid)}")
    if backend.answer:
        body.append(f"{inner}answer:")
        for owner, rrsets in backend.answer:
            body.append(f"{inner}{INDENT}{_q(_name(owner))}: |")
            body += _block(rrsets_text(rrsets), depth + 3)
    if backend.aa != AaSpec():
        body.append(f"{inner}aa: {{rd: {str(backend.aa.rd).lower()}, nord: {str(backend.aa.nord).lower()}}}")
    if backend.authority != AuthorityMode.NORMAL:
        body.append(f"{inner}authority: {backend.authority.value}")
    if backend.ttl != TtlMode.FIXED:
        body.append(f"{inner}ttl: {backend.ttl.value}")
    if backend.rcode is not None:
        body.append(f"{inner}rcode: {dns.rcode.to_text(backend.rcode)}")
    if backend.drop:
        body.append(f"{inner}drop: {_number(backend.drop)}")
    if backend.delay:
        body.append(f"{inner}delay: {format_duration(backend.delay)}")
    if not backend.tcp:
        body.append(f"{inner}tcp: false")
    if not backend.edns:
        body.append(f"{inner}edns: false")
    return lines + (body or [f"{inner}weight: {_number(backend.weight)}"])


def _server(server: ServerSpec, comments: dict[str, list[str]]) -> list[str]:
    lines = [f"# {c}" for c in comments.get(_name(server.name), [])]
    lines.append(f"{INDENT}{_name(server.name)}:")
    lines.append(f"{INDENT * 2}address: [{', '.join(_q(a) for a in server.addresses)}]")
    if server.zones:
        lines.append(f"{INDENT * 2}zones: [{', '.join(_q(_name(z)) for z in server.zones)}]")
    if server.nsid is not None:
        lines.append(f"{INDENT * 2}nsid: {_q(server.nsid)}")
    if server.backends:
        lines.append(f"{INDENT * 2}backends:")
        for backend in server.backends:
            lines += _backend(backend, 3)
    return lines


def _host(host: HostSpec) -> list[str]:
    pad = INDENT * 2
    lines = [f"{INDENT}{_q(host.key)}:", f"{pad}smtp: {host.smtp.value}"]
    if host.banner is not None and host.smtp in (SmtpKind.ACCEPT, SmtpKind.SLOW):
        lines.append(f"{pad}banner: {_q(host.banner)}")
    if host.code is not None and host.smtp in (SmtpKind.REJECT, SmtpKind.TEMPFAIL):
        lines.append(f"{pad}code: {host.code}")
    if host.text is not None and host.smtp in (SmtpKind.REJECT, SmtpKind.TEMPFAIL):
        lines.append(f"{pad}text: {_q(host.text)}")
    if host.smtp == SmtpKind.SLOW or (host.smtp == SmtpKind.TARPIT and host.delay):
        lines.append(f"{pad}delay: {format_duration(host.delay)}")
    if not host.starttls:
        lines.append(f"{pad}starttls: false")
    elif host.tls != TlsMode.REFUSE:
        lines.append(f"{pad}tls: {host.tls.value}")
    return lines


def dump_scenario(spec: ScenarioSpec, *, header: str = "", comments: dict[str, list[str]] | None = None) -> str:
    """The scenario file for `spec`; `header` becomes leading comment lines, `comments` go
    above the server (by name) they are about."""
    notes = comments or {}
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    lines += [f"mxsim: {spec.version}", f"name: {_q(spec.name)}"]
    if spec.description:
        lines.append("description: |")
        lines += _block(spec.description, 1)
    if spec.recipient:
        lines.append(f"recipient: {_q(spec.recipient)}")
    expect = spec.expect
    if expect.deliver_to or expect.min_success is not None or expect.max_delay is not None:
        lines.append("expect:")
        if expect.deliver_to:
            lines.append(f"{INDENT}deliver_to:")
            lines += [f"{INDENT * 2}- {_q(pattern)}" for pattern in expect.deliver_to]
        if expect.min_success is not None:
            lines.append(f"{INDENT}min_success: {_number(expect.min_success)}")
        if expect.max_delay is not None:
            lines.append(f"{INDENT}max_delay: {format_duration(expect.max_delay)}")
    if spec.zones:
        lines.append("zones:")
        for zone in spec.zones:
            lines.append(f"{INDENT}{_q(_name(zone.origin))}: |")
            lines += _block(zone_text(zone), 2)
    if spec.servers:
        lines.append("servers:")
        for server in spec.servers:
            lines += _server(server, notes)
    if spec.hosts:
        lines.append("hosts:")
        for host in spec.hosts:
            lines += _host(host)
    if spec.resolver != ResolverSpec():
        lines.append("resolver:")
        lines.append(f"{INDENT}cache: {str(spec.resolver.cache).lower()}")
        lines.append(f"{INDENT}server_choice: {spec.resolver.server_choice.value}")
    if spec.cases:
        lines.append("cases:")
        for case in spec.cases:
            lines.append(f"{INDENT}{_q(case.name)}:")
            if case.description:
                lines.append(f"{INDENT * 2}description: {_q(case.description)}")
            if case.pins:
                lines.append(f"{INDENT * 2}pin:")
                lines += [f"{INDENT * 3}{_q(_name(server))}: {_q(backend)}" for server, backend in case.pins]
    lines.append(f"mta: [{', '.join(spec.mta)}]")
    return "\n".join(lines) + "\n"
