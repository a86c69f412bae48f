"""Zone-file text (a zone, or a backend's `answer` lines) read with dnspython, within limits.

Errors come out as `DnsTextError` with the 1-based line within the text; the loader adds
the file and the offset of the text in it. The limits of `mxsim.scenario.limits` are
checked before the work they bound: a `$GENERATE` range is counted before dnspython
expands it, and every record is counted as the reader stores it, so the reader stops at
the first record past a limit (its cost grows with the square of an RRset's size).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import dns.exception
import dns.grange
import dns.name
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.tokenizer
import dns.transaction
import dns.zone
import dns.zonefile

from mxsim.errors import shown
from mxsim.scenario.limits import MAX_RECORDS, MAX_RRSET_BYTES, MAX_RRSET_RECORDS

DEFAULT_TTL = 900
HEADER = 12  # RFC 1035 §4.1.1
OPT_RECORD = 11  # RFC 6891 §6.1.2, with no options
QUOTED_LINE = 120

# dnspython prefixes its syntax errors with "<filename>:<line>: ".
_DNS_WHERE = re.compile(r"^<[^>]*>:(\d+): (.*)$", re.DOTALL)
_NO_TTL = "Missing default TTL value"
# dnspython reads directives in any case, as the first word of a line.
_GENERATE = re.compile(r"^\$GENERATE[ \t]+(\S+)", re.IGNORECASE)

_T = TypeVar("_T")


class DnsTextError(Exception):
    """A zone-text error, with the 1-based line within the text it read (if known)."""

    def __init__(self, line: int | None, detail: str) -> None:
        super().__init__(detail)
        self.line = line
        self.detail = detail


@dataclass(slots=True)
class RecordBudget:
    """Records a scenario may still hold, in all its zones and answers together."""

    left: int = MAX_RECORDS


@dataclass(slots=True)
class _Counter:
    """Counts records as a zone-file reader stores them; stops the reader at a limit.

    dnspython calls it with the whole RRset each time one more record joins it. Raising
    `dns.exception.SyntaxError` makes the reader report the line it is on.
    """

    limit: int
    used: int = 0
    sizes: dict[tuple[dns.name.Name, int, int], int] = field(default_factory=dict)

    def __call__(
        self, _txn: dns.transaction.Transaction, name: dns.name.Name, rdataset: dns.rdataset.Rdataset
    ) -> None:
        key = (name, int(rdataset.rdtype), int(rdataset.covers))
        if len(rdataset) > MAX_RRSET_RECORDS:
            kind = dns.rdatatype.to_text(rdataset.rdtype)
            raise dns.exception.SyntaxError(
                f"more than {MAX_RRSET_RECORDS:,} {kind} records for {_show(name)}, "
                "the most one RRset may hold"
            )
        self.used += len(rdataset) - self.sizes.get(key, 0)
        self.sizes[key] = len(rdataset)
        if self.used > self.limit:
            raise dns.exception.SyntaxError(_over_budget(self.limit))


def _over_budget(left: int) -> str:
    spent = MAX_RECORDS - left
    already = f" ({spent:,} before this text)" if spent else ""
    return f"more than {MAX_RECORDS:,} records in the scenario's zones and answers{already}"


def read_zone(text: str, origin: dns.name.Name, budget: RecordBudget) -> dns.zone.Zone:
    """A zone's text, read like a master file with that origin.

    When it gives no TTL that dnspython can use (no `$TTL`, no earlier TTL, no SOA), it is
    read as if it began with `$TTL 900`.
    """
    _check_generate(text, budget)
    counters: list[_Counter] = []

    def parse(source: str) -> dns.zone.Zone:
        counter = _Counter(budget.left)
        counters.append(counter)
        # check_origin=False: the world adds the SOA and NS a short scenario leaves out.
        return dns.zone.from_text(
            source, origin=origin, relativize=False, check_origin=False, filename="<zone>",
            transaction_setup=lambda txn: txn.check_put_rdataset(counter),
        )

    try:
        zone = _parse_dns_text(parse, text)
    except DnsTextError as exc:
        if not exc.detail.startswith(_NO_TTL):
            raise
        try:
            zone = _parse_dns_text(parse, f"$TTL {DEFAULT_TTL}\n{text}")
        except DnsTextError as again:
            line = again.line - 1 if again.line is not None else None
            raise DnsTextError(line, again.detail) from None
    budget.left -= counters[-1].used if counters else 0
    return zone


def read_answer(text: str, budget: RecordBudget) -> list[dns.rrset.RRset]:
    """A backend's answer lines: absolute names, class IN, a TTL of 900 when none is given."""
    counters: list[_Counter] = []

    def parse(source: str) -> list[dns.rrset.RRset]:
        counter = _Counter(budget.left)
        counters.append(counter)
        # As dns.zonefile.read_rrsets(rdclass=None, default_ttl=...) does, with the counter.
        manager = dns.zonefile.RRSetsReaderManager(dns.name.root, False, dns.rdataclass.IN)
        with manager.writer(True) as txn:
            txn.check_put_rdataset(counter)
            reader = dns.zonefile.Reader(
                dns.tokenizer.Tokenizer(source, "<input>"), dns.rdataclass.IN, txn,
                allow_directives=False, default_ttl=DEFAULT_TTL,
            )
            reader.read()
        return manager.rrsets

    rrsets = _parse_dns_text(parse, text)
    budget.left -= counters[-1].used if counters else 0
    return rrsets


