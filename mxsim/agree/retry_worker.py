"""One retry case inside the network namespace: `python -m mxsim.agree.retry_worker REQUEST RESULT`.

Phase 1 is the first attempt, as in `mxsim.agree.worker`, in the world of the case's
first scenario and pins. Then the lab's world changes (`mxsim.lab.change`: other pins or
another scenario at the same addresses, and unbound started afresh, so no cached answer
survives), and the MTA's own queue run is forced (`mxsim.agree.requeue`). What the
retry did is collected like a first attempt, from the log lines, questions and messages
that came after phase 1.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mxsim.agree import unbound
from mxsim.agree.chroots import overlay
from mxsim.agree.errors import AgreeError
from mxsim.agree.expiry import expired, expired_words, real_settings, shorten
from mxsim.agree.isolation import kill_pids
from mxsim.agree.mtas import driver
from mxsim.agree.mtas.base import HOSTNAME, Driver
from mxsim.agree.observation import Observation
from mxsim.agree.requeue import queue_files, run_queue
from mxsim.agree.worker import (
    POLL,
    Request,
    interface_addresses,
    lab,
    processes_in,
    settle,
    unmap,
    worker_main,
)
from mxsim.errors import MxsimError
from mxsim.lab import AddressMap
from mxsim.lab.change import change_world


@dataclass(frozen=True, slots=True)
class RetryRequest:
    first: Request
    scenario: str  # the world of the retry
    pins: tuple[str, ...]
    pause: float  # seconds between the first attempt's outcome and the queue run

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RetryRequest:
        return cls(Request.from_json(data), str(data["retry_scenario"]), tuple(data.get("retry_pins", [])),
                   float(data.get("pause", 0.0)))


@dataclass(slots=True)
class Marks:
    """Where phase 2 begins in each source: log lines, unbound's log, the sink's messages."""

    lines: list[str]
    query_log: int
    messages: int


def fresh(before: Sequence[str], after: Sequence[str]) -> list[str]:
    """`after` without the lines it shares with `before` from the start.

    A log file grows at its end; Sendmail's driver puts the syslog first and the queue
    run's transcript (a new file) after it, so the common start is phase 1's syslog.
    """
    shared = 0
    for old, new in zip(before, after, strict=False):
        if old != new:
            break
        shared += 1
    return list(after[shared:])


def wait_outcome(mta: Driver, root: Path, folder: Path, before: Sequence[str], recipient: str,
                 address_map: AddressMap, limit: float) -> tuple[list[str], bool]:
    """Poll the log until an outcome shows after `before`; the lines and whether one did."""
    deadline = time.monotonic() + limit
    while True:
        lines = fresh(before, [unmap(line, address_map) for line in mta.log_lines(root, folder)])
        if mta.finished(lines, recipient) or expired(mta.name, lines):
            return lines, True
        if time.monotonic() >= deadline:
            return lines, False
        time.sleep(POLL)


def collect(mta: Driver, lines: list[str], query_log: Path, start: int, messages: Path, skip: int,
            recipient: str, observation: Observation, interfaces: list[str]) -> None:
    """Fill `observation` from one phase's lines, questions and messages; every question
    is kept, as for a first attempt (the model is told the host's `interfaces`)."""
    parsed = mta.parse(lines, recipient)
    observation.attempts = parsed.attempts
    observation.outcome = parsed.outcome
    observation.expired = expired_words(mta.name, lines)
    if parsed.outcome in (None, "deferred") and observation.expired is not None:
        # The attempt failed and the message had outlived its queue lifetime: returned.
        observation.outcome = "bounced"
        observation.notes.append("returned to the sender for its age")
    observation.dsn = parsed.dsn
    observation.logged_names = parsed.names
    observation.logged = parsed.named()
    observation.evidence = parsed.evidence or lines[-20:]
    observation.dns.extend(unbound.questions(query_log, start))
    observation.interfaces = interfaces
    received = _rcpt_to(messages, skip)
    if received is not None:
        observation.envelope_recipient, observation.envelope_source = received, "smtp sink"
    elif parsed.envelope_recipient is not None:
        observation.envelope_recipient, observation.envelope_source = parsed.envelope_recipient, "log"


def _message_rows(messages: Path) -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in messages.read_text().splitlines() if line.strip()]
    except (OSError, ValueError):
        return []


