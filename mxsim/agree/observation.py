"""What one delivery attempt looked like, as the agreement harness compares it.

The same shape is filled from a real MTA (unbound's query log, the MTA's log, the lab's
SMTP sinks) and from the model (`run_trace`), so the comparison is field by field.
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass, field
from typing import Any


def address_text(text: str) -> str:
    """One spelling per address: `[IPv6:2001:db8:25:0:0:0:0:25]` (Sendmail) is 2001:db8:25::25."""
    bare = text.strip("[]")
    bare = bare[5:] if bare.lower().startswith("ipv6:") else bare
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        return text


@dataclass(frozen=True, slots=True)
class Question:
    """One DNS question the MTA asked its resolver, with the reply's RCODE if one came."""

    qname: str  # lower case, no final dot
    qtype: str
    rcode: str | None = None

    def text(self) -> str:
        return f"{self.qname} {self.qtype}" + (f" -> {self.rcode}" if self.rcode else "")


@dataclass(frozen=True, slots=True)
class Try:
    """One connection the MTA tried: the name it used, the real address, what happened.

    `result` uses the model's words (mxsim.mta.results.AttemptResult): accepted, timeout,
    refused, banner_timeout, rejected, tempfail, closed, unreachable.
    """

    host: str
    address: str
    result: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", address_text(self.address))

    def text(self) -> str:
        return f"{self.host} [{self.address}] {self.result}"


@dataclass(slots=True)
class Observation:
    """One MTA's first delivery attempt of one message."""

    mta: str
    version: str
    dns: list[Question] = field(default_factory=list)
    attempts: list[Try] = field(default_factory=list)
    envelope_recipient: str | None = None  # None: not observable (no RCPT reached a sink)
    envelope_source: str = ""  # where it was read: "smtp sink", "log", "queue", "model"
    outcome: str | None = None  # delivered | deferred | bounced; None: none logged in time
    dsn: str | None = None
    logged_names: list[str] = field(default_factory=list)  # host names the MTA logged
    logged: dict[str, str] = field(default_factory=dict)  # address -> name logged beside it
    evidence: list[str] = field(default_factory=list)  # the MTA's log lines (addresses mapped)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0  # wall time from submission to the logged outcome
    expired: str | None = None  # what the MTA logged it told the sender when the message expired
    # The addresses on the MTA host's interfaces, in interface order (real side only): the
    # model's host is described with them (mta/host_questions.py).
    interfaces: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["elapsed_s"] = data.pop("seconds")  # JSON names a duration in seconds *_s
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Observation:
        return cls(
            mta=str(data["mta"]),
            version=str(data["version"]),
            dns=[Question(**q) for q in data.get("dns", [])],
            attempts=[Try(**t) for t in data.get("attempts", [])],
            envelope_recipient=data.get("envelope_recipient"),
            envelope_source=str(data.get("envelope_source", "")),
            outcome=data.get("outcome"),
            dsn=data.get("dsn"),
            logged_names=[str(n) for n in data.get("logged_names", [])],
            logged={str(k): str(v) for k, v in data.get("logged", {}).items()},
            evidence=[str(e) for e in data.get("evidence", [])],
            notes=[str(n) for n in data.get("notes", [])],
            seconds=float(data.get("elapsed_s", data.get("seconds", 0.0))),
            expired=data.get("expired"),
            interfaces=[str(a) for a in data.get("interfaces", [])],
        )
