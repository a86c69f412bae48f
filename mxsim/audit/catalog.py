"""The finding catalogue of `mxsim check`: stable IDs, levels, RFCs, arguments, templates.

Data only (Zonemaster's message tags): an ID is `PREFIX##_NAME`, the prefix names the
area (DEL delegation, NS name servers, AA authority flag, TTL, APEX, CONS consistency,
MX, SPF, SMTP, PATH delivery paths, STS MTA-STS). Renaming an ID is a breaking change: scripts and
CI gates match on them. `docs/findings.md` is generated from this module
(`python -m mxsim.audit.catalog > docs/findings.md`), and a test keeps the two equal.

Argument names are one vocabulary, shared by every template:

    domain   the domain checked           zone     a zone (apex) name
    ns       a name server's name(s)      ns_ip    one name server address
    backend  NSID, or `fp-XXXXXX` (a fingerprint of the replies when there is no NSID)
    qtype    a query type                 rd       "RD set" or "RD clear"
    share    a share of replies, "33%"    count    a number
    target   a CNAME target               mx       an MX exchange
    host     a mail host name             address  a mail host address
    variants what each server/backend said, "; "-separated
    and a few named where they are used (parent, parent_ns, child_ns, serials, ttls,
    rrset, rcode, error, loss, reason, types, mtas, outcome, reply, queries, backends,
    and for MTA-STS: url, patterns, max_age, window, policy_id, at, since).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from enum import IntEnum


class Level(IntEnum):
    """Zonemaster's severity levels (SeverityLevelDefinitions.md); comparable by rank."""

    INFO = 1  # worth knowing; nothing is wrong
    NOTICE = 2  # unusual, possibly intended
    WARNING = 3  # wrong, and some senders or resolvers will suffer for it
    ERROR = 4  # mail or DNS breaks for some senders
    CRITICAL = 5  # the domain cannot receive mail at all

    @property
    def label(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class FindingSpec:
    """One catalogue entry: what a finding means, once."""

    id: str
    level: Level
    rfc: str  # the text it rests on, e.g. "RFC 1034 §3.6.2"
    args: tuple[str, ...]  # the named arguments the template uses, in order
    template: str  # str.format template over `args`
    about: str  # why it matters, one or two sentences (docs/findings.md)


def _spec(id: str, level: Level, rfc: str, template: str, about: str) -> FindingSpec:
    args = tuple(dict.fromkeys(re.findall(r"{(\w+)}", template)))
    return FindingSpec(id, level, rfc, args, template, about)


INF, N, W, E, C = Level.INFO, Level.NOTICE, Level.WARNING, Level.ERROR, Level.CRITICAL

CATALOG_LIST: tuple[FindingSpec, ...] = (
    # -- delegation -------------------------------------------------------------------------
    _spec("DEL01_NXDOMAIN", C, "RFC 1034 §4.3.2",
          "{domain} does not exist: the servers of {parent} answer NXDOMAIN",
          "No MX, no address: every sender bounces mail to the domain at once."),
    _spec("DEL02_NOT_A_ZONE", N, "RFC 1034 §4.2",
          "{domain} is not delegated: it is a name inside zone {zone}, whose servers were checked",
          "Only a note: the checks ran against the servers of the enclosing zone."),
    _spec("DEL03_PARENT_CHILD_NS", W, "RFC 1034 §4.2.2",
          "the parent {parent} delegates {domain} to {parent_ns}, the zone's own NS set is {child_ns}",
          "Resolvers use both sets over time; a server in one set only is queried by some and not others."),
    _spec("DEL04_NS_NO_ADDRESS", E, "RFC 1034 §4.2.2",
          "name server {ns} of {domain} has no address (no A or AAAA record)",
          "A name server without an address cannot be asked: resolvers waste time on it."),
    # -- name servers -----------------------------------------------------------------------
    _spec("NS01_SILENT", E, "RFC 1034 §4.3.1",
          "{ns} [{ns_ip}] answered none of {queries} queries for {domain}; what it serves is unknown",
          "A silent server costs every resolver that picks it a timeout before it tries another."),
    _spec("NS02_LAME", E, "RFC 1034 §4.2.2, RFC 8499 §7",
          "{ns} [{ns_ip}] does not serve {domain}: backend {backend} answers {rcode} to {share} of queries",
          "A lame server turns a share of lookups into SERVFAIL or retries at the resolver."),
    _spec("NS03_PACKET_LOSS", W, "RFC 1035 §4.2.1",
          "{ns} [{ns_ip}] left {loss} of queries unanswered; those samples count as unknown, not as missing data",
          "Lost queries cost resolvers timeouts and retries; a measurement over them is unknown, never absent."),
    _spec("NS04_NO_TCP", W, "RFC 7766 §5",
          "{ns} [{ns_ip}] did not answer over TCP ({error})",
          "Answers that do not fit in UDP cannot be fetched, and RFC 7766 makes TCP mandatory."),
    _spec("NS05_NO_EDNS", N, "RFC 6891 §7",
          "{ns} [{ns_ip}] answers queries with EDNS with {rcode}",
          "Resolvers fall back to plain DNS after a delay; NSID cannot tell backends apart."),
    _spec("NS06_NO_NSID", INF, "RFC 5001",
          "{ns} [{ns_ip}] sends no NSID: its backends are told apart by a fingerprint of their replies",
          "Without NSID, a farm's members can only be grouped by what they answer."),
    _spec("NS07_FARM", INF, "RFC 5001",
          "{ns} [{ns_ip}] is answered by {count} backends: {backends}",
          "One address, several machines: each query may reach a different one."),
    # -- the AA flag and the authority section ----------------------------------------------
    _spec("AA01_NOT_AUTHORITATIVE", E, "RFC 1035 §4.1.1, RFC 1034 §4.3.1",
          "backend {backend} on {ns} [{ns_ip}] answers {domain} {qtype} without AA with {rd} ({share} of its replies)",
          "A delegated server must answer its zone authoritatively; resolvers treat anything else as lame."),
    _spec("AA02_NOT_AUTHORITATIVE_RD", W, "RFC 1035 §4.1.1",
          "backend {backend} on {ns} [{ns_ip}] drops AA when RD is set, as a cache would "
          "({domain} {qtype}, {share} of its replies with RD set)",
          "Checks that send RD clear (as resolvers do) miss this; dig with its default RD sees a cache."),
    _spec("AA03_UPWARD_REFERRAL", W, "RFC 8499 §7, RFC 1034 §4.3.1",
          "backend {backend} on {ns} [{ns_ip}] puts the NS set of {zone} in the authority section "
          "of {share} of its answers (an upward referral)",
          "An authoritative server that refers upwards behaves like a cache or a misconfigured farm member."),
    # -- TTLs --------------------------------------------------------------------------------
    _spec("TTL01_COUNTDOWN", W, "RFC 1034 §4.3.2, RFC 2181 §8",
          "backend {backend} on {ns} [{ns_ip}] counts TTLs down like a cache: {rrset} seen with TTL {ttls}",
          "Authoritative data carries the zone's TTL; a countdown shows the answer comes from a cache."),
    _spec("TTL02_SKEW", N, "RFC 2181 §5.2",
          "{rrset} is served with different TTLs: {ttls}",
          "Reported apart from data differences: the same records with other TTLs are not inconsistent data."),
    # -- the apex ---------------------------------------------------------------------------
    _spec("APEX01_CNAME", E, "RFC 1034 §3.6.2, RFC 2181 §10.1, RFC 1912 §2.4",
          "backend {backend} on {ns} [{ns_ip}] answers the apex {domain} with a CNAME to {target} "
          "({share} of its replies): the SOA, NS, MX and TXT records are hidden behind it",
          "A CNAME cannot sit beside the SOA and NS of a zone apex; senders that get it follow it "
          "and look for MX at the target."),
    _spec("APEX02_CNAME_AND_OTHER_DATA", E, "RFC 1034 §3.6.2, RFC 2181 §10.1",
          "backend {backend} on {ns} [{ns_ip}] has a CNAME and other data at {domain} ({types})",
          "If a CNAME is present at a node, no other data may be; resolvers differ in which they keep."),
    # -- consistency between addresses and backends ----------------------------------------
    _spec("CONS01_MX", E, "RFC 1034 §4.3.5, RFC 5321 §5.1",
          "the MX answer for {domain} differs between servers or backends: {variants}",
          "Which mail hosts a sender uses depends on which backend its resolver reached."),
    _spec("CONS02_TXT", W, "RFC 1034 §4.3.5",
          "the TXT answer for {domain} differs between servers or backends: {variants}",
          "SPF, DKIM and verification records come and go with the backend a resolver reaches."),
    _spec("CONS03_SOA", W, "RFC 1034 §4.3.5, RFC 1996",
          "the SOA of {domain} differs between servers or backends (serials {serials}): {variants}",
          "Servers not in sync serve different versions of the zone."),
    _spec("CONS04_NS", W, "RFC 1034 §4.2.2",
          "the NS set of {domain} differs between servers or backends: {variants}",
          "Resolvers learn different server sets depending on whom they asked."),
    _spec("CONS05_ADDRESS", W, "RFC 1034 §4.3.5",
          "the {qtype} answer for {domain} differs between servers or backends: {variants}",
          "The domain's own addresses (its implicit MX) depend on the backend reached."),
    # -- MX --------------------------------------------------------------------------------
    _spec("MX01_TARGET_CNAME", E, "RFC 2181 §10.3, RFC 5321 §5.1",
          "MX {mx} of {domain} is an alias (CNAME to {target})",
          "An MX exchange must be the canonical name of a host; some MTAs refuse an alias."),
    _spec("MX02_TARGET_IP_LITERAL", E, "RFC 1035 §3.3.9, RFC 5321 §5.1",
          "MX {mx} of {domain} is an IP address written as a name",
          "The exchange is a domain name; MTAs differ in whether they connect to the address it spells."),
    _spec("MX03_TARGET_NO_ADDRESS", E, "RFC 5321 §5.1",
          "MX {mx} of {domain} has no address ({reason})",
          "Senders skip an MX host they cannot resolve; with no other, mail defers or bounces."),
    _spec("MX04_NULL_MX_MIXED", E, "RFC 7505 §3",
          "{domain} publishes a null MX beside other MX records ({variants})",
          "A null MX must be the only MX record; MTAs disagree on what a mixed set means."),
    _spec("MX05_NO_MX", N, "RFC 5321 §5.1",
          "{domain} has no MX record: mail goes to its own address records (implicit MX)",
          "Works, but any web host behind those addresses receives the mail connections."),
    # -- SPF -------------------------------------------------------------------------------
    _spec("SPF01_MISSING", E, "RFC 7208 §4.5",
          "backend {backend} on {ns} [{ns_ip}] answers TXT {domain} with no SPF record "
          "({share} of its replies) while other backends publish one",
          "Receivers that reach this backend see no SPF policy: mail may be rejected or spoofed."),
    _spec("SPF02_DIFFERS", E, "RFC 7208 §4.5",
          "the SPF record of {domain} differs between backends: {variants}",
          "The policy a receiver applies depends on the backend its resolver reached."),
    _spec("SPF03_MULTIPLE", E, "RFC 7208 §3.2",
          "{domain} publishes {count} SPF records (backend {backend} on {ns} [{ns_ip}]); "
          "receivers must treat this as a permanent error",
          "RFC 7208: more than one v=spf1 record is a permerror."),
    _spec("SPF04_NONE", N, "RFC 7208 §2.1",
          "{domain} publishes no SPF record",
          "Receivers cannot tell which hosts may send for the domain."),
    # -- SMTP at the hosts on a path --------------------------------------------------------
    _spec("SMTP01_NO_ANSWER", N, "RFC 5321 §3.8",
          "{host} [{address}] did not answer on port 25 ({result}): unknown from this vantage point",
          "A timeout or refusal here may be the host, or port 25 blocked near the checker."),
    _spec("SMTP02_GREETING_REFUSED", W, "RFC 5321 §3.1",
          "{host} [{address}] greets with {reply}",
          "A 4xx/5xx greeting turns every sender away from this host."),
    _spec("SMTP03_NO_STARTTLS", N, "RFC 3207",
          "{host} [{address}] does not offer STARTTLS",
          "Mail to this host travels in clear text."),
    _spec("SMTP04_STARTTLS_FAILS", W, "RFC 3207",
          "{host} [{address}] offers STARTTLS but the upgrade fails: {reason}",
          "Opportunistic senders fall back to clear text; senders that require TLS (MTA-STS, "
          "DANE, a policy) defer, then bounce."),
    _spec("SMTP05_CONVERSATION_FAILS", W, "RFC 5321 §4.5.3.1.5",
          "{host} [{address}] breaks off the SMTP conversation before mail could be sent: {reason}",
          "A host that closes, or answers outside RFC 5321's limits (a reply line over 512 octets) or "
          "not in SMTP at all, gets no mail: senders try the next MX host, then defer."),
    # -- delivery paths ---------------------------------------------------------------------
    _spec("PATH01_NOT_DELIVERED", E, "RFC 5321 §5.1",
          "for {share} of lookups ({backends}), mail to {domain} is not delivered under {mtas}: "
          "{outcome} at {host} ({reason})",
          "The model engine, fed with what the servers said and the hosts did, finds no accepting host."),
    _spec("PATH02_ELSEWHERE", W, "RFC 5321 §5.1",
          "for {share} of lookups ({backends}), mail to {domain} goes to {host}, which is not an MX host "
          "of the domain's zone data",
          "Mail reaches a host the domain never named as a mail exchanger."),
    _spec("PATH03_MTAS_DIFFER", N, "RFC 5321 §5.1",
          "for {share} of lookups ({backends}), MTAs disagree: {outcome}",
          "Whether mail arrives depends on the sender's MTA."),
    # -- MTA-STS (RFC 8461) -----------------------------------------------------------------
    _spec("STS01_POLICY_UNREACHABLE", W, "RFC 8461 §3.3",
          "{domain} publishes an MTA-STS record, but its policy at {url} cannot be fetched: {reason}",
          "Senders without a cached policy deliver unprotected; senders with one keep it until it "
          "expires, so a corrected policy is not seen by them either."),
    _spec("STS02_ENFORCE_MX_MISMATCH", E, "RFC 8461 §4.1",
          "MX host {mx} of {domain} matches no mx pattern of its enforce MTA-STS policy ({patterns}): "
          "senders that enforce MTA-STS will not deliver there",
          "The migration trap: the MX moved, the policy still lists the old hosts. Senders that enforce "
          "MTA-STS skip the host (or fail its certificate) and defer, for as long as they keep the policy."),
    _spec("STS03_TESTING_MX_MISMATCH", W, "RFC 8461 §5",
          "MX host {mx} of {domain} matches no mx pattern of its testing MTA-STS policy ({patterns}): "
          "mail still flows, and turning the policy to enforce would stop it",
          "In testing mode senders deliver anyway and only report; the policy is wrong all the same."),
    _spec("STS04_MAX_AGE_LONG", N, "RFC 8461 §3.2",
          "the MTA-STS policy of {domain} has max_age {max_age}, longer than a migration window of {window}: "
          "a sender may keep it that long after its last fetch",
          "Before moving the MX, a short max_age (and a new id with the new policy) lets senders' caches "
          "follow within the window; a long one keeps the old MX list in force for that long."),
    _spec("STS05_ID_UNCHANGED", W, "RFC 8461 §3.1",
          "the MTA-STS policy of {domain} changes at {at} while the id in its _mta-sts TXT record stays {policy_id}, "
          "as it was since {since}: senders that fetched the policy before keep the old one",
          "A sender fetches the policy again only when the id changes (postfix-mta-sts-resolver never does "
          "while it stays the same), so an edited policy needs a new id. Seen in a scenario's timeline; a live "
          "check sees one moment and cannot tell (docs/findings.md#mta-sts-over-time)."),
)

CATALOG: dict[str, FindingSpec] = {spec.id: spec for spec in CATALOG_LIST}


STS_OVER_TIME = (
    "## MTA-STS over time",
    "",
    "A live `check` sees one moment: the `_mta-sts` TXT record and its `id` as they are",
    "now, the policy fetched now, the MX set now. From that it finds a policy that cannot be",
    "fetched (STS01), MX hosts the policy does not allow (STS02, STS03) and a `max_age`",
    "longer than a migration window (STS04). What it cannot see is what senders fetched",
    "before: whether the policy now served is the one published under this `id` last week,",
    "or an edit that no sender holding the old one will ever fetch (the `id` decides when",
    "they fetch again). Nothing on the wire tells the two apart; only the policy's history",
    "does, and the policy operator has it, not the checker.",
    "",
    "A scenario's `timeline` is such a history. With `check --lab STATE` on a lab that",
    "serves a scenario with a timeline, `check` also reads every moment of it: at the start",
    "and at each change, the policy served (mode, mx patterns, max_age) against the `id` in",
    "the TXT record at that time, and reports STS05 where the policy changes while the",
    "`id` stays. The lab itself is checked live as usual, at the moment the check runs.",
)


def markdown() -> str:
    """docs/findings.md: the catalogue as a page, from this module."""
    lines = [
        "# `mxsim check` findings",
        "",
        "Generated from `mxsim/audit/catalog.py` (`python -m mxsim.audit.catalog > docs/findings.md`).",
        "IDs are stable: renaming one is a breaking change. Levels follow Zonemaster's:",
        "INFO, NOTICE, WARNING, ERROR, CRITICAL; `--fail-on warning` (the default) fails",
        "on WARNING and above, `--fail-on error` on ERROR and above.",
        "",
        "Every finding carries evidence: the server address, the backend (NSID, or a",
        "fingerprint `fp-XXXXXX` when the server sends none), the query and the share",
        "of replies it rests on. A timeout or a refusal is never read as missing data:",
        "those samples count as unknown.",
        "",
        "| ID | Level | RFC | Arguments | Message |",
        "|----|-------|-----|-----------|---------|",
    ]
    for spec in CATALOG_LIST:
        template = spec.template.replace("|", "\\|")
        lines.append(f"| `{spec.id}` | {spec.level.label} | {spec.rfc} | {', '.join(spec.args)} | {template} |")
    lines += ["", "## What each means", ""]
    for spec in CATALOG_LIST:
        lines.append(f"- **{spec.id}** ({spec.level.label}, {spec.rfc}): {spec.about}")
    lines += ["", *STS_OVER_TIME]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown())
