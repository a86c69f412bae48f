"""The SMTP dialogue of a lab mail host: a real sink that records what arrives.

An `accept` (or `slow`, once it greets) host speaks enough of RFC 5321 for real MTAs
and `smtplib`: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, VRFY, HELP, QUIT; STARTTLS is
advertised when the host says so, and answered 454 or, for `tls: handshake`, with 220 and
a TLS handshake (RFC 3207; the lab's self-signed certificate, `lab.tls`).
Each message that completes DATA becomes one JSON line in the sink.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import json
import logging
import os
import re
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mxsim.lab import files
from mxsim.transport.base import Reply

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 10 * 1024 * 1024
MAX_RECIPIENTS = 1000
MAX_BAD_COMMANDS = 20  # then 421: a confused client must not hold a listener forever
# How long a mail host waits for the client's next command, or for it to take a reply,
# before it says 421 and closes. RFC 5321 §4.5.3.2.7 asks a server for 5 minutes and
# Postfix's smtpd_timeout is 300 s, but Postfix itself drops to 10 s under stress
# (postconf(5): smtpd_timeout = ${stress?{10}:{300}}s) to win its slots back. The lab's
# clients (MTAs, mxsim's probes) send each command within milliseconds of the last
# reply, so 60 s never cuts a working client short, and a connection someone left open
# gives its slot back five times sooner. `lab up --smtp-idle-timeout` sets it.
IDLE_TIMEOUT = 60.0
KEPT_IN_MEMORY = 64  # recent messages kept for in-process readers; the file keeps them all
PATH = re.compile(r"^(?P<verb>FROM|TO):\s*<(?P<path>[^<>]*)>\s*(?P<params>.*)$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class HostIdentity:
    """Who a listener is: its lab and real addresses and the names that lead to it."""

    lab: str
    real: str
    names: tuple[str, ...]

    @property
    def banner_host(self) -> str:
        # The model's choice (transport.model): the first name, else the address.
        return self.names[0] if self.names else self.real


class SmtpSink:
    """Recorded messages: every one as a JSON line on disk (if given a path), private to
    the lab's user; the most recent ones in memory too, and how many came."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.records: collections.deque[dict[str, Any]] = collections.deque(maxlen=KEPT_IN_MEMORY)
        self.count = 0

    def record(self, row: dict[str, Any]) -> None:
        self.records.append(row)
        self.count += 1
        if self.path is None:
            return
        try:
            out = files.open_append(self.path, files.PRIVATE)
            try:
                files.write_all(out, (json.dumps(row, sort_keys=True) + "\n").encode("utf-8"))
            finally:
                os.close(out)
        except OSError as error:
            # The message was received; losing the file copy must not fail the sender.
            log.warning("cannot record %s to %s: %s", row["id"], self.path, error.strerror or error)


@dataclass(slots=True)
class Envelope:
    mail_from: str | None = None
    mail_params: str = ""
    rcpt_to: list[str] = field(default_factory=list)


