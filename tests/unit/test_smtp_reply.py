"""The probe's reply reader at its limits: RFC 5321's 512-octet reply line, the 100-line cap,
what counts as a reply line, and the deadline over a whole reply."""

from __future__ import annotations

import asyncio

import pytest

from mxsim.transport.base import Stop
from mxsim.transport.smtp_reply import MAX_REPLY_LINE, MAX_REPLY_LINES, Lines, ReplyReader, UnusableReply

Read = Lines | UnusableReply


def read(data: bytes, *, eof: bool = True, timeout: float = 1.0, replies: int = 1) -> list[Read]:
    """What `replies` reads of a stream holding `data` give (ended by EOF unless told not)."""

    async def go() -> list[Read]:
        stream = asyncio.StreamReader()
        stream.feed_data(data)
        if eof:
            stream.feed_eof()
        reader = ReplyReader(stream)
        found: list[Read] = []
        for _ in range(replies):
            try:
                found.append(await reader.read(timeout))
            except UnusableReply as error:
                found.append(error)
        return found

    return asyncio.run(go())


def stop(data: bytes, **kwargs: float | bool) -> tuple[Stop, int, int]:
    [error] = read(data, **kwargs)  # type: ignore[arg-type]
    assert isinstance(error, UnusableReply), error
    return error.how, error.received, error.limit


def test_a_reply_line_of_512_octets_with_its_crlf_is_read_and_513_is_too_long() -> None:
    text = b"x" * (MAX_REPLY_LINE - 6)
    assert read(b"220 " + text + b"\r\n") == [Lines(220, (text.decode(),))]
    assert stop(b"220 " + text + b"y\r\n") == (Stop.LINE_TOO_LONG, 513, MAX_REPLY_LINE)


def test_a_line_without_end_is_too_long_once_past_512_octets_whatever_follows() -> None:
    how, received, _ = stop(b"220 " + b"x" * (10 * 1024 * 1024), eof=False)
    assert how == Stop.LINE_TOO_LONG and received < MAX_REPLY_LINE + 4096  # never buffered whole


def test_a_reply_of_100_lines_is_read_and_one_of_101_is_too_long() -> None:
    hundred = b"250-x\r\n" * (MAX_REPLY_LINES - 1) + b"250 last\r\n"
    [lines] = read(hundred)
    assert isinstance(lines, Lines) and len(lines.texts) == MAX_REPLY_LINES and lines.texts[-1] == "last"
    assert stop(b"250-x\r\n" * MAX_REPLY_LINES + b"250 last\r\n")[::2] == (Stop.TOO_MANY_LINES, MAX_REPLY_LINES)


@pytest.mark.parametrize("line", [b"hello\r\n", b"22\r\n", b"2x0 hi\r\n", b"220x\r\n", b"120 hi\r\n",
                                  b"620 hi\r\n", b"\x00\xff\r\n", b"\r\n"])
def test_what_is_not_a_reply_line_is_malformed(line: bytes) -> None:
    assert stop(line)[0] == Stop.MALFORMED


def test_a_bare_lf_and_a_code_alone_are_reply_lines() -> None:
    assert read(b"250-a\n250\n") == [Lines(250, ("a", ""))]


def test_control_bytes_and_invalid_utf8_are_escaped_or_replaced() -> None:
    assert read(b"220 a\x1b[2Jb\xff\tc\r\n") == [Lines(220, ("a\\x1b[2Jb\ufffd\\x09c",))]


def test_bytes_after_a_reply_wait_for_the_next() -> None:
    assert read(b"220 hi\r\n250 ok\r\n", replies=2) == [Lines(220, ("hi",)), Lines(250, ("ok",))]


def test_a_close_mid_reply_and_a_timeout_say_how_much_came() -> None:
    assert stop(b"250-a\r\n250-b") == (Stop.CLOSED, 12, 0)
    assert stop(b"", eof=True) == (Stop.CLOSED, 0, 0)
    assert stop(b"250-a\r\n25", eof=False, timeout=0.05) == (Stop.TIMEOUT, 9, 0)
    assert stop(b"", eof=False, timeout=0.05) == (Stop.TIMEOUT, 0, 0)


def test_what_was_read_ahead_is_discarded_on_request() -> None:
    """Before the TLS handshake: a reply sent in clear text must not pass for one over TLS."""

    async def go() -> Read:
        stream = asyncio.StreamReader()
        stream.feed_data(b"220 go ahead\r\n250 injected\r\n")
        reader = ReplyReader(stream)
        await reader.read(1.0)
        reader.discard()
        stream.feed_data(b"250 real\r\n")
        return await reader.read(1.0)

    assert asyncio.run(go()) == Lines(250, ("real",))
