"""Bookkeeping for TCP connection handlers: a cap on how many are open, and a stop without leftovers.

Every accepted connection holds a file descriptor. Past the process's limit, accept
fails, and so does every file the lab opens (its stats, its message file): one idle
client per descriptor could take the lab down. So the lab's listeners share one
`ConnectionLimit` below that limit, and a connection past it is refused at once (a mail
host says 421 first, as Postfix does when it has no process left for a client).
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

TLS_CLOSE_WAIT = 2.0  # seconds for the TLS shutdown exchange before the socket is dropped anyway
# Descriptors kept back from connections: stats and message files, TLS, the resolver's
# log, and the burst an accept loop takes in before the first handler runs.
RESERVED_DESCRIPTORS = 128
MOST_CONNECTIONS = 10_000  # with no descriptor limit to speak of
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
StreamCallback = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Coroutine[Any, Any, None]]
Refusal = Callable[[asyncio.StreamWriter], None]


def open_descriptors() -> int:
    try:
        return len(os.listdir("/proc/self/fd")) - 1  # the listing's own descriptor
    except OSError:
        return 0


def connections_allowed() -> int:
    """How many connections this process can hold with descriptors to spare, as things are now."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MOST_CONNECTIONS
    return max(1, min(MOST_CONNECTIONS, soft - open_descriptors() - RESERVED_DESCRIPTORS))


class ConnectionLimit:
    """Connections open across all of the lab's listeners, and how many were refused."""

    def __init__(self, maximum: int = MOST_CONNECTIONS) -> None:
        self.maximum = maximum
        self.open = 0
        self.refused = 0

    def acquire(self) -> bool:
        if self.open >= self.maximum:
            self.refused += 1
            # One line, then a count (the serve process's log says repeats once).
            log.warning("refusing connections: %d are open, the most this process's descriptors allow",
                        self.open)
            return False
        self.open += 1
        return True

    def release(self) -> None:
        self.open -= 1

    def to_json(self) -> dict[str, int]:
        return {"open": self.open, "limit": self.maximum, "refused": self.refused}


def _drop(writer: asyncio.StreamWriter) -> None:
    writer.transport.abort()


class Connections:
    """Runs each connection as a tracked task; `close` ends them all within a bound."""

    def __init__(self, limit: ConnectionLimit | None = None) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()
        self.limit = limit or ConnectionLimit()

    def track(self, handler: Handler, refuse: Refusal = _drop) -> StreamCallback:
        """`refuse` answers a connection past the limit: it writes its goodbye, if any, and closes."""

        async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if not self.limit.acquire():
                refuse(writer)
                return
            task = asyncio.current_task()
            assert task is not None
            self.tasks.add(task)
            try:
                await handler(reader, writer)
                if writer.get_extra_info("ssl_object") is not None:
                    # After STARTTLS: close_notify before the TCP close, or the sender logs
                    # "TLS connection was non-properly terminated" (Exim, GnuTLS).
                    writer.close()
                    await asyncio.wait_for(writer.wait_closed(), TLS_CLOSE_WAIT)
            except asyncio.CancelledError:
                # Shutdown. Swallowed here, at the top of the connection's own task,
                # because asyncio's stream callback reports a cancelled task as an error.
                pass
            except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
                pass
            except Exception:  # one broken conversation must not take a listener down
                log.exception("connection handler failed")
            finally:
                self.tasks.discard(task)
                self.limit.release()
                writer.transport.abort()

        return run

    async def close(self, timeout: float = 2.0) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=timeout)
