"""MTA-STS (RFC 8461) as a sender does it: discover the policy, cache it, match hosts against it.

Discovery is a step like routing: the `_mta-sts` TXT lookup and the address of
`mta-sts.<domain>` go through the MTA's own stub resolver, and the HTTPS fetch is an
effect (`PolicyFetch`) that the world's driver answers. Two cache rules are written here
(docs/mta-behaviour.md#mta-sts):

- RFC 8461 (section 3.3, section 5.1): the TXT record is looked at on every delivery; a
  new `id` means a fetch; an unchanged `id` means the cached policy stands, for `max_age`
  from its fetch, and after that it is fetched again. A failed fetch or a missing TXT
  record leaves a cached policy in force until it expires.
- postfix-mta-sts-resolver 1.1.2 (responder.py `process_request`, `is_stale`): one time
  stamp per domain. Within `cache_grace` seconds of it nothing is looked up; after that
  the TXT record is; an unchanged `id` (NOT_CHANGED) renews the stamp, so a policy whose
  `id` never changes is never fetched again and never expires; a new `id` fetches; any
  failure keeps the cached policy until stamp + max_age.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

import dns.name
import dns.rdatatype
import dns.rrset

from mxsim.mta.results import MatchRule, TlsRequirement
from mxsim.mta.stub import Herrno, StubAnswer
from mxsim.scenario.mta_sts import PolicyError, StsMode, StsPolicy, parse_policy
from mxsim.transport.base import FetchStatus, PolicyFetch, PolicyReply, SmtpSession, Step

__all__ = [
    "RFC8461_TLS_WORDS", "CacheRule", "CachedPolicy", "Discovery", "current_policy", "enforced", "names_allowed",
    "postfix_match", "record_id", "sts_record_id", "tls_shortfall", "txt_texts",
]

TXT = dns.rdatatype.TXT
A = dns.rdatatype.A
AAAA = dns.rdatatype.AAAA
Lookup = Callable[[dns.name.Name, dns.rdatatype.RdataType], Step[StubAnswer]]


class CacheRule(StrEnum):
    RFC8461 = "rfc8461"
    RESOLVER = "postfix-mta-sts-resolver"


@dataclass(frozen=True, slots=True)
class CachedPolicy:
    """A policy as a sender keeps it: its `id`, the policy, and the stamp its lifetime counts from."""

    policy_id: str
    policy: StsPolicy
    stamp: float

    def expired(self, now: float) -> bool:
        return self.stamp + self.policy.max_age < now


@dataclass(frozen=True, slots=True)
class Discovery:
    """What one delivery learnt: the policy in force (if any) and the URLs it fetched."""

    policy: StsPolicy | None
    fetches: tuple[str, ...] = ()


def sts_record_id(answer: StubAnswer) -> str | None:
    """The `id` of the one `v=STSv1` TXT record (RFC 8461 section 3.1), or None."""
    if answer.status != Herrno.SUCCESS:
        return None
    return record_id(txt_texts(answer.records(TXT)))


def txt_texts(rrsets: Iterable[dns.rrset.RRset]) -> list[str]:
    """Each TXT record's strings joined, as RFC 8461 section 3.1 reads a record."""
    return [b"".join(rdata.strings).decode("ascii", "replace") for rrset in rrsets
            if rrset.rdtype == TXT for rdata in rrset]


def record_id(texts: Iterable[str]) -> str | None:
    """The `id` of the one record beginning `v=STSv1` among `texts`, or None (none, several, no id)."""
    records = [text for text in texts if text.startswith("v=STSv1")]
    if len(records) != 1:
        return None
    fields = dict(part.strip().partition("=")[::2] for part in records[0].split(";") if part.strip())
    policy_id = fields.get("id", "")
    return policy_id if policy_id and policy_id.isalnum() and len(policy_id) <= 32 else None


