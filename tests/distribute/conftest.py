"""A Dask scheduler and workers started as a user starts them: `python -m dask scheduler`
and `python -m dask worker` as processes on 127.0.0.1, each stopped when its test ends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from distributed import Client

ROOT = Path(__file__).resolve().parents[2]
START_WAIT = 90.0  # seconds for a scheduler or a worker to come up on a loaded two-core machine
STOP_WAIT = 10.0
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_WAIT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_WAIT)


def _kill(process: subprocess.Popen[bytes]) -> None:
    """A worker ends at once: it holds nothing to save, and the scheduler sees its connection close."""
    process.kill()
    process.wait(STOP_WAIT)


def _wait_until(done: Callable[[], bool], what: str, within: float = START_WAIT) -> None:
    deadline = time.monotonic() + within
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {within:.0f} s")
        time.sleep(0.1)


@dataclass
class Scheduler:
    address: str
    folder: Path
    client: Client
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def state(self) -> dict[str, Any]:
        """Each worker's name with the tasks it runs, and the results held, asked of the scheduler."""
        def inspect(dask_scheduler: Any) -> dict[str, Any]:  # nested: sent by value, the scheduler imports no test
            return {"processing": {str(w.name): len(w.processing) for w in dask_scheduler.workers.values()},
                    "finished": sum(t.state == "memory" for t in dask_scheduler.tasks.values())}

        found: dict[str, Any] = self.client.run_on_scheduler(inspect)
        return found


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scheduler]:
    folder = tmp_path_factory.mktemp("dask")
    address_file = folder / "scheduler.json"
    with (folder / "scheduler.log").open("wb") as log:  # the process keeps its own copy of the descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(address_file)], cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=log)
    try:
        _wait_until(lambda: process.poll() is not None or (address_file.exists() and address_file.stat().st_size > 0),
                    "the scheduler wrote no address")
        assert process.poll() is None, (folder / "scheduler.log").read_text()
        address = json.loads(address_file.read_text())["address"]
        with Client(address, timeout=START_WAIT) as client:
            yield Scheduler(address, folder, client)
    finally:
        _stop(process)


@pytest.fixture
def workers(scheduler: Scheduler) -> Iterator[Scheduler]:
    """Two workers of one thread each, without a nanny: a worker killed stays dead."""
    with ExitStack() as stack:
        for name in ("w1", "w2"):
            with (scheduler.folder / f"{name}.log").open("ab") as log:
                process = subprocess.Popen(
                    [sys.executable, "-m", "dask", "worker", scheduler.address, "--name", name, "--nthreads", "1",
                     "--no-nanny", "--no-dashboard", "--host", "127.0.0.1"],
                    cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=log)
            stack.callback(_kill, process)
            scheduler.workers[name] = process
        _wait_until(lambda: set(scheduler.state()["processing"]) == {"w1", "w2"}, "two workers did not join")
        yield scheduler
        scheduler.workers.clear()
    # A worker's departure reaches the scheduler a moment after its process ends.
    _wait_until(lambda: not scheduler.state()["processing"], "the workers did not leave", STOP_WAIT * 3)


def kill_when_busy(cluster: Scheduler, name: str, run: subprocess.Popen[bytes], started: Callable[[], bool]) -> None:
    """SIGKILL worker `name` while it runs a task, once `started()` says results came back and the run goes on."""
    def busy() -> bool:
        return run.poll() is not None or (started() and cluster.state()["processing"].get(name, 0) >= 1)

    _wait_until(busy, f"worker {name} never ran a task after the first finished", 120.0)
    assert run.poll() is None, "the run ended before a worker could be killed: give it more work"
    cluster.workers[name].kill()
    cluster.workers[name].wait(STOP_WAIT)
