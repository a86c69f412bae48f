"""The harness waits for the logs to go quiet, not a fixed pause, before it compares."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from mxsim.agree.worker import settle


def _append_for(log: Path, seconds: float, every: float) -> threading.Thread:
    def write() -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            with log.open("a") as out:
                out.write("info: 127.0.0.1 example.test. MX IN\n")
            time.sleep(every)

    thread = threading.Thread(target=write)
    thread.start()
    return thread


def _settle_beside_writer(tmp_path: Path, seconds: float, every: float, limit: float) -> tuple[float, bool]:
    """How long settle waited while a writer appended for `seconds`, and whether it still was."""
    log = tmp_path / "unbound.log"
    log.write_text("")
    writer = _append_for(log, seconds=seconds, every=every)
    began = time.monotonic()
    settle(log, quiet=0.4, limit=limit)
    waited = time.monotonic() - began
    still_writing = writer.is_alive()
    writer.join()
    return waited, still_writing


def test_waits_for_questions_that_trail_the_outcome(tmp_path: Path) -> None:
    waited, still_writing = _settle_beside_writer(tmp_path, seconds=1.2, every=0.1, limit=5.0)
    assert not still_writing
    assert waited >= 1.2


def test_a_log_that_never_goes_quiet_is_cut_at_the_limit(tmp_path: Path) -> None:
    waited, _still_writing = _settle_beside_writer(tmp_path, seconds=2.5, every=0.05, limit=1.0)
    assert 1.0 <= waited < 2.0


def test_a_quiet_log_costs_only_the_quiet_time(tmp_path: Path) -> None:
    log = tmp_path / "unbound.log"
    log.write_text("done\n")
    began = time.monotonic()
    settle(log, quiet=0.3, limit=5.0)
    assert 0.3 <= time.monotonic() - began < 2.0