def current_policy(lookup: Lookup, domain: dns.name.Name, cache: dict[str, CachedPolicy], now: Callable[[], float],
                   rule: CacheRule, *, grace: float = 0.0, timeout: float = 4.0) -> Step[Discovery]:
    """The policy in force for `domain` now, updating `cache` by `rule`."""
    key = domain.to_text(omit_final_dot=True).lower()
    cached = cache.get(key)
    started = now()
    if rule == CacheRule.RESOLVER and cached is not None and started - cached.stamp <= grace \
            and not cached.expired(started):
        return Discovery(cached.policy)
    answer = yield from lookup(dns.name.Name((b"_mta-sts", *domain.labels)), TXT)
    policy_id = sts_record_id(answer)
    same = policy_id is not None and cached is not None and policy_id == cached.policy_id
    if same and cached is not None and (rule == CacheRule.RESOLVER or not cached.expired(started)):
        if rule == CacheRule.RESOLVER:
            cache[key] = CachedPolicy(cached.policy_id, cached.policy, started)  # NOT_CHANGED renews
        return Discovery(cached.policy)
    fetched: tuple[str, ...] = ()
    if policy_id is not None:
        policy, fetched = yield from _fetch(lookup, domain, key, timeout)
        if policy is not None:
            cache[key] = CachedPolicy(policy_id, policy, started)
            return Discovery(policy, fetched)
    if cached is not None and not cached.expired(started):
        return Discovery(cached.policy, fetched)  # a failure keeps the cached policy in force
    cache.pop(key, None)
    return Discovery(None, fetched)


def _fetch(lookup: Lookup, domain: dns.name.Name, key: str,
           timeout: float) -> Step[tuple[StsPolicy | None, tuple[str, ...]]]:
    host = dns.name.Name((b"mta-sts", *domain.labels))
    addresses: list[str] = []
    for rdtype in (A, AAAA):  # the fetchers resolve with getaddrinfo: A and AAAA (aiohttp's resolver)
        answer = yield from lookup(host, rdtype)
        addresses += [str(rdata.address) for rrset in answer.records(rdtype) for rdata in rrset]
    if not addresses:
        return None, ()
    fetch = PolicyFetch(key, addresses[0], timeout)
    reply: PolicyReply = yield fetch
    if reply.status != FetchStatus.OK:
        return None, (fetch.url,)
    try:
        return parse_policy(reply.text), (fetch.url,)
    except PolicyError:
        return None, (fetch.url,)


def enforced(policy: StsPolicy | None, strict_testing: bool = False) -> bool:
    """Whether the sender refuses hosts that fail the policy (RFC 8461 section 5)."""
    if policy is None or policy.mode == StsMode.NONE:
        return False
    return policy.mode == StsMode.ENFORCE or strict_testing


def postfix_match(pattern: str, name: str) -> bool:
    """Postfix's `secure match=` rule (tls_verify.c): `.domain` matches any name below it, at any depth."""
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern.startswith("."):
        return name.endswith(pattern)
    return name == pattern


# What a sender applying RFC 8461 section 4.2 says when a host fails the TLS requirement.
RFC8461_TLS_WORDS = {
    "not-offered": "{host}[{address}]: MTA-STS: STARTTLS not offered",
    "refused": "{host}[{address}]: MTA-STS: STARTTLS refused: {line}",
    "handshake": "{host}[{address}]: MTA-STS: TLS handshake failed",
    "certificate": "{host}[{address}]: MTA-STS: certificate not valid for the MX host name",
}


def names_allowed(requirement: TlsRequirement, names: tuple[str, ...], host: str) -> bool:
    """Whether a certificate's names meet the requirement, by the sender's own matching rule."""
    if requirement.rule == MatchRule.POSTFIX:
        return any(postfix_match(pattern, name) for pattern in requirement.patterns for name in names)
    return host.lower().rstrip(".") in {name.lower().rstrip(".") for name in names}


def tls_shortfall(session: SmtpSession, requirement: TlsRequirement) -> str | None:
    """Why a session fails a TLS requirement, as a key of the TLS_WORDS; None when it meets it.

    "not-offered": EHLO had no STARTTLS; "refused": STARTTLS got a 4xx/5xx; "handshake":
    the handshake failed; "certificate": the certificate is untrusted or names no allowed host.
    """
    if session.greeting is None or not 200 <= session.greeting.code < 300:
        return None  # the greeting decides first
    if not session.starttls_offered:
        return "not-offered"
    if session.starttls_refused is not None:
        return "refused"
    if session.tls_version is None:
        return "handshake"
    if not session.certificate or not names_allowed(requirement, session.certificate, requirement.host):
        return "certificate"
    return None