def _rcpt_to(messages: Path, skip: int) -> str | None:
    """The RCPT TO of the first message the sinks recorded after the first `skip`."""
    for row in _message_rows(messages)[skip:]:
        rcpts = row.get("rcpt_to") or row.get("recipients") or []
        if rcpts:
            return str(rcpts[0])
    return None


def observe(request: RetryRequest) -> tuple[Observation, Observation, dict[str, str]]:
    first = request.first
    folder = Path(first.folder)
    folder.mkdir(parents=True, exist_ok=True)
    socket.sethostname(HOSTNAME)
    mta = driver(first.mta)
    one = Observation(mta=mta.name, version=first.version)
    two = Observation(mta=mta.name, version=first.version)
    queued: dict[str, str] = {}
    with lab(first, folder) as info, overlay(Path(first.chroot), folder / "chroot") as root:
        address_map: AddressMap = info.address_map
        if info.resolver is None:
            raise AgreeError("the lab started no resolver")
        query_log = Path(info.state_dir) / unbound.LOG
        own_addresses = interface_addresses(first.netns)
        (root / "etc/resolv.conf").write_text(f"nameserver {info.resolver[0]}\n")
        try:
            mta.prepare(root, real_settings(mta.name, first.settings),
                        Path(first.mta_config) if first.mta_config else None)
            shorten(mta.name, root, first.settings)
            mta.start(root, folder)
            start = unbound.mark(query_log)
            began = time.monotonic()
            mta.submit(root, folder, first.recipient, uuid.uuid4().hex[:12])
            lines1, done = wait_outcome(mta, root, folder, [], first.recipient, address_map, mta.wait_limit)
            one.seconds = round(time.monotonic() - began, 2)
            if not done:
                one.notes.append(f"no outcome logged within {mta.wait_limit:g} s of submission")
            settle(query_log)
            before = [unmap(line, address_map) for line in mta.log_lines(root, folder)]
            lines1 = fresh([], before)
            queued = {f"first: {k}": v for k, v in queue_files(mta, root).items()}
            marks = Marks(before, unbound.mark(query_log), len(_message_rows(info.messages)))
            collect(mta, lines1, query_log, start, info.messages, 0, first.recipient, one, own_addresses)
            # The world changes; the resolver restarts empty (its log is appended to).
            change_world(info.state_dir, request.scenario, request.pins)
            # From here on the MTA may retry (Postfix's own queue manager may not wait for us).
            marks.query_log = unbound.mark(query_log)
            time.sleep(request.pause)
            began = time.monotonic()
            run_queue(mta, root, folder)
            lines2, done = wait_outcome(mta, root, folder, marks.lines, first.recipient, address_map,
                                        mta.wait_limit)
            two.seconds = round(time.monotonic() - began, 2)
            if not done:
                two.notes.append(f"no outcome logged within {mta.wait_limit:g} s of the queue run")
            settle(query_log)
            lines2 = fresh(marks.lines, [unmap(line, address_map) for line in mta.log_lines(root, folder)])
            queued.update({f"retry: {k}": v for k, v in queue_files(mta, root).items()})
            collect(mta, lines2, query_log, marks.query_log, info.messages, marks.messages,
                    first.recipient, two, own_addresses)
            (folder / "unbound.log").write_bytes(query_log.read_bytes())
            (folder / "mta.log").write_text("\n".join([*lines1, "--- retry ---", *lines2]) + "\n")
        finally:
            with contextlib.suppress(MxsimError, OSError):
                mta.stop(root, folder)
            kill_pids(processes_in(root))
    return one, two, queued


def main(argv: list[str]) -> int:
    def work(data: dict[str, Any]) -> dict[str, Any]:
        one, two, queued = observe(RetryRequest.from_json(data))
        return {"first": one.to_json(), "retry": two.to_json(), "queue": queued}

    return worker_main("mxsim.agree.retry_worker", argv, work)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
