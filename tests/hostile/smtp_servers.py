"""Misbehaving SMTP servers on 127.0.0.1, one named mode each, for tests of the probes.

`HostileSmtp(Mode.NO_EHLO_REPLY)` is a context manager: it listens on a free port of
127.0.0.1 (or of another address in 127.0.0.0/8, such as a lab's address for a mail host),
runs its event loop on a thread, records every command line a client sent (`commands`, in
order, over TLS too), and stops everything it started on exit. Each connection ends within
`CONNECTION_LIMIT` seconds whatever the mode does, and every endless mode stops when the
client goes away. A mode that accepts mail commands answers them (250, 354), so a client
that sends MAIL, RCPT or DATA is seen doing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Awaitable, Callable
from enum import StrEnum
from functools import cache
from types import TracebackType

from mxsim.lab.addressmap import ensure_loopback
from mxsim.lab.tls import self_signed_context

CONNECTION_LIMIT = 30.0  # seconds any one connection may last, whatever its mode
START_LIMIT = 10.0  # seconds to wait for the server thread to listen, or to stop
BANNER = b"220 hostile.test ESMTP\r\n"
MAIL_COMMANDS = frozenset({"MAIL", "RCPT", "DATA", "BDAT"})  # what a probe must never send


class Mode(StrEnum):
    ACCEPT = "accept"  # a well-behaved host: greeting, EHLO with STARTTLS, TLS, QUIT (the control)
    SILENT = "silent"  # accepts the connection, never greets
    CLOSE_AT_ONCE = "close-at-once"  # closes as soon as it accepts
    TEMPFAIL_GREETING = "tempfail-greeting"  # 421 greeting
    REJECT_GREETING = "reject-greeting"  # 554 greeting, multi-line
    NO_EHLO_REPLY = "no-ehlo-reply"  # greets, then never answers EHLO
    CLOSE_MID_EHLO = "close-mid-ehlo"  # first line of a multi-line EHLO reply, then closes
    NO_STARTTLS_REPLY = "no-starttls-reply"  # offers STARTTLS, never answers it
    NO_HANDSHAKE = "no-handshake"  # answers STARTTLS with 220, never starts TLS
    NO_EHLO_AFTER_TLS = "no-ehlo-after-tls"  # finishes the handshake, never answers EHLO over TLS
    NO_QUIT_REPLY = "no-quit-reply"  # everything right, but QUIT is never answered
    HUGE_BANNER = "huge-banner"  # a 10 MB greeting line
    ENDLESS_LINE = "endless-line"  # "220 " then bytes without end, never a line ending
    ENDLESS_MULTILINE = "endless-multiline"  # "220-" lines without end
    LONG_EHLO_LINE = "long-ehlo-line"  # an EHLO reply line of 513 octets
    ENDLESS_EHLO_REPLY = "endless-ehlo-reply"  # "250-" lines without end
    DRIP = "drip"  # the greeting, one byte a second (`drip_interval`)
    GARBAGE = "garbage"  # bytes that are not SMTP, as a greeting
    BARE_LF = "bare-lf"  # a well-behaved host that ends its lines with LF alone


_HUGE_BANNER = b"x" * (10 * 1024 * 1024)


@cache
def tls_context() -> ssl.SSLContext:
    """The servers' TLS context (a self-signed certificate made by openssl once per session)."""
    return self_signed_context("hostile.test")


