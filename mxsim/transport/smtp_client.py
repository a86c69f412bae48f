"""One SMTP probe conversation over a connected socket.

Greeting, EHLO, then if asked and offered STARTTLS (the command, the TLS handshake, and
EHLO again, as RFC 3207 §4.2 has a client do), then QUIT; never MAIL, RCPT or DATA.
Every wait is bounded: the greeting by the probe's greeting timeout, each later reply and
the handshake by the command timeout, and each reply is read within RFC 5321's limits
(`smtp_reply`). A wait that ends without a usable reply ends the conversation and says
where and how (`Stopped`); after a timeout or a broken reply the stream is out of step,
so nothing more is sent, not even QUIT.

A module of its own so that ssl loads only when a probe is made: `mxsim check --no-smtp`
and DNS-only traces never pay for it.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from mxsim.transport.base import ConnectResult, ProbeStep, Reply, SmtpProbe, SmtpSession, Stop, Stopped
from mxsim.transport.smtp_reply import Lines, ReplyReader, UnusableReply


@cache
def _opportunistic() -> ssl.SSLContext:
    """One TLS client context for every probe, verifying nothing (as opportunistic senders do).

    A default context loads the system's CA store, which nothing here reads: made per
    connection (as aiosmtplib did) that was 0.4 s of CPU for six STARTTLS hosts in a 1 s
    `mxsim check`, the handshakes themselves a few milliseconds.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@dataclass(frozen=True, slots=True)
class Waits:
    """The longest wait for the greeting and for each later reply or handshake, in the
    engine's seconds (as reports give them); `time_scale` turns them into the wall's."""

    greeting: float
    command: float
    time_scale: float = 1.0


