"""SMTP probes shared by every check of a run: each host (address and port) probed once.

Real domains share mail hosts (thousands of zones point at aspmx.l.google.com). The first
check that needs a host starts its probe; a check that needs it while that probe runs
waits for the same probe rather than make another; later checks take what it found.
Probes run in a process of their own (`transport.background`), so a host that drops SYNs
costs its timeout beside the checks, and a conversation is not slowed by their parsing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Sequence

from mxsim.transport.background import Background
from mxsim.transport.base import SmtpSession

Host = tuple[str, int]  # address, port
Job = Callable[[], Awaitable[SmtpSession]]


class ProbePool:
    """What the run's probes found (`done`) and the probes still running, by host."""

    def __init__(self) -> None:
        self.done: dict[Host, SmtpSession] = {}
        self._waiting: dict[Host, asyncio.Future[SmtpSession]] = {}
        self._running: list[tuple[Background[SmtpSession], asyncio.Task[None]]] = []

    def covers(self, hosts: Iterable[Host]) -> bool:
        """Whether every host was probed or is being probed."""
        return all(h in self.done or h in self._waiting for h in hosts)

    def settled(self, hosts: Iterable[Host]) -> dict[Host, SmtpSession]:
        """What the probes of these hosts found so far; does not wait."""
        return {h: self.done[h] for h in hosts if h in self.done}

    def start(self, jobs: Sequence[tuple[Host, Job]], on_result: Callable[[], None] | None = None) -> list[Host]:
        """Probe the hosts neither probed nor being probed, beside the caller; the hosts started.

        `on_result` runs (on another thread) as each of their results arrives.
        """
        new = list({h: job for h, job in jobs if h not in self.done and h not in self._waiting}.items())
        if not new:
            return []
        loop = asyncio.get_running_loop()
        for host, _ in new:
            self._waiting[host] = loop.create_future()

        def arrived(index: int, session: SmtpSession) -> None:  # on the thread reading the results
            with contextlib.suppress(RuntimeError):  # the loop closed: the run is over
                loop.call_soon_threadsafe(self._arrive, new[index][0], session)
            if on_result is not None:
                on_result()

        running = Background([job for _, job in new], arrived)
        self._running.append((running, loop.create_task(self._finish(running, [h for h, _ in new]))))
        return [h for h, _ in new]

    def _arrive(self, host: Host, session: SmtpSession) -> None:
        self.done.setdefault(host, session)
        waiting = self._waiting.pop(host, None)
        if waiting is not None and not waiting.done():
            waiting.set_result(self.done[host])

    async def _finish(self, running: Background[SmtpSession], hosts: list[Host]) -> None:
        """Every result in, or the error that ended the probes handed to whoever waits for them."""
        try:
            sessions = await asyncio.get_running_loop().run_in_executor(None, running.result)
        except Exception as error:  # handed on to the checks waiting
            for host in hosts:
                waiting = self._waiting.pop(host, None)
                if waiting is not None and not waiting.done():
                    waiting.set_exception(error)
        else:
            for host, session in zip(hosts, sessions, strict=True):
                self._arrive(host, session)

    async def wait(self, hosts: Iterable[Host]) -> dict[Host, SmtpSession]:
        """What the probes of these hosts found, once each has ended (an error is raised)."""
        wanted = list(hosts)
        for host in wanted:
            waiting = self._waiting.get(host)
            if waiting is not None:
                await asyncio.shield(waiting)
        return self.settled(wanted)

    def close(self) -> None:
        """Stop every probe still running (after an error, an interrupt, or at the end of the loop)."""
        for running, task in self._running:
            running.close()
            task.cancel()
        self._running.clear()
        for waiting in self._waiting.values():
            waiting.cancel()
        self._waiting.clear()
