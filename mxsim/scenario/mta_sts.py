"""MTA-STS policies (RFC 8461) in a scenario: the top-level `mta_sts` key, and the policy text itself.

The `_mta-sts` TXT record and the `mta-sts.<domain>` address live in the zones as usual;
this key holds what the zones cannot: the policy file each policy domain serves over
HTTPS, and what its endpoint does (docs/scenario-format.md#mta_sts). The policy text is
read here by RFC 8461 section 3.2, once for the scenario (errors point at the file and
line) and again by the senders' model when a fetch returns it, so a policy means the
same thing in both places. `read_mta_sts` takes any node shaped like the key, so a later
change of the policies over time can reuse it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import dns.exception
import dns.name

from mxsim.errors import ScenarioError, shown
from mxsim.scenario.yamlnodes import Node

__all__ = [
    "MAX_AGE_LIMIT", "Endpoint", "PolicyError", "StsMode", "StsPolicy", "StsSpec", "mx_matches",
    "parse_policy", "policy_for", "read_mta_sts",
]

MAX_AGE_LIMIT = 31557600  # RFC 8461 section 3.2: max_age is at most 31557600 seconds (about a year)
_KEYS = ("policy", "endpoint")
# RFC 8461 section 3.2: sts-policy-field-delim = ":" *WSP; field names are letters, digits, "_", "-", ".".
_FIELD = re.compile(r"^([A-Za-z0-9_.-]+):[ \t]*(.*?)[ \t]*$")
_MAX_AGE = re.compile(r"^[0-9]{1,10}$")


class StsMode(StrEnum):
    """RFC 8461 section 5: what a sender does with a policy."""

    ENFORCE = "enforce"  # no delivery to an MX host that fails the policy
    TESTING = "testing"  # deliver anyway, report the failure
    NONE = "none"  # no policy


class Endpoint(StrEnum):
    """What `https://mta-sts.<domain>/.well-known/mta-sts.txt` does when fetched."""

    SERVE = "serve"  # 200 with the policy text
    NOT_FOUND = "not-found"  # 404
    TLS_ERROR = "tls-error"  # a certificate the fetcher cannot trust
    TIMEOUT = "timeout"  # connects, never answers


@dataclass(frozen=True, slots=True)
class StsPolicy:
    """A policy file, parsed: RFC 8461 section 3.2."""

    mode: StsMode
    mx: tuple[str, ...]  # patterns as written, lower case: "mx.example.org", "*.example.net"
    max_age: int  # seconds
    text: str  # as served

    def allows(self, host: str) -> bool:
        """Whether the MX host name matches one of the policy's patterns (RFC 8461 section 4.1)."""
        return any(mx_matches(pattern, host) for pattern in self.mx)


class PolicyError(ValueError):
    """A policy text that RFC 8461 section 3.2 does not allow; `line` is 1-based within the text."""

    def __init__(self, line: int, detail: str) -> None:
        super().__init__(f"line {line}: {detail}")
        self.line = line
        self.detail = detail


def mx_matches(pattern: str, host: str) -> bool:
    """RFC 8461 section 4.1: an exact match, or `*.` standing for exactly one leftmost label."""
    pattern = pattern.rstrip(".").lower()
    host = host.rstrip(".").lower()
    if pattern.startswith("*."):
        label, dot, rest = host.partition(".")
        return bool(label) and bool(dot) and rest == pattern[2:]
    return host == pattern


def parse_policy(text: str) -> StsPolicy:
    """The policy in `text`, or a PolicyError naming the line at fault."""
    fields: dict[str, tuple[str, int]] = {}
    mx: list[str] = []
    lines = text.replace("\r\n", "\n").split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        match = _FIELD.match(line)
        if match is None:
            raise PolicyError(number, f"expected `key: value`, got '{shown(line)}'")
        key, value = match.group(1), match.group(2)
        if key == "mx":
            mx.append(_mx_pattern(value, number))
        elif key in ("version", "mode", "max_age"):
            if key in fields:
                raise PolicyError(number, f"`{key}` given twice (first on line {fields[key][1]})")
            fields[key] = (value, number)
        # Other fields are extensions a sender ignores (RFC 8461 section 3.2).
    version = fields.get("version")
    if version is None:
        raise PolicyError(1, "missing `version: STSv1`")
    if version[0] != "STSv1":
        raise PolicyError(version[1], f"expected `version: STSv1`, got '{shown(version[0])}'")
    mode = _mode(fields.get("mode"))
    max_age = _max_age(fields.get("max_age"))
    if mode != StsMode.NONE and not mx:
        raise PolicyError(len(lines), f"a policy in mode {mode} needs at least one `mx:` pattern")
    return StsPolicy(mode, tuple(mx), max_age, text)


