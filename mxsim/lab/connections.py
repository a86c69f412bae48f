"""Bookkeeping for TCP connection handlers, so a listener can stop without leftovers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

TLS_CLOSE_WAIT = 2.0  # seconds for the TLS shutdown exchange before the socket is dropped anyway
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
StreamCallback = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Coroutine[Any, Any, None]]


class Connections:
    """Runs each connection as a tracked task; `close` ends them all within a bound."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()

    def track(self, handler: Handler) -> StreamCallback:
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
                writer.transport.abort()

        return run

    async def close(self, timeout: float = 2.0) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=timeout)
