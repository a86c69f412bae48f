"""A log that says a repeated error once, then how often it came back.

Under a flood the same failure can come thousands of times a second (an accept with no
descriptor left, a broken client per connection): written out each time, with its
traceback, it filled the lab's log by megabytes a second. `RepeatFilter` lets the first
record of a kind through and counts the rest; `flush` writes one line per kind that
repeated, at most once per `window` seconds, as syslog's "last message repeated N
times" does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

WINDOW = 60.0
MAX_KINDS = 256  # distinct kinds remembered; beyond that the oldest is forgotten
SUMMARY = "mxsim_repeat_summary"  # set on the filter's own summary records, which always pass


@dataclass(slots=True)
class _Kind:
    logger: str
    level: int
    text: str
    repeats: int = 0
    since: float = 0.0


def _kind(record: logging.LogRecord) -> tuple[str, int, str, str]:
    # The format string, not the formatted text, so "answering %s at %s" is one kind;
    # a preformatted message (asyncio's) is keyed by its first line.
    text = str(record.msg).split("\n", 1)[0][:200]
    error = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else ""
    return record.name, record.levelno, text, error


class RepeatFilter(logging.Filter):
    def __init__(self, window: float = WINDOW, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.window = window
        self.clock = clock
        self.kinds: dict[tuple[str, int, str, str], _Kind] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, SUMMARY, False):
            return True
        key = _kind(record)
        kind = self.kinds.get(key)
        if kind is None:
            if len(self.kinds) >= MAX_KINDS:
                del self.kinds[next(iter(self.kinds))]
            first_line = record.getMessage().split("\n", 1)[0][:200]
            self.kinds[key] = _Kind(record.name, record.levelno, first_line, since=self.clock())
            return True
        kind.repeats += 1
        return False

    def flush(self, *, force: bool = False) -> None:
        """One line for each kind that repeated and was last summed up `window` seconds ago."""
        now = self.clock()
        for kind in self.kinds.values():
            if kind.repeats and (force or now - kind.since >= self.window):
                logging.getLogger(kind.logger).log(
                    kind.level, "%s: %d more time(s) in the last %.0f s", kind.text, kind.repeats,
                    now - kind.since, extra={SUMMARY: True},
                )
                kind.repeats = 0
                kind.since = now
