"""SMTP replies read from a stream within RFC 5321's limits and a deadline.

A probe reads what a host sends, and a host may send anything: a banner of megabytes, a
line that never ends, a multi-line reply that never reaches its last line, one byte a
second, bytes that are not SMTP. Each reply is read within one wait (the whole reply, not
each packet: a drip-feed cannot stretch it), a line no longer than RFC 5321 allows, and a
bounded number of lines; past a limit the reading stops at once, with the reason, and
what was buffered never exceeds a line and one read.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from mxsim.transport.base import Stop

# RFC 5321 §4.5.3.1.5: "The maximum total length of a reply line including the reply code
# and the <CRLF> is 512 octets." A line ended by a bare LF (accepted, as Exim and Postfix
# accept it) counts its LF.
MAX_REPLY_LINE = 512
# RFC 5321 sets no limit on the lines of a multi-line reply. The longest a probe asks for
# is the EHLO reply: a first line and one line per extension, and the IANA registry of SMTP
# service extensions holds about 50 keywords, so a reply a sender needs stays far below 100
# lines (Postfix and Exim send under 15). 100 lines of 512 octets bound a reply at 51,200.
MAX_REPLY_LINES = 100
_READ = 4096  # bytes asked of the stream at a time


class UnusableReply(Exception):
    """The wait ended without a reply a client can use: timeout, close, or a broken limit."""

    def __init__(self, how: Stop, received: int, limit: int = 0) -> None:
        super().__init__(how.value)
        self.how = how
        self.received = received  # octets of this reply read before it stopped
        self.limit = limit


@dataclass(frozen=True, slots=True)
class Lines:
    """A complete reply: its code and the text of each line (printable, at most 512 octets each)."""

    code: int
    texts: tuple[str, ...]


def printable(raw: bytes) -> str:
    """Reply text as reports may show it: UTF-8 (RFC 6531) or replaced, control bytes escaped."""
    text = raw.decode("utf-8", "replace")
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def _reply_line(line: bytes) -> tuple[int, bool, bytes] | None:
    """(code, last line?, text) of one reply line without its line ending; None if it is not one.

    RFC 5321 §4.2: three digits, the first 2 to 5, then a space, a hyphen (more lines
    follow) or the end of the line.
    """
    code, separator = line[:3], line[3:4]
    if len(code) < 3 or not code.isdigit() or code[:1] not in b"2345" or separator not in (b" ", b"-", b""):
        return None
    return int(code), separator != b"-", line[4:]


class ReplyReader:
    """Reads reply after reply from one stream; bytes after a reply wait for the next."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader
        self._buffer = bytearray()
        self._received = 0

    def discard(self) -> None:
        """Forget what was read ahead: nothing sent in clear text may pass for a reply over TLS."""
        self._buffer.clear()

    async def read(self, timeout: float) -> Lines:
        """The next whole reply, within `timeout` seconds; UnusableReply otherwise."""
        self._received = 0
        try:
            async with asyncio.timeout(timeout):
                return await self._reply()
        except TimeoutError:
            raise UnusableReply(Stop.TIMEOUT, self._received + len(self._buffer)) from None
        except OSError:  # reset, or a broken TLS record (ssl.SSLError is an OSError)
            raise UnusableReply(Stop.CLOSED, self._received + len(self._buffer)) from None

    async def _reply(self) -> Lines:
        texts: list[str] = []
        while True:
            parsed = _reply_line((await self._line()).rstrip(b"\r\n"))
            if parsed is None:
                raise UnusableReply(Stop.MALFORMED, self._received)
            code, last, text = parsed
            texts.append(printable(text))
            if last:
                return Lines(code, tuple(texts))
            if len(texts) >= MAX_REPLY_LINES:
                raise UnusableReply(Stop.TOO_MANY_LINES, self._received, MAX_REPLY_LINES)

    async def _line(self) -> bytes:
        while True:
            end = self._buffer.find(b"\n", 0, MAX_REPLY_LINE)
            if end >= 0:
                line = bytes(self._buffer[:end + 1])
                del self._buffer[:end + 1]
                self._received += len(line)
                return line
            if len(self._buffer) >= MAX_REPLY_LINE:
                raise UnusableReply(Stop.LINE_TOO_LONG, self._received + len(self._buffer), MAX_REPLY_LINE)
            chunk = await self._reader.read(_READ)
            if not chunk:
                raise UnusableReply(Stop.CLOSED, self._received + len(self._buffer))
            self._buffer += chunk
