"""TCP listeners for the lab: a cap on open connections, and a stop without leftovers.

Every accepted connection holds a file descriptor. Past the process's limit, accept
fails, and so does every file the lab opens (its stats, its message file): one idle
client per descriptor could take the lab down. So the lab's listeners share one
`ConnectionLimit` below that limit, and a connection past it is refused at once (a mail
host says 421 first, as postscreen does past its connection limit).

The accept loop is the lab's own, not asyncio's `start_server`: asyncio accepts up to
its backlog (100) per listener before any handler runs, so refused connections would
still hold a few hundred descriptors at a time under a burst, and run out. Here each
connection is counted as it is accepted and a refused one is closed there and then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import socket
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

TLS_CLOSE_WAIT = 2.0  # seconds for the TLS shutdown exchange before the socket is dropped anyway
# Descriptors kept back from connections: stats and message files, TLS, the resolver's
# log, and the burst an accept loop takes in before the first handler runs.
RESERVED_DESCRIPTORS = 128
MOST_CONNECTIONS = 10_000  # with no descriptor limit to speak of
BACKLOG = 100  # asyncio's default listen queue
ACCEPT_RETRY = 0.1  # seconds before accepting again when the system has no descriptor left
STREAM_LIMIT = 1 << 16  # asyncio's default longest line
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
StreamCallback = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Coroutine[Any, Any, None]]


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


def _factory(protocol: asyncio.StreamReaderProtocol) -> Callable[[], asyncio.StreamReaderProtocol]:
    return lambda: protocol


class TcpListener:
    """One listening socket and its accept loop."""

    def __init__(
        self, sock: socket.socket, callback: StreamCallback, limit: ConnectionLimit,
        refusal: bytes, stream_limit: int,
    ) -> None:
        self.sock = sock
        self.callback = callback
        self.limit = limit
        self.refusal = refusal
        self.stream_limit = stream_limit
        self.task = asyncio.get_running_loop().create_task(self._accept())

    async def _accept(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _peer = await loop.sock_accept(self.sock)
            except OSError as error:  # EMFILE, ENFILE, ENOBUFS: nothing to accept with for now
                log.error("cannot accept a connection: %s", error.strerror or error)
                await asyncio.sleep(ACCEPT_RETRY)
                continue
            if not self.limit.acquire():
                with contextlib.suppress(OSError):
                    conn.send(self.refusal)  # non-blocking; a few bytes fit in any buffer
                conn.close()
                continue
            reader = asyncio.StreamReader(limit=self.stream_limit)
            protocol = asyncio.StreamReaderProtocol(reader, self.callback)
            try:
                await loop.connect_accepted_socket(_factory(protocol), conn)
            except OSError:
                self.limit.release()
                conn.close()

    def close(self) -> None:
        self.task.cancel()
        self.sock.close()

    async def wait_closed(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


class Connections:
    """Listeners sharing one limit; each connection runs as a tracked task; `close` ends them
    all within a bound."""

    def __init__(self, limit: ConnectionLimit | None = None) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()
        self.limit = limit or ConnectionLimit()

    def listen(
        self, host: str, port: int, handler: Handler, *, refusal: bytes = b"",
        stream_limit: int = STREAM_LIMIT,
    ) -> TcpListener:
        """Listen on host:port (an OSError if that cannot be); `refusal` is said to a
        connection past the limit before it is closed."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio's servers do
            sock.bind((host, port))
            sock.listen(BACKLOG)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return TcpListener(sock, self.track(handler), self.limit, refusal, stream_limit)

    def track(self, handler: Handler) -> StreamCallback:
        """The connection's task: counted in the limit from accept until this ends."""

        async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
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
