"""What the engine asks of a world (effects) and what comes back (results).

The resolver and the MTA are generators that yield effects and receive results; a
driver per world fulfils them: in memory (`transport.model`) or over sockets. So the
decision logic is written once and never touches I/O (dnspython's `_Resolution`,
h11's bring-your-own-I/O).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

import dns.message
import dns.name
import dns.rcode
import dns.rrset

from mxsim.pickling import by_fields
from mxsim.units import format_duration


class NetError(StrEnum):
    """How an exchange failed, decided once at the transport edge, by type not text."""

    TIMEOUT = "timeout"
    REFUSED = "refused"  # TCP RST / ICMP port unreachable
    UNREACHABLE = "unreachable"


@dataclass(slots=True, init=False)  # not frozen: made per question a cache cannot answer (mxsim/mta/results.py)
class DnsExchange:
    """Send `message` to `address` (port 53) and wait at most `timeout` seconds."""

    address: str
    message: dns.message.Message
    tcp: bool
    timeout: float

    def __init__(self, address: str, message: dns.message.Message, tcp: bool, timeout: float) -> None:
        self.address = address
        self.message = message
        self.tcp = tcp
        self.timeout = timeout


@dataclass(slots=True, init=False)  # not frozen: made per question a cache cannot answer (mxsim/mta/results.py)
class DnsResult:
    message: dns.message.Message | None
    elapsed: float
    error: NetError | None
    server: dns.name.Name | None  # the name of the server at that address, if known
    backend: str | None  # the farm member that answered (the model knows; the wire does not)
    nsid: str | None  # from the reply's EDNS NSID option, or the model's backend

    def __init__(self, message: dns.message.Message | None, elapsed: float, error: NetError | None = None,
                 server: dns.name.Name | None = None, backend: str | None = None, nsid: str | None = None) -> None:
        self.message = message
        self.elapsed = elapsed
        self.error = error
        self.server = server
        self.backend = backend
        self.nsid = nsid


@dataclass(slots=True, init=False)  # not frozen: made per question a cache cannot answer (mxsim/mta/results.py)
class DnsReply:
    """A recursive resolver's reply as a stub library reads it: rcode and sections.

    Lighter than `dns.message.Message` (the model builds one per question the MTA
    asks); a wire reply converts with `from_message`. `age` is how long the reply
    sat in the resolver's message cache: a record's TTL as served is ttl - age.
    """

    rcode_value: dns.rcode.Rcode
    answer: tuple[dns.rrset.RRset, ...]
    authority: tuple[dns.rrset.RRset, ...]
    age: int

    def __init__(self, rcode_value: dns.rcode.Rcode, answer: tuple[dns.rrset.RRset, ...] = (),
                 authority: tuple[dns.rrset.RRset, ...] = (), age: int = 0) -> None:
        self.rcode_value = rcode_value
        self.answer = answer
        self.authority = authority
        self.age = age

    def rcode(self) -> dns.rcode.Rcode:
        return self.rcode_value

    def served_ttl(self, rrset: dns.rrset.RRset) -> int:
        return max(0, rrset.ttl - self.age)

    @classmethod
    def from_message(cls, message: dns.message.Message) -> DnsReply:
        return cls(message.rcode(), tuple(message.answer), tuple(message.authority))


@dataclass(frozen=True, slots=True)
class Reply:
    """An SMTP reply: code and text (RFC 5321 §4.2)."""

    code: int
    text: str

    @property
    def line(self) -> str:
        return f"{self.code} {self.text}"


@dataclass(frozen=True, slots=True)
class SmtpProbe:
    """Open TCP to address:port, read the greeting, EHLO, maybe STARTTLS, QUIT. No MAIL."""

    address: str
    port: int
    helo: str
    connect_timeout: float
    greeting_timeout: float
    starttls: bool = False


class ConnectResult(StrEnum):
    CONNECTED = "connected"
    TIMEOUT = "timeout"
    REFUSED = "refused"
    UNREACHABLE = "unreachable"


class ProbeStep(StrEnum):
    """The waits of a probe after the connect, in the order it makes them."""

    GREETING = "greeting"
    EHLO = "EHLO"
    STARTTLS = "STARTTLS"
    HANDSHAKE = "TLS handshake"
    EHLO_TLS = "EHLO after STARTTLS"
    QUIT = "QUIT"


class Stop(StrEnum):
    """How a wait ended without a usable reply."""

    TIMEOUT = "timeout"  # no reply, or not all of one, within the wait
    CLOSED = "closed"  # the host closed or reset the connection
    LINE_TOO_LONG = "line too long"  # a reply line over RFC 5321's 512 octets
    TOO_MANY_LINES = "too many lines"  # a multi-line reply past the probe's cap
    MALFORMED = "malformed"  # a line that is not an SMTP reply line


@dataclass(frozen=True, slots=True)
class Stopped:
    """The wait where a probe's conversation stopped, how, and the limits it had."""

    step: ProbeStep
    how: Stop
    waited: float  # the wait allowed, in the engine's seconds
    received: int = 0  # octets of the unfinished reply
    limit: int = 0  # the limit passed: octets in a line, or lines in a reply

    def describe(self) -> str:
        """In a few words, e.g. "no reply to EHLO within 3s"."""
        within = format_duration(self.waited)
        step = self.step
        if step == ProbeStep.HANDSHAKE:  # no reply lines here: it times out or the host closes
            return (f"TLS handshake not done within {within}" if self.how == Stop.TIMEOUT
                    else "closed during the TLS handshake")
        reply = "greeting" if step == ProbeStep.GREETING else f"reply to {step.value}"
        if self.how == Stop.TIMEOUT and not self.received:
            return f"no {reply} within {within}"
        if self.how == Stop.TIMEOUT:
            return f"{reply} incomplete after {within} ({self.received} octet{'' if self.received == 1 else 's'})"
        if self.how == Stop.CLOSED:
            if step == ProbeStep.GREETING:
                return "closed during the greeting" if self.received else "closed before the greeting"
            return f"closed during {step.value}"
        if self.how == Stop.LINE_TOO_LONG:
            return f"{reply} too long (a line over {self.limit} octets)"
        if self.how == Stop.TOO_MANY_LINES:
            return f"{reply} too long (over {self.limit} lines)"
        return f"{reply} malformed (not an SMTP reply line)"