def message_size(rrset: dns.rrset.RRset) -> int:
    """Octets of a reply that carries this RRset: header, question, the RRset, an OPT record."""
    out = io.BytesIO()
    compress: dns.name.CompressType = {}
    rrset.name.to_wire(out, compress)
    question = out.tell() + 4
    answer_start = out.tell()
    # Unshuffled: dnspython would otherwise draw from the global random module.
    rrset.to_wire(out, compress, want_shuffle=False)
    return HEADER + question + (out.tell() - answer_start) + OPT_RECORD


def oversized(rrsets: list[dns.rrset.RRset]) -> str | None:
    """Why the first RRset that cannot fit in a DNS message over TCP does not, if one does not."""
    for rrset in rrsets:
        size = message_size(rrset)
        if size > MAX_RRSET_BYTES:
            kind = dns.rdatatype.to_text(rrset.rdtype)
            return (
                f"the {len(rrset):,} {kind} records of {_show(rrset.name)} take {size:,} octets "
                f"in a reply, more than the {MAX_RRSET_BYTES:,} a DNS message over TCP can hold"
            )
    return None


def zone_rrsets(zone: dns.zone.Zone) -> list[dns.rrset.RRset]:
    rrsets = []
    for name, rdataset in zone.iterate_rdatasets():
        rrset = dns.rrset.RRset(name, rdataset.rdclass, rdataset.rdtype, rdataset.covers)
        rrset.update(rdataset)
        rrsets.append(rrset)
    return rrsets


def _check_generate(text: str, budget: RecordBudget) -> None:
    """Count what each `$GENERATE` would make before dnspython makes it."""
    total = 0
    for number, line in enumerate(text.splitlines(), start=1):
        match = _GENERATE.match(line)
        if match is None:
            continue
        try:
            start, stop, step = dns.grange.from_text(match.group(1))
        except (dns.exception.DNSException, ValueError, AssertionError):
            continue  # not a range: the reader reports it at this line
        made = len(range(start, stop + 1, step))
        total += made
        if total > budget.left:
            raise DnsTextError(
                number, f"$GENERATE {shown(match.group(1))} makes {made:,} records; "
                + _over_budget(budget.left)
            )


def _parse_dns_text(parse: Callable[[str], _T], text: str) -> _T:
    """Run a dnspython text parser; its errors become `DnsTextError` with the right line.

    dnspython reports the tokenizer's line, which is one past the faulty record when the
    record's newline was already read. The record is on the line before exactly when the
    text cut after that line fails the same way.
    """
    try:
        return parse(text)
    except dns.exception.DNSException as exc:
        line, detail = _dns_where(exc)
    except ValueError as exc:  # dnspython's zone transaction: "add() has non-origin SOA"
        raise DnsTextError(None, shown(str(exc))) from None
    if line is not None and line > 1 and _fails_alike(parse, text, line - 1, detail):
        line -= 1
    raise DnsTextError(line, _quote_line(detail, text, line))


def _quote_line(detail: str, text: str, line: int | None) -> str:
    # dnspython's messages ("Text input is malformed.") do not say which record it was.
    lines = text.splitlines()
    if line is None or not 1 <= line <= len(lines) or not lines[line - 1].strip():
        return detail
    return f"{detail} (in `{shown(' '.join(lines[line - 1].split()), QUOTED_LINE)}`)"


def _dns_where(exc: dns.exception.DNSException) -> tuple[int | None, str]:
    message = str(exc) or type(exc).__name__
    match = _DNS_WHERE.match(message)
    if match is None:
        return None, " ".join(message.split())
    return int(match.group(1)), " ".join(match.group(2).split())


def _fails_alike(parse: Callable[[str], object], text: str, lines: int, detail: str) -> bool:
    head = "".join(text.splitlines(keepends=True)[:lines])
    try:
        parse(head)
    except dns.exception.DNSException as exc:
        return _dns_where(exc)[1] == detail
    return False


def _show(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True) or "."
