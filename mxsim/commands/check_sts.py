"""`mxsim check`'s look at MTA-STS (RFC 8461): the `_mta-sts` TXT record, then the policy over HTTPS.

What a sender would fetch, fetched once over the wire: the TXT record through the check's
resolver, the policy host's address, and `https://mta-sts.<domain>/.well-known/mta-sts.txt`
(trusting the lab's CA when checking a lab). The findings are `audit.checks.sts_findings`;
in a lab whose scenario has a timeline, also `audit.sts_history` over every moment of it.
"""

from __future__ import annotations

from pathlib import Path

import dns.name
import dns.rdatatype

from mxsim.audit.checks import StsFacts
from mxsim.commands.check_run import RESOLVE_WAIT, CheckRun
from mxsim.errors import ScenarioError
from mxsim.mta.sts import record_id, txt_texts
from mxsim.names import text as name_text
from mxsim.scenario import load_scenario
from mxsim.scenario.mta_sts import PolicyError, parse_policy
from mxsim.scenario.spec import ScenarioSpec
from mxsim.transport.base import DnsReply, FetchStatus, PolicyFetch, PolicyReply, Step

FETCH_PROBLEMS = {
    FetchStatus.NOT_FOUND: "no policy there (an HTTP status other than 200, or not text/plain)",
    FetchStatus.TLS_ERROR: "its certificate is not trusted, or the TLS handshake failed",
    FetchStatus.TIMEOUT: "no answer in time",
    FetchStatus.REFUSED: "nothing answers on port 443",
}


def served_history(scenario_file: str) -> ScenarioSpec | None:
    """The scenario a lab serves, when it has a timeline to read; None without one, or when it no longer loads."""
    try:
        if Path(scenario_file).is_file():
            text = Path(scenario_file).read_text(encoding="utf-8", errors="replace")
            if "timeline" not in text and "file:" not in text:
                return None  # no timeline to read: a farm of a thousand zones takes seconds to load for nothing
        spec = load_scenario(scenario_file)
    except (ScenarioError, OSError):
        return None  # edited or removed since `lab up`: the live check still runs
    return spec if spec.timeline else None


async def sts_facts(run: CheckRun, domain: dns.name.Name) -> StsFacts:
    (facts,) = await run.gather([_look(run, domain)])
    assert isinstance(facts, StsFacts)
    return facts


def _resolve(run: CheckRun, qname: dns.name.Name, qtype: dns.rdatatype.RdataType) -> Step[DnsReply | None]:
    """A lookup that is no part of the mail path: a failure is not counted among the path's unknowns."""
    resolved = yield from run.resolver.resolve(qname, qtype, budget=RESOLVE_WAIT)
    return None if resolved.timed_out else resolved.response


def _look(run: CheckRun, domain: dns.name.Name) -> Step[object]:
    record = dns.name.Name((b"_mta-sts", *domain.labels))
    reply = yield from _resolve(run, record, dns.rdatatype.TXT)
    policy_id = record_id(txt_texts(rr for rr in reply.answer if rr.name == record)) if reply is not None else None
    if policy_id is None:
        return StsFacts(None)
    host = dns.name.Name((b"mta-sts", *domain.labels))
    fetch = PolicyFetch(name_text(domain).lower(), "", run.config.smtp_timeout)
    addresses: list[str] = []
    for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
        answer = yield from _resolve(run, host, rdtype)
        addresses += [str(r.address) for rrset in (answer.answer if answer else ()) if rrset.rdtype == rdtype
                      for r in rrset]
    if not addresses:
        return StsFacts(policy_id, fetch.url, problem=f"{name_text(host)} has no address")
    fetch = PolicyFetch(fetch.domain, addresses[0], fetch.timeout)
    got: PolicyReply = yield fetch
    if got.status != FetchStatus.OK:
        return StsFacts(policy_id, fetch.url, fetch.address, got.status, problem=FETCH_PROBLEMS[got.status])
    try:
        policy = parse_policy(got.text)
    except PolicyError as error:
        return StsFacts(policy_id, fetch.url, fetch.address, got.status, problem=f"the policy is not valid: {error}")
    return StsFacts(policy_id, fetch.url, fetch.address, got.status, policy)
