"""`mxsim check` over many domains: the list, the unit of work, the append-only results file.

The unit of work is a group of domains (`check_group`): in one process the whole list is
one group; a distributed executor calls `check_group` on a chunk of domains sharing a
name-server set, so that one worker keeps those servers' pacing. A group's domains are
checked `CheckConfig.parallel` at a time in one event loop, over one wire (its pacing per
server address, its caches and its probes shared by all of them), and their results
come out in the order of the list: a domain's once it and every one before it are done.
Results are written one whole line per domain (one write to an O_APPEND file, synced
to disk at most a second later), so a run killed at any moment leaves every domain it
wrote in the file once, and at worst a torn last line, which `resume_from` cuts off
before appending.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from mxsim.clock import WallClock
from mxsim.commands.check import CheckConfig, CheckResult, check_domain, domain_name
from mxsim.commands.check_run import SharedWire, shared_wire
from mxsim.commands.collection import fewer_collections
from mxsim.errors import UsageError
from mxsim.transport.flight import in_order

__all__ = ["ResultsFile", "check_group", "parse_domain_list", "resume_from", "run_batch", "uninterrupted"]


def parse_domain_list(text: str, source: str) -> list[str]:
    """One domain a line, `#` starts a comment; every bad line is reported, `source:line: why`."""
    domains: list[str] = []
    errors: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        if len(entry.split()) > 1:
            errors.append(f"{source}:{number}: expected one domain on the line, got {entry!r}")
            continue
        try:
            domain_name(entry)
        except UsageError as error:
            errors.append(f"{source}:{number}: {error}")
            continue
        domains.append(entry.rstrip(".").lower())
    if errors:
        # The first is the line to fix; the count says whether more follow.
        more = f" (and {len(errors) - 1} more bad lines)" if len(errors) > 1 else ""
        raise UsageError(errors[0] + more)
    return list(dict.fromkeys(domains))  # a domain listed twice is checked once


WINDOW = 4  # times `parallel`: how far past the first unfinished domain others may start


def check_group(base: CheckConfig, domains: Sequence[str], shared: SharedWire | None = None,
                emit: Callable[[CheckResult], None] | None = None) -> list[CheckResult]:
    """Check a group's domains over one wire, `base.parallel` at a time in one event loop;
    each result passed to `emit` in list order as soon as it and those before it are done
    (an interrupt waits until `emit` returns). Without `emit`, the results in list order
    (with it, none are kept: memory stays flat however long the list)."""
    wire = shared or shared_wire(base)
    results: list[CheckResult] = []

    def passed_on(result: CheckResult) -> None:
        with uninterrupted():
            (emit or results.append)(result)

    async def start(domain: str) -> CheckResult:
        return await check_domain(dataclasses.replace(base, domain=domain), None, wire)

    async def every() -> None:
        await in_order(domains, start, passed_on, parallel=base.parallel, window=WINDOW * base.parallel)

    if domains:
        with fewer_collections():
            wire.transport.run_all([every], wire.finish)
    return results


def resume_from(path: Path) -> set[str]:
    """The domains complete in an earlier results file; a torn last line is cut off."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return set()
    except OSError as error:
        raise UsageError(f"--resume {path}: {error.strerror or error}") from None
    whole = data[: data.rfind(b"\n") + 1]
    if len(whole) != len(data):
        # Killed mid-write: the fragment is no domain's result; appending after it would glue two lines.
        with open(path, "r+b") as file:
            file.truncate(len(whole))
    done: set[str] = set()
    for number, line in enumerate(whole.decode("utf-8", errors="replace").splitlines(), start=1):
        try:
            record = json.loads(line)
            done.add(str(record["domain"]))
        except (ValueError, KeyError, TypeError):
            raise UsageError(f"{path}:{number}: expected one check result (a JSON object with a domain)") from None
    return done


class ResultsFile:
    """Appends one whole line per domain: in the file (the kernel's) before the next domain
    is counted done, so a process killed at any moment loses none; synced to disk at most a
    second apart and at the end, so a machine that fails loses at most the last second."""

    SYNC_EVERY = 1.0  # seconds; an fsync per domain costs ~10 ms, as much as checking one

    def __init__(self, path: Path) -> None:
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as error:
            raise UsageError(f"--output {path}: {error.strerror or error}") from None
        self._clock = WallClock()
        self._synced = self._clock.now()

    def write(self, line: str) -> None:
        data = (line.rstrip("\n") + "\n").encode("utf-8")
        written = os.write(self._fd, data)
        if written != len(data):  # O_APPEND on a regular file writes all or fails; anything else is a fault
            raise OSError(f"short write ({written} of {len(data)} bytes)")
        if self._clock.now() - self._synced >= self.SYNC_EVERY:
            os.fsync(self._fd)
            self._synced = self._clock.now()

    def close(self) -> None:
        try:
            os.fsync(self._fd)
        finally:
            os.close(self._fd)


@contextmanager
def uninterrupted() -> Iterator[None]:
    """Ctrl-C held back until the block ends: a result is written and counted, or neither.

    SIGINT is blocked in the main thread for the block; one that came meanwhile is delivered
    as the mask is restored, so the interrupt lands between two domains.
    """
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def run_batch(base: CheckConfig, domains: Iterable[str], emit: Callable[[CheckResult], None]) -> None:
    """Every domain in this process over one wire, `base.parallel` at a time, each result
    passed on in list order (whole: an interrupt waits until `emit` returns)."""
    check_group(base, list(domains), None, emit)