class _Session:
    """One connection: read commands, record them, answer as the mode says."""

    def __init__(self, server: HostileSmtp, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.mode = server.mode
        self.reader = reader
        self.writer = writer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def command(self) -> str | None:
        line = await self.reader.readline()
        if not line:
            return None
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        self.server.commands.append(text)
        return text.split(" ")[0].upper()

    async def endless(self, first: bytes, chunk: bytes) -> None:
        """`first`, then `chunk` again and again until the client goes away (or the limit)."""
        await self.send(first)
        while True:
            await self.send(chunk)
            await asyncio.sleep(0)  # let the loop notice a closed connection and a stop

    async def huge_banner(self) -> None:
        """A 10 MB greeting line; its first 64 KiB written on their own, so the client has
        more than a line's worth at once, whatever copying the rest costs."""
        await self.send(b"220 " + _HUGE_BANNER[:65536])
        await self.send(_HUGE_BANNER[65536:] + b"\r\n")

    async def run(self) -> None:
        mode = self.mode
        greetings: dict[Mode, Callable[[], Awaitable[None]]] = {
            Mode.SILENT: self.listen,
            Mode.CLOSE_AT_ONCE: self.close,
            Mode.HUGE_BANNER: self.huge_banner,
            Mode.ENDLESS_LINE: lambda: self.endless(b"220 ", b"x" * 4096),
            Mode.ENDLESS_MULTILINE: lambda: self.endless(b"", b"220-hostile.test still greeting\r\n" * 64),
            Mode.DRIP: self.drip,
            Mode.GARBAGE: lambda: self.send(b"\x00\xff\x1b[2J GARBAGE \x07\r\n"),
        }
        special = greetings.get(mode)
        if special is not None:
            await special()
            await self.listen()
            return
        if mode == Mode.TEMPFAIL_GREETING:
            await self.send(b"421 4.3.2 hostile.test busy, try later\r\n")
        elif mode == Mode.REJECT_GREETING:
            await self.send(b"554-5.7.1 hostile.test does not take mail\r\n554 5.7.1 go away\r\n")
        else:
            await self.send(BANNER.replace(b"\r\n", b"\n") if mode == Mode.BARE_LF else BANNER)
        await self.converse()

    async def converse(self) -> None:
        secure = False
        while (verb := await self.command()) is not None:
            if verb in ("EHLO", "HELO"):
                if not await self.ehlo(secure):
                    return
            elif verb == "STARTTLS" and not secure:
                if self.mode == Mode.NO_STARTTLS_REPLY:
                    await self.listen()
                    return
                await self.send(b"220 2.0.0 Ready to start TLS\r\n")
                if self.mode == Mode.NO_HANDSHAKE:  # the ClientHello comes, and is never answered
                    await self.wait_for_close()
                    return
                await self.writer.start_tls(tls_context())
                secure = True
            elif verb == "QUIT":
                if self.mode == Mode.NO_QUIT_REPLY:
                    await self.listen()
                else:
                    await self.send(b"221 2.0.0 Bye\r\n")
                return
            elif verb == "DATA":
                await self.send(b"354 go ahead\r\n")
            else:  # MAIL, RCPT and the rest: taken, so that a client sending them is seen doing it
                await self.send(b"250 2.0.0 OK\r\n")

    async def ehlo(self, secure: bool) -> bool:
        """Answer EHLO as the mode says; False when the conversation is over."""
        mode = self.mode
        if mode == Mode.NO_EHLO_REPLY or (mode == Mode.NO_EHLO_AFTER_TLS and secure):
            await self.listen()
            return False
        if mode == Mode.CLOSE_MID_EHLO:
            await self.send(b"250-hostile.test Hello\r\n")
            await self.close()
            return False
        if mode == Mode.LONG_EHLO_LINE:
            line = b"250 " + b"x" * (513 - 6) + b"\r\n"
            assert len(line) == 513
            await self.send(line)
            return True
        if mode == Mode.ENDLESS_EHLO_REPLY:
            await self.endless(b"", b"250-X-HOSTILE\r\n" * 64)
            return False
        lines = [b"hostile.test Hello", b"PIPELINING", b"SIZE 10240000"] + ([] if secure else [b"STARTTLS"])
        end = b"\n" if mode == Mode.BARE_LF else b"\r\n"
        reply = b"".join(b"250" + (b" " if i == len(lines) - 1 else b"-") + line + end for i, line in enumerate(lines))
        await self.send(reply)
        return True

    async def drip(self) -> None:
        for byte in BANNER:
            await self.send(bytes([byte]))
            await asyncio.sleep(self.server.drip_interval)

    async def listen(self) -> None:
        """Say nothing more; record what the client sends until it goes away."""
        while await self.command() is not None:
            pass

    async def wait_for_close(self) -> None:
        """Read nothing (so no command is recorded) until the client goes away."""
        while await self.reader.read(4096):
            pass

    async def close(self) -> None:
        self.writer.close()


class HostileSmtp:
    """A misbehaving SMTP server on 127.0.0.1 in a thread of its own (a context manager)."""

    def __init__(self, mode: Mode, *, host: str = "127.0.0.1", drip_interval: float = 1.0) -> None:
        self.mode = mode
        self.drip_interval = drip_interval
        self.host = ensure_loopback(host)
        self.port = 0
        self.commands: list[str] = []  # every command line received, in order
        self.connections = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name=f"hostile-smtp-{mode}", daemon=True)

    def mail_commands(self) -> list[str]:
        """The command lines that begin a mail transaction: a probe must never send one."""
        return [c for c in self.commands if c.split(" ")[0].upper() in MAIL_COMMANDS]

    def __enter__(self) -> HostileSmtp:
        if self.mode in (Mode.ACCEPT, Mode.NO_QUIT_REPLY, Mode.NO_HANDSHAKE, Mode.NO_EHLO_AFTER_TLS):
            tls_context()  # made here, not in the middle of a timed conversation
        self._thread.start()
        if not self._ready.wait(START_LIMIT) or self._error is not None:
            raise RuntimeError(f"the hostile SMTP server did not start: {self._error}")
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop ended already
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(START_LIMIT)
        if self._thread.is_alive():
            raise RuntimeError("the hostile SMTP server did not stop")

    def _serve(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:  # handed to the test thread
            self._error = error
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        tasks: set[asyncio.Task[None]] = set()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            task = asyncio.current_task()
            assert task is not None
            tasks.add(task)
            try:
                await asyncio.wait_for(_Session(self, reader, writer).run(), CONNECTION_LIMIT)
            except (OSError, TimeoutError, asyncio.IncompleteReadError):
                pass  # the client went away, or the limit: either way this connection is over
            finally:
                writer.transport.abort()
                tasks.discard(task)

        server = await asyncio.start_server(handle, self.host, 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            server.close()
            for task in list(tasks):
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await server.wait_closed()
