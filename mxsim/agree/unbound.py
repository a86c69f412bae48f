"""The questions an MTA asked unbound, read back from its query log.

The lab starts unbound (`lab_up(..., resolver="unbound")`) on the address it reserves
for a resolver, with `log-queries` and `log-replies`: every question a client asked, in
order, and the RCODE of the reply it got.
"""

from __future__ import annotations

import re
from pathlib import Path

from mxsim.agree.observation import Question
from mxsim.lab import state as lab_state

ADDRESS = lab_state.RESOLVER_ADDRESS
LOG = lab_state.UNBOUND_LOG

# "Nov 27 15:44:04 unbound[8184:0] info: 127.0.0.1 wa-students.org. A IN" (query) and
# the same followed by "NOERROR 0.002051 0 192" (reply: rcode, seconds, cached, size).
LINE = re.compile(
    r"info: (?P<client>\S+) (?P<qname>\S+) (?P<qtype>\S+) (?P<qclass>IN|CH|HS|ANY|CLASS\d+)"
    r"(?: (?P<rcode>[A-Z]+) \S+ \d+ \d+)?\s*$"
)


def mark(log: Path) -> int:
    """The log's length now: questions after this point belong to the next step."""
    try:
        return log.stat().st_size
    except OSError:
        return 0


def questions(log: Path, start: int = 0) -> list[Question]:
    """Client questions in the order asked, each with the RCODE of its reply (if logged)."""
    try:
        text = log.read_bytes()[start:].decode(errors="replace")
    except OSError:
        return []
    asked: list[Question] = []
    for line in text.splitlines():
        match = LINE.search(line)
        if match is None:
            continue
        qname = match["qname"].rstrip(".").lower() or "."
        if match["rcode"] is None:
            asked.append(Question(qname, match["qtype"]))
            continue
        # A reply: attach its rcode to the oldest question of that name and type still open.
        for index, question in enumerate(asked):
            if question.rcode is None and (question.qname, question.qtype) == (qname, match["qtype"]):
                asked[index] = Question(qname, question.qtype, match["rcode"])
                break
    return asked