class SmtpDialogue:
    """One connection to an accepting host, after the greeting."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        host: HostIdentity,
        *,
        starttls: bool,
        sink: SmtpSink,
        command_timeout: float = IDLE_TIMEOUT,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.host = host
        self.starttls = starttls
        self.tls = tls  # None: STARTTLS is refused with 454
        self.secure = False
        self.sink = sink
        self.command_timeout = command_timeout
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "unknown"
        self.helo: str | None = None
        self.envelope = Envelope()
        self.bad = 0

    async def send(self, code: int, *lines: str) -> None:
        text = "".join(
            f"{code}{'-' if i < len(lines) - 1 else ' '}{line}\r\n" for i, line in enumerate(lines)
        )
        self.writer.write(text.encode("utf-8", "replace"))
        # A client that sends without ever reading fills the socket: the wait for room
        # is bounded like the wait for a command (Postfix's smtpd_timeout covers both).
        # asyncio.timeout, not wait_for: wait_for would yield to the loop even with room,
        # and a TLS ClientHello sent right after "220 Ready" would reach the plain reader.
        async with asyncio.timeout(self.command_timeout):
            await self.writer.drain()

    async def readline(self) -> bytes:
        return await asyncio.wait_for(self.reader.readline(), self.command_timeout)

    async def run(self) -> None:
        try:
            while await self.next_command():
                if self.bad >= MAX_BAD_COMMANDS:
                    await self.send(421, "4.7.0 Too many errors, closing connection")
                    return
        except ValueError:  # a line longer than the stream limit, in a command or in DATA
            await self.send(500, "5.5.2 Line too long")
        except TimeoutError:
            say_timeout(self.writer, self.host.banner_host)

    async def next_command(self) -> bool:
        raw = await self.readline()
        if not raw:
            return False
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        verb, _, argument = line.partition(" ")
        return await self.command(verb.upper(), argument.strip())

    async def command(self, verb: str, argument: str) -> bool:
        """Answer one command; False when the conversation is over."""
        if verb == "QUIT":
            await self.send(221, "2.0.0 Bye")
            return False
        if verb in ("EHLO", "HELO"):
            await self.hello(verb, argument)
        elif verb == "MAIL":
            await self.mail(argument)
        elif verb == "RCPT":
            await self.rcpt(argument)
        elif verb == "DATA":
            await self.data()
        elif verb == "RSET":
            self.envelope = Envelope()
            await self.send(250, "2.0.0 OK")
        elif verb == "NOOP":
            await self.send(250, "2.0.0 OK")
        elif verb == "VRFY":
            await self.send(252, "2.5.0 Cannot VRFY user, but will accept message")
        elif verb == "HELP":
            await self.send(214, "2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP VRFY QUIT")
        elif verb == "STARTTLS" and self.starttls:
            return await self.upgrade()
        else:
            self.bad += 1
            await self.send(500, "5.5.2 Command not recognized")
        return True

    async def upgrade(self) -> bool:
        """STARTTLS; False when the handshake failed and the conversation is over."""
        if self.tls is None:
            await self.send(454, "4.7.0 TLS not available")
        elif self.secure:
            await self.send(503, "5.5.1 TLS already active")
        else:
            await self.send(220, "2.0.0 Ready to start TLS")
            try:
                await asyncio.wait_for(self.writer.start_tls(self.tls), self.command_timeout)
            except (OSError, TimeoutError):  # ssl.SSLError is an OSError: the client gave up
                return False
            # RFC 3207 §4.2: everything learnt before the handshake is forgotten.
            self.secure, self.helo, self.envelope = True, None, Envelope()
        return True

    async def hello(self, verb: str, argument: str) -> None:
        if not argument:
            self.bad += 1
            await self.send(501, f"5.5.4 Syntax: {verb} hostname")
            return
        self.helo = argument
        self.envelope = Envelope()
        first = f"{self.host.banner_host} Hello {argument}"
        if verb == "HELO":
            await self.send(250, first)
            return
        extensions = ["PIPELINING", f"SIZE {MAX_MESSAGE_BYTES}", "8BITMIME", "ENHANCEDSTATUSCODES"]
        if self.starttls and not self.secure:
            extensions.append("STARTTLS")
        await self.send(250, first, *extensions)

    async def mail(self, argument: str) -> None:
        match = PATH.match(argument)
        if self.helo is None:
            await self.send(503, "5.5.1 Send EHLO or HELO first")
        elif self.envelope.mail_from is not None:
            await self.send(503, "5.5.1 Nested MAIL command")
        elif match is None or match["verb"].upper() != "FROM":
            self.bad += 1
            await self.send(501, "5.5.4 Syntax: MAIL FROM:<address>")
        elif _declared_size(match["params"]) > MAX_MESSAGE_BYTES:
            await self.send(552, "5.3.4 Message size exceeds fixed limit")
        else:
            self.envelope.mail_from = match["path"]
            self.envelope.mail_params = match["params"]
            await self.send(250, "2.1.0 OK")

    async def rcpt(self, argument: str) -> None:
        match = PATH.match(argument)
        if self.envelope.mail_from is None:
            await self.send(503, "5.5.1 Need MAIL before RCPT")
        elif match is None or match["verb"].upper() != "TO" or not match["path"]:
            self.bad += 1
            await self.send(501, "5.5.4 Syntax: RCPT TO:<address>")
        elif len(self.envelope.rcpt_to) >= MAX_RECIPIENTS:
            await self.send(452, "4.5.3 Too many recipients")
        else:
            self.envelope.rcpt_to.append(match["path"])
            await self.send(250, "2.1.5 OK")

    async def data(self) -> None:
        if self.envelope.mail_from is None:
            await self.send(503, "5.5.1 Need MAIL command")
            return
        if not self.envelope.rcpt_to:
            await self.send(554, "5.5.1 No valid recipients")
            return
        await self.send(354, "End data with <CR><LF>.<CR><LF>")
        body = bytearray()
        too_big = False
        while True:
            line = await self.readline()
            if not line:
                raise ConnectionError("connection closed during DATA")
            if line in (b".\r\n", b".\n"):
                break
            if line.startswith(b"."):
                line = line[1:]  # RFC 5321 §4.5.2: undo the sender's dot-stuffing
            if len(body) + len(line) > MAX_MESSAGE_BYTES:
                too_big = True
            elif not too_big:
                body += line
        envelope, self.envelope = self.envelope, Envelope()
        if too_big:
            await self.send(552, "5.3.4 Message size exceeds fixed limit")
            return
        index = self.sink.count + 1
        self.sink.record(self._row(envelope, bytes(body), index))
        await self.send(250, f"2.0.0 OK queued as mxsim-lab-{index}")

    def _row(self, envelope: Envelope, body: bytes, index: int) -> dict[str, Any]:
        try:
            text: str | None = body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        return {
            "id": f"mxsim-lab-{index}",
            "time": time.time(),
            "lab_address": self.host.lab,
            "real_address": self.host.real,
            "host": self.host.banner_host,
            "names": list(self.host.names),
            "peer": self.peer,
            "helo": self.helo,
            "mail_from": envelope.mail_from,
            "mail_params": envelope.mail_params,
            "rcpt_to": envelope.rcpt_to,
            "size": len(body),
            "data": text,
            "data_base64": base64.b64encode(body).decode("ascii"),
        }


def _declared_size(params: str) -> int:
    for param in params.split():
        key, _, value = param.partition("=")
        if key.upper() == "SIZE" and value.isdigit():
            return int(value)
    return 0


def say_timeout(writer: asyncio.StreamWriter, host: str) -> None:
    """Postfix's words when smtpd_timeout runs out (smtpd/smtpd.c), written without waiting:
    a client that stopped reading will not take them, and the connection closes anyway."""
    writer.write(f"421 4.4.2 {host} Error: timeout exceeded\r\n".encode("utf-8", "replace"))


async def wait_for_quit(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, command_timeout: float
) -> None:
    """After a 5xx (or non-421 4xx) greeting: RFC 5321 §3.1, only QUIT is of use."""
    for _ in range(MAX_BAD_COMMANDS):
        raw = await asyncio.wait_for(reader.readline(), command_timeout)
        if not raw:
            return
        if raw.strip().upper() == b"QUIT":
            writer.write(b"221 2.0.0 Bye\r\n")
            await writer.drain()
            return
        writer.write(b"503 5.5.1 Bad sequence of commands\r\n")
        await writer.drain()


def greeting_line(reply: Reply) -> bytes:
    return f"{reply.code} {reply.text}\r\n".encode("utf-8", "replace")
