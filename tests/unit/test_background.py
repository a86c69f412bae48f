"""`transport.wire.Background`: jobs on a thread and an event loop of their own, beside the caller."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable

import pytest

from mxsim.transport.wire import Background


def test_jobs_run_beside_the_caller_and_give_results_in_order() -> None:
    go = threading.Event()
    threads: list[str] = []

    def job(value: int) -> Callable[[], Awaitable[int]]:
        async def run() -> int:
            threads.append(threading.current_thread().name)
            # Waits for the caller, who sets `go` only after Background() has returned:
            # a Background that ran its jobs before returning would wait here in vain.
            for _ in range(500):
                if go.is_set():
                    return value
                await asyncio.sleep(0.01)
            raise TimeoutError("the caller never went on")
        return run

    running = Background([job(3), job(1), job(2)])
    go.set()
    assert running.result() == [3, 1, 2]
    assert threads and set(threads) == {"mxsim-background"}


def test_an_error_in_a_job_reaches_the_caller() -> None:
    async def fails() -> int:
        raise ConnectionAbortedError("gone")

    running = Background([lambda: fails()])
    with pytest.raises(ConnectionAbortedError, match="gone"):
        running.result()