@dataclass(frozen=True, slots=True)
class SmtpSession:
    """What one probe saw, as events in order."""

    connect: ConnectResult
    elapsed: float
    greeting: Reply | None = None
    greeting_timeout: bool = False  # connected, no (complete) greeting within the timeout
    closed: bool = False  # connected, closed before greeting
    ehlo: Reply | None = None
    starttls_offered: bool = False
    # When STARTTLS was offered and asked for: the protocol the handshake settled on
    # ("TLSv1.3"), or the reply that refused it (454), or, in a few words, why the upgrade
    # failed (no reply to STARTTLS, the handshake, EHLO after it).
    tls_version: str | None = None
    starttls_refused: Reply | None = None
    tls_error: str | None = None
    # The names the server's certificate holds, when a handshake was made and its issuer is
    # trusted (the lab's CA); empty otherwise. MTA-STS senders match them against a policy.
    certificate: tuple[str, ...] = ()
    # The first wait that ended without a usable reply (the wire's probes; the model's
    # sessions say the same with `greeting_timeout` and `closed`).
    stopped: Stopped | None = None


class FetchStatus(StrEnum):
    """How an MTA-STS policy fetch (RFC 8461 section 3.3) ended, decided at the transport edge."""

    OK = "ok"  # HTTP 200, text/plain: `text` is the body
    NOT_FOUND = "not-found"  # any other HTTP status
    TLS_ERROR = "tls-error"  # the certificate was not trusted, or the handshake failed
    TIMEOUT = "timeout"
    REFUSED = "refused"  # nothing listens on port 443 there


@dataclass(frozen=True, slots=True)
class PolicyFetch:
    """GET https://mta-sts.<domain>/.well-known/mta-sts.txt from `address`, within `timeout`."""

    domain: str  # the policy domain, lower case, no trailing dot
    address: str  # of mta-sts.<domain>, as the sender resolved it
    timeout: float

    @property
    def url(self) -> str:
        return f"https://mta-sts.{self.domain}/.well-known/mta-sts.txt"


@dataclass(frozen=True, slots=True)
class PolicyReply:
    status: FetchStatus
    elapsed: float
    text: str = ""


Effect = DnsExchange | SmtpProbe | PolicyFetch
Result = DnsResult | SmtpSession | PolicyReply
T = TypeVar("T")
# An engine step: yields effects, is sent their results, returns a value.
Step = Generator[Effect, Any, T]


by_fields(globals())  # frozen dataclasses pickle alike in the compiled build (mxsim/pickling.py)
