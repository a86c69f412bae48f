"""The verdict of one delivery attempt: what a reader wants before the detail.

A host is named by the owner of its address (the name whose A or AAAA record holds it:
the end of a CNAME chain) as well as by the name the MTA used, because "times out at
wa-students.org" hides what an operator must see: the mail went to a web host.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

import dns.rdatatype

from mxsim.memo import IdentityMemo
from mxsim.mta.results import Attempt, AttemptResult, Delivery, Outcome
from mxsim.pickling import by_fields

_FAILED_AT: Final = {
    AttemptResult.TIMEOUT: "times out at",
    AttemptResult.REFUSED: "refused by",
    AttemptResult.UNREACHABLE: "cannot reach",
    AttemptResult.BANNER_TIMEOUT: "no greeting from",
    AttemptResult.REJECTED: "rejected by",
    AttemptResult.TEMPFAIL: "turned away for now by",
    AttemptResult.CLOSED: "connection closed by",
    AttemptResult.ACCEPTED: "accepted by",
    AttemptResult.TLS_FAILED: "no acceptable TLS at",
}
MTA_WIDTH: Final = 10
_CLAUSE: Final = re.compile(r": |; | \(|\. ")


@dataclass(frozen=True, slots=True)
class Verdict:
    mta: str
    outcome: Outcome
    dsn: str
    what: str  # e.g. "times out at", "delivered to", or the reason when no host was tried
    host: str | None  # the name the MTA used
    address: str | None
    owner: str | None  # the name whose address record holds `address`
    rewritten_to: str | None = None  # the RCPT TO, when the MTA rewrote the recipient

    @property
    def where(self) -> str:
        if self.host is None:
            return self.what
        owner = self.owner or self.host
        line = f"{self.what} {owner} [{self.address}]"
        if owner != self.host:
            line += f" (looked up as {self.host} via a CNAME chain)"
        if self.rewritten_to is not None:
            line += f" (recipient rewritten to {self.rewritten_to})"
        return line

    def line(self) -> str:
        code = self.dsn if self.outcome != Outcome.DELIVERED else ""
        return f"{self.mta:<{MTA_WIDTH}} {self.outcome.value.upper():<9} {code:<6} {self.where}".rstrip()

    def to_json(self) -> dict[str, Any]:
        return {"outcome": self.outcome.value, "dsn": self.dsn, "host": self.host, "address": self.address,
                "owner": self.owner, "rewritten_to": self.rewritten_to, "text": self.where}


def address_owners(delivery: Delivery) -> dict[str, str]:
    """address -> the name whose A/AAAA record holds it, from the answers this MTA read.

    Worked out once per tuple of answers: a replay's remembered attempts hand the same
    tuple on (mxsim/mta/attempt_memo.py). The dict is shared: read it, do not change it."""
    alone = not delivery.relay_dns and bool(delivery.dns)
    if alone:
        known = _OWNERS.get(delivery.dns)
        if known is not None:
            return known
    owners: dict[str, str] = {}
    for answer in (*delivery.dns, *delivery.relay_dns):
        if answer.response is None:
            continue
        for rrset in answer.response.answer:
            if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                for rdata in rrset:
                    owners.setdefault(str(rdata.address), rrset.name.to_text(omit_final_dot=True).lower())
    return _OWNERS.put(delivery.dns, owners) if alone else owners


_OWNERS: Final[IdentityMemo[dict[str, str]]] = IdentityMemo(4096)


def _decisive(delivery: Delivery) -> Attempt | None:
    """The attempt the outcome rests on: the accepting one, else the last one tried."""
    accepted = [a for a in delivery.attempts if a.result == AttemptResult.ACCEPTED]
    if accepted:
        return accepted[-1]
    return delivery.attempts[-1] if delivery.attempts else None


def verdict_of(delivery: Delivery) -> Verdict:
    attempt = _decisive(delivery)
    if attempt is None:
        return Verdict(delivery.mta, delivery.outcome, delivery.dsn, delivery.reason, None, None, None)
    delivered = delivery.outcome == Outcome.DELIVERED
    what = "delivered to" if delivered else _FAILED_AT[attempt.result]
    owner = address_owners(delivery).get(attempt.address)
    rewritten = delivery.envelope_recipient if delivery.envelope_recipient != delivery.recipient else None
    return Verdict(delivery.mta, delivery.outcome, delivery.dsn, what, attempt.host.rstrip("."), attempt.address,
                   owner, rewritten)


def failed_at(delivery: Delivery) -> str:
    """Where an attempt that did not deliver ended: the host by its address's owner, or what held it."""
    attempt = _decisive(delivery)
    if attempt is None:
        # A long reason's first clause names the case ("Host unknown", "delivery temporarily
        # suspended"); what follows names the message or repeats a remembered error.
        reason = delivery.reason
        head = reason if len(reason) <= 60 else _CLAUSE.split(reason, maxsplit=1)[0]
        return head if len(head) <= 60 else head[:59] + "…"
    return address_owners(delivery).get(attempt.address) or attempt.host.rstrip(".")


by_fields(globals())  # frozen dataclasses pickle alike in the compiled build (mxsim/pickling.py)
