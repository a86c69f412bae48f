"""Jobs that run beside the caller, each result handed back as it comes.

`mxsim check` probes mail hosts this way while it is still sampling name servers: a
host that drops SYNs costs its timeout once, and beside the sampling rather than after.

Where the system can fork (Linux), the jobs run in a child process with an event loop
of its own, and each result comes back through a pipe as soon as its job ends. A thread
would share the interpreter lock with a caller that is busy parsing replies and running
the model: measured in a check of the 2017 world, an SMTP conversation with a host that
answers at once (connect, greeting, EHLO, STARTTLS, EHLO, QUIT) then took 150 to 200 ms
instead of 15, which is most of a short --smtp-timeout; in a process of its own it runs
on the other core. Elsewhere the jobs run on a thread, as before.

The child is a copy of the caller: it must not be relied on to change the caller's state
(counters, progress bars). What the caller needs of a job travels as its result, and
`on_result` runs in the caller's process as each one arrives. Results and errors must
pickle. The child ends with `os._exit` (no atexit handlers, no flushing of the caller's
buffers twice); `close` kills it if the caller gives up first.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import struct
import sys
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, NoReturn, TypeVar

from mxsim.transport.wire import run_all

T = TypeVar("T")
_HEADER = struct.Struct("!I")  # each message: its length, then (index, ok, result or error) pickled


def can_fork() -> bool:
    """Fork only on Linux: elsewhere a child of a process that holds system frameworks may crash."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


class Background(Generic[T]):
    """Jobs run side by side in an event loop of their own while the caller goes on.

    `finished()` shows what has ended so far without waiting; `result()` waits for every
    job and gives the results in the order of the jobs (the first error is raised).
    """

    def __init__(
        self,
        jobs: Sequence[Callable[[], Awaitable[T]]],
        on_result: Callable[[int, T], None] | None = None,
        *,
        fork: bool | None = None,
    ) -> None:
        self._count = len(jobs)
        self._finished: dict[int, T] = {}
        self._errors: dict[int, BaseException] = {}
        self._on_result = on_result
        self._pid: int | None = None
        self._status: int | None = None
        use_fork = can_fork() if fork is None else fork
        if use_fork and jobs:
            reading, writing = os.pipe()
            self._pid = os.fork()
            if self._pid == 0:  # the child: never returns
                os.close(reading)
                _child(list(jobs), writing)
            os.close(writing)
            self._thread = threading.Thread(target=self._read, args=(reading,), name="mxsim-background", daemon=True)
        else:
            self._thread = threading.Thread(target=self._work, args=(list(jobs),), name="mxsim-background",
                                            daemon=True)
        self._thread.start()

    @property
    def in_process(self) -> int | None:
        """The child's process ID while jobs run in a child, else None."""
        return self._pid

    def _note(self, index: int, ok: bool, value: object) -> None:
        if ok:
            self._finished[index] = value  # type: ignore[assignment]  # one item set: atomic for readers
            if self._on_result is not None:
                self._on_result(index, value)  # type: ignore[arg-type]
        else:
            assert isinstance(value, BaseException)
            self._errors[index] = value

    def _work(self, jobs: list[Callable[[], Awaitable[T]]]) -> None:
        _run_reporting(jobs, self._note)  # an error is handed to the caller of result(), on its thread

    def _read(self, reading: int) -> None:
        with os.fdopen(reading, "rb") as pipe:
            for _ in range(self._count):
                header = pipe.read(_HEADER.size)
                if len(header) < _HEADER.size:
                    break
                (size,) = _HEADER.unpack(header)
                index, ok, value = pickle.loads(pipe.read(size))
                self._note(index, ok, value)
        assert self._pid is not None
        _, self._status = os.waitpid(self._pid, 0)

    def finished(self) -> dict[int, T]:
        """The results of the jobs ended so far, by their place in the list; does not wait."""
        return self._finished.copy()

    def result(self) -> list[T]:
        self._thread.join()
        if self._errors:
            raise self._errors[min(self._errors)]
        missing = [i for i in range(self._count) if i not in self._finished]
        if missing:
            raise RuntimeError(f"background process ended before job {missing[0] + 1} of {self._count} "
                               f"(wait status {self._status})")
        return [self._finished[i] for i in range(self._count)]

    def close(self) -> None:
        """Stop: the child is killed if it still runs (a thread is left to end on its own)."""
        if self._pid is not None and self._thread.is_alive():
            with contextlib.suppress(ProcessLookupError):  # it ended meanwhile (not yet reaped: a zombie)
                os.kill(self._pid, signal.SIGKILL)
            self._thread.join()


def _run_reporting(jobs: list[Callable[[], Awaitable[T]]], report: Callable[[int, bool, object], None]) -> None:
    """Run the jobs side by side; report (index, ok, result or error) as each one ends."""

    def reporting(index: int, job: Callable[[], Awaitable[T]]) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            try:
                result = await job()
            except Exception as error:
                report(index, False, error)
            else:
                report(index, True, result)
        return run

    run_all([reporting(i, job) for i, job in enumerate(jobs)])


def _child(jobs: list[Callable[[], Awaitable[T]]], writing: int) -> NoReturn:
    """Run the jobs and send each result as it ends; then leave at once, whatever happened."""
    status = 1
    try:
        pipe = os.fdopen(writing, "wb")

        def send(index: int, ok: bool, value: object) -> None:
            try:
                data = pickle.dumps((index, ok, value))
            except Exception as error:  # an error that does not pickle: its text does
                data = pickle.dumps((index, False, RuntimeError(f"{type(value).__name__}: {value} ({error})")))
            pipe.write(_HEADER.pack(len(data)) + data)
            pipe.flush()

        _run_reporting(jobs, send)
        pipe.close()
        status = 0
    finally:
        os._exit(status)