def _mode(field: tuple[str, int] | None) -> StsMode:
    if field is None:
        raise PolicyError(1, "missing `mode:` (enforce, testing or none)")
    for mode in StsMode:
        if field[0] == mode.value:
            return mode
    raise PolicyError(field[1], f"unknown mode '{shown(field[0])}'; expected enforce, testing or none")


def _max_age(field: tuple[str, int] | None) -> int:
    if field is None:
        raise PolicyError(1, "missing `max_age:` (seconds)")
    value, line = field
    if not _MAX_AGE.match(value) or int(value) > MAX_AGE_LIMIT:
        raise PolicyError(line, f"expected `max_age` in whole seconds from 0 to {MAX_AGE_LIMIT}, "
                                f"got '{shown(value)}'")
    return int(value)


def _mx_pattern(value: str, line: int) -> str:
    """A host name, or `*.` then a host name: the wildcard only as the whole leftmost label."""
    rest = value[2:] if value.startswith("*.") else value
    if not rest or "*" in rest:
        raise PolicyError(line, f"expected an MX host name or `*.` and a name, got '{shown(value)}'")
    try:
        name = dns.name.from_text(rest)
    except dns.exception.DNSException as exc:
        raise PolicyError(line, f"'{shown(value)}' is not a host name: {exc}") from None
    if len(name.labels) < 3:  # a pattern needs at least two labels besides the root
        raise PolicyError(line, f"'{shown(value)}' is not a host name under a domain")
    return value.lower().rstrip(".")


@dataclass(frozen=True, slots=True)
class StsSpec:
    """One policy domain's HTTPS endpoint: the policy it serves and how it behaves."""

    domain: dns.name.Name  # the policy domain (absolute); the host is mta-sts.<domain>
    line: int
    endpoint: Endpoint = Endpoint.SERVE
    policy: StsPolicy | None = None  # None: no policy text (only with an endpoint that serves none)

    @property
    def host(self) -> dns.name.Name:
        return dns.name.Name((b"mta-sts", *self.domain.labels))


def read_mta_sts(node: Node) -> tuple[StsSpec, ...]:
    """`mta_sts: {DOMAIN: {policy: TEXT, endpoint: ...}}` as specs, in file order."""
    if node.is_null:
        return ()
    specs: dict[dns.name.Name, StsSpec] = {}
    for entry in node.mapping("`mta_sts` (policy domain -> policy and endpoint)"):
        try:
            domain = dns.name.from_text(entry.key.strip())
        except dns.exception.DNSException as exc:
            raise entry.error(f"`mta_sts` key `{shown(entry.key)}` is not a domain name: {exc}") from None
        if domain in specs:
            raise entry.error(f"policy domain {entry.key} is given twice (lines {specs[domain].line} "
                              f"and {entry.line})")
        fields = entry.value.mapping(f"`mta_sts` {entry.key}", _KEYS)
        endpoint = Endpoint.SERVE
        if (chosen := fields.get("endpoint")) is not None:
            endpoint = _endpoint(chosen.value)
        policy = None
        if (given := fields.get("policy")) is not None:
            policy = _policy(given.value, entry.key)
        elif endpoint == Endpoint.SERVE:
            raise entry.value.error(f"`mta_sts` {entry.key}: an endpoint that serves needs `policy:` text")
        specs[domain] = StsSpec(domain, entry.line, endpoint, policy)
    return tuple(specs.values())


def _endpoint(node: Node) -> Endpoint:
    text = node.text("an endpoint behaviour")
    for endpoint in Endpoint:
        if endpoint.value == text.lower():
            return endpoint
    raise node.error(f"unknown endpoint `{shown(text)}`; expected one of: "
                     f"{', '.join(endpoint.value for endpoint in Endpoint)}")


def _policy(node: Node, domain: str) -> StsPolicy:
    text = node.text("the policy file's text (a `|` block)")
    first = node.line + 1 if node.is_literal_block else node.line
    try:
        return parse_policy(text)
    except PolicyError as error:
        raise ScenarioError(f"`mta_sts` {domain} policy: {error.detail}", file=node.file,
                            line=first + error.line - 1) from None


def policy_for(specs: Iterable[StsSpec], domain: dns.name.Name) -> StsSpec | None:
    """The spec of a policy domain, if the scenario has one."""
    for spec in specs:
        if spec.domain == domain:
            return spec
    return None
