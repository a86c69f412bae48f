"""`transport.background.Background`: jobs beside the caller, in a child process or on a thread."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from mxsim.transport.background import Background, can_fork

MODES = [pytest.param(True, id="process", marks=pytest.mark.skipif(not can_fork(), reason="no fork here")),
         pytest.param(False, id="thread")]
Where = tuple[int, int, str]  # value, process ID, thread name


def waiting_for(flag: Path, value: int) -> Callable[[], Awaitable[Where]]:
    async def run() -> Where:
        # Waits for the caller, who makes the flag only after Background() has returned:
        # a Background that ran its jobs before returning would wait here in vain.
        for _ in range(500):
            if flag.exists():
                return value, os.getpid(), threading.current_thread().name
            await asyncio.sleep(0.01)
        raise TimeoutError("the caller never went on")
    return run


@pytest.mark.parametrize("fork", MODES)
def test_jobs_run_beside_the_caller_and_give_results_in_order(fork: bool, tmp_path: Path) -> None:
    flag = tmp_path / "go"
    running = Background([waiting_for(flag, 3), waiting_for(flag, 1), waiting_for(flag, 2)], fork=fork)
    flag.touch()
    results = running.result()
    assert [value for value, _, _ in results] == [3, 1, 2]
    pids = {pid for _, pid, _ in results}
    if fork:
        assert running.in_process is not None and pids == {running.in_process} != {os.getpid()}
    else:
        assert running.in_process is None and pids == {os.getpid()}
        assert {name for _, _, name in results} == {"mxsim-background"}


@pytest.mark.parametrize("fork", MODES)
def test_finished_shows_what_ended_without_waiting_for_the_rest(fork: bool, tmp_path: Path) -> None:
    flag = tmp_path / "go"

    async def at_once() -> Where:
        return 7, os.getpid(), ""

    running = Background([at_once, waiting_for(flag, 8)], fork=fork)
    deadline = time.monotonic() + 10
    while not running.finished() and time.monotonic() < deadline:
        time.sleep(0.005)
    assert list(running.finished()) == [0]  # the second job still waits for the flag
    flag.touch()
    assert [value for value, _, _ in running.result()] == [7, 8]
    assert sorted(running.finished()) == [0, 1]


@pytest.mark.parametrize("fork", MODES)
def test_on_result_runs_in_the_callers_process_once_per_job(fork: bool, tmp_path: Path) -> None:
    flag = tmp_path / "go"
    flag.touch()
    seen: list[tuple[int, int, int]] = []
    running = Background([waiting_for(flag, 5), waiting_for(flag, 6)],
                         lambda index, result: seen.append((index, result[0], os.getpid())), fork=fork)
    running.result()
    assert sorted(seen) == [(0, 5, os.getpid()), (1, 6, os.getpid())]


@pytest.mark.parametrize("fork", MODES)
def test_an_error_in_a_job_reaches_the_caller(fork: bool) -> None:
    async def fails() -> int:
        raise ConnectionAbortedError("gone")

    async def works() -> int:
        return 1

    running = Background([works, fails], fork=fork)
    with pytest.raises(ConnectionAbortedError, match="gone"):
        running.result()


class Unpicklable(Exception):
    def __init__(self) -> None:
        super().__init__("holds a lock")
        self.lock = threading.Lock()


@pytest.mark.skipif(not can_fork(), reason="no fork here")
def test_an_error_that_cannot_travel_arrives_as_its_text() -> None:
    async def fails() -> int:
        raise Unpicklable()

    running = Background([fails], fork=True)
    with pytest.raises(RuntimeError, match="Unpicklable: holds a lock"):
        running.result()


@pytest.mark.skipif(not can_fork(), reason="no fork here")
def test_close_stops_a_child_that_would_run_on() -> None:
    async def long() -> int:
        await asyncio.sleep(60)
        return 1

    running = Background([long], fork=True)
    pid = running.in_process
    assert pid is not None
    started = time.monotonic()
    running.close()
    assert time.monotonic() - started < 5
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # gone, and reaped
    with pytest.raises(RuntimeError, match="ended before job 1 of 1"):
        running.result()