def lab_trust(ca_file: Path) -> ssl.SSLContext:
    """A client context trusting only the lab's CA, for the names on a certificate (MTA-STS senders match them).

    Every SMTP certificate of a lab that has a CA is issued by it, so verifying costs an
    opportunistic sender nothing there; the host name is not checked here but by the
    sender's own rule (`mta.sts.names_allowed`).
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.load_verify_locations(cafile=str(ca_file))
    return context


def certificate_names(ssl_object: ssl.SSLObject | None) -> tuple[str, ...]:
    """The DNS names of a verified peer certificate (empty when nothing was verified)."""
    peer = ssl_object.getpeercert() if ssl_object is not None else None
    if not peer:
        return ()
    names = peer.get("subjectAltName", ())
    return tuple(str(entry[1]) for entry in names if isinstance(entry, tuple) and entry[0] == "DNS")


async def converse(sock: socket.socket, probe: SmtpProbe, waits: Waits,
                   elapsed: Callable[[], float], trust: ssl.SSLContext | None = None) -> SmtpSession:
    """The conversation on `sock` (connected); `elapsed()` gives the engine's seconds so far.

    `trust`: a context that verifies certificates (the lab's CA), so the session carries
    their names; None: opportunistic, nothing verified, no names."""
    reader, writer = await asyncio.open_connection(sock=sock)
    try:
        return await _Conversation(ReplyReader(reader), writer, waits, elapsed, trust).run(probe)
    finally:
        writer.transport.abort()  # no lingering close: the host may be the kind that never reads


class _Conversation:
    def __init__(self, replies: ReplyReader, writer: asyncio.StreamWriter, waits: Waits,
                 elapsed: Callable[[], float], trust: ssl.SSLContext | None = None) -> None:
        self.trust = trust
        self.replies = replies
        self.writer = writer
        self.waits = waits
        self.elapsed = elapsed

    def _stopped(self, step: ProbeStep, error: UnusableReply, wait: float) -> Stopped:
        return Stopped(step, error.how, wait, error.received, error.limit)

    async def ask(self, command: bytes | None, wait: float) -> Lines:
        """Send `command` (None: the greeting is awaited) and read its reply, all within `wait`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait * self.waits.time_scale
        if command is not None:
            try:
                self.writer.write(command)
                async with asyncio.timeout_at(deadline):
                    await self.writer.drain()
            except TimeoutError:
                raise UnusableReply(Stop.TIMEOUT, 0) from None
            except OSError:
                raise UnusableReply(Stop.CLOSED, 0) from None
        return await self.replies.read(max(deadline - loop.time(), 0.0))

    async def run(self, probe: SmtpProbe) -> SmtpSession:
        connected = ConnectResult.CONNECTED
        waits = self.waits
        try:
            greeting = await self.ask(None, waits.greeting)
        except UnusableReply as error:
            return SmtpSession(connected, self.elapsed(), greeting_timeout=error.how == Stop.TIMEOUT,
                               closed=error.how == Stop.CLOSED,
                               stopped=self._stopped(ProbeStep.GREETING, error, waits.greeting))
        session = SmtpSession(connected, 0.0, greeting=Reply(greeting.code, " ".join(greeting.texts)))
        if 200 <= greeting.code < 300:
            session, in_step = await self.hello(probe, session)
            if not in_step:
                return replace(session, elapsed=self.elapsed())
        took = self.elapsed()
        # RFC 5321 §3.1: QUIT even after a refusing greeting. What QUIT gets is noted, never
        # judged: it comes after everything a sender needs before MAIL.
        try:
            await self.ask(b"QUIT\r\n", waits.command)
        except UnusableReply as error:
            return replace(session, elapsed=took, stopped=self._stopped(ProbeStep.QUIT, error, waits.command))
        return replace(session, elapsed=took)

    async def hello(self, probe: SmtpProbe, session: SmtpSession) -> tuple[SmtpSession, bool]:
        """EHLO, and STARTTLS if asked and offered; False when the stream is out of step."""
        wait = self.waits.command
        ehlo_command = f"EHLO {probe.helo}\r\n".encode("ascii", "replace")
        try:
            ehlo = await self.ask(ehlo_command, wait)
        except UnusableReply as error:
            return replace(session, stopped=self._stopped(ProbeStep.EHLO, error, wait)), False
        offered = 200 <= ehlo.code < 300 and any(t.split(" ")[0].upper() == "STARTTLS" for t in ehlo.texts[1:])
        session = replace(session, ehlo=Reply(ehlo.code, ehlo.texts[0]), starttls_offered=offered)
        if not (probe.starttls and offered):
            return session, True
        return await self.upgrade(session, ehlo_command)

    async def upgrade(self, session: SmtpSession, ehlo_command: bytes) -> tuple[SmtpSession, bool]:
        """The whole upgrade, as a sender makes it: a host that offers STARTTLS and then
        fails it is what a sender requiring TLS (MTA-STS, DANE) gives up on. Certificates
        are not judged: opportunistic senders do not either."""
        wait = self.waits.command

        def broken(step: ProbeStep, error: UnusableReply) -> tuple[SmtpSession, bool]:
            stopped = self._stopped(step, error, wait)
            return replace(session, tls_error=stopped.describe(), stopped=stopped), False

        try:
            answer = await self.ask(b"STARTTLS\r\n", wait)
        except UnusableReply as error:
            return broken(ProbeStep.STARTTLS, error)
        if answer.code != 220:
            return replace(session, starttls_refused=Reply(answer.code, " ".join(answer.texts))), True
        self.replies.discard()
        try:
            async with asyncio.timeout(wait * self.waits.time_scale):
                # asyncio's own handshake timeout is only a backstop behind the one above
                await self.writer.start_tls(self.trust or _opportunistic(),
                                            ssl_handshake_timeout=wait * self.waits.time_scale + 1)
        except TimeoutError:
            return broken(ProbeStep.HANDSHAKE, UnusableReply(Stop.TIMEOUT, 0))
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionError):
            return broken(ProbeStep.HANDSHAKE, UnusableReply(Stop.CLOSED, 0))
        except OSError as error:  # ssl.SSLError is an OSError: an alert, a protocol mismatch
            return replace(session, tls_error=f"TLS handshake failed ({type(error).__name__}: {error})"), False
        ssl_object = self.writer.get_extra_info("ssl_object")
        session = replace(session, tls_version=(ssl_object.version() if ssl_object is not None else None) or "TLS",
                          certificate=certificate_names(ssl_object) if self.trust is not None else ())
        try:
            again = await self.ask(ehlo_command, wait)
        except UnusableReply as error:
            return broken(ProbeStep.EHLO_TLS, error)
        if not 200 <= again.code < 300:
            return replace(session, tls_error=f"EHLO after STARTTLS answered {again.code} {again.texts[0]}"), True
        return session, True
