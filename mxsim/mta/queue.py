"""What an MTA remembers between attempts: a queued message, and the sender's memory of hosts.

Each MTA's schedule (docs/mta-behaviour.md#postfix-queue-schedule and the same section
for exim, opensmtpd, sendmail) becomes the profile's `retry_at`. Some
memory is shared by all messages of one sender, and it is what makes MTAs differ over
time: Exim's retry database (a host in its retry wait is skipped: "retry time not
reached for any host"), Sendmail's host status (within one process only: none is kept
between queue runs), Postfix's dead destination (after a failed cohort the destination is suspended for
minimal_backoff_time and other messages are deferred "delivery temporarily suspended").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mxsim.errors import ParameterError
from mxsim.mta.sts import CachedPolicy
from mxsim.pickling import by_fields
from mxsim.units import parse_duration

if TYPE_CHECKING:
    from mxsim.mta.profiles.opensmtpd_sessions import Relays


@dataclass(slots=True, init=False)
class QueueEntry:
    """One message in one sender's queue. (`__init__` written out: see mxsim/mta/results.py.)"""

    arrival: float
    attempts: int  # delivery attempts made (including ones that found every host blocked)

    def __init__(self, arrival: float, attempts: int = 0) -> None:
        self.arrival = arrival
        self.attempts = attempts


@dataclass(slots=True)
class HostRecord:
    first_failure: float
    not_before: float
    last_interval: float
    reason: str


@dataclass(slots=True)
class SenderState:
    """One MTA instance's memory across its messages."""

    hosts: dict[str, HostRecord] = field(default_factory=dict)  # by address
    dead: dict[str, tuple[float, str]] = field(default_factory=dict)  # domain -> (until, reason)
    sts: dict[str, CachedPolicy] = field(default_factory=dict)  # policy domain -> cached MTA-STS policy
    relays: Relays | None = None  # OpenSMTPD's relays and the sessions it keeps open, by domain


def next_tick(when: float, interval: float) -> float:
    """The first queue run at or after `when`, runs every `interval` seconds from time 0."""
    if interval <= 0:
        return when
    tick = math.ceil(when / interval) * interval
    return tick if tick >= when else tick + interval  # float rounding must never go back in time


@dataclass(frozen=True, slots=True)
class RetryRule:
    """One item of an Exim retry rule: F,<cutoff>,<interval> or G,<cutoff>,<interval>,<factor>."""

    kind: str  # "F" fixed, "G" geometric
    cutoff: float  # seconds since the first failure
    interval: float
    factor: float = 1.0


def parse_retry_rules(text: str) -> tuple[RetryRule, ...]:
    """`F,2h,15m; G,16h,1h,1.5; F,4d,6h` (Exim spec, "Retry rules")."""
    rules = []
    for item in filter(None, (part.strip() for part in text.split(";"))):
        fields = [f.strip() for f in item.split(",")]
        try:
            if fields[0] == "F" and len(fields) == 3:
                rules.append(RetryRule("F", parse_duration(fields[1]), parse_duration(fields[2])))
            elif fields[0] == "G" and len(fields) == 4:
                rules.append(RetryRule("G", parse_duration(fields[1]), parse_duration(fields[2]), float(fields[3])))
            else:
                raise ValueError("expected F,<cutoff>,<interval> or G,<cutoff>,<interval>,<factor>")
        except (ValueError, IndexError) as error:
            raise ParameterError(f"retry rule {item!r}: {error}") from None
    if not rules:
        raise ParameterError(f"retry rule {text!r}: no items")
    return tuple(rules)


def retry_interval(rules: tuple[RetryRule, ...], since_first: float, last_interval: float) -> float | None:
    """The wait after a failure `since_first` seconds after the first one; None past the last cutoff."""
    for rule in rules:
        if since_first < rule.cutoff:
            if rule.kind == "G":
                return rule.interval if last_interval < rule.interval else last_interval * rule.factor
            return rule.interval
    return None




by_fields(globals())  # frozen dataclasses pickle alike in the compiled build (mxsim/pickling.py)
