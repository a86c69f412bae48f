"""Garbage for the lab's listeners: DNS datagrams, DNS-over-TCP streams, SMTP streams.

Most of it is near-DNS (a real query with bytes flipped, cut or lengthened, header counts
that lie, compression loops), because that is what gets past the first length check.
"""

from __future__ import annotations

import struct

import dns.message
import dns.rdatatype

from tests.reliability.choice import Chooser, coin, pick, some_bytes

NAMES = ("wa-students.org.", ".", "org.", "example.org.", "a" * 63 + ".org.")
TYPES = ("MX", "A", "AAAA", "NS", "SOA", "TXT", "ANY", "AXFR", "IXFR", "TYPE65535")


def real_query(chooser: Chooser) -> bytes:
    query = dns.message.make_query(pick(chooser, NAMES), dns.rdatatype.from_text(pick(chooser, TYPES)),
                                   use_edns=pick(chooser, (0, False)), want_dnssec=coin(chooser))
    query.id = chooser.integer(0, 0xFFFF)
    return query.to_wire()


def _flip(data: bytes, chooser: Chooser) -> bytes:
    out = bytearray(data)
    for _ in range(chooser.integer(1, 8)):
        out[chooser.integer(0, len(out) - 1)] = chooser.integer(0, 255)
    return bytes(out)


def _header(qd: int, an: int, ns: int, ar: int, flags: int = 0x0100) -> bytes:
    return struct.pack("!HHHHHH", 0x1234, flags, qd, an, ns, ar)


def datagram(chooser: Chooser) -> bytes:
    kind = chooser.integer(0, 11)
    if kind == 0:
        return some_bytes(chooser, 0, 512)
    if kind == 1:
        return _flip(real_query(chooser), chooser)
    if kind == 2:
        query = real_query(chooser)
        return query[: chooser.integer(0, len(query) - 1)]
    if kind == 3:
        return real_query(chooser) + some_bytes(chooser, 1, 64)
    if kind == 4:  # counts that promise far more than is there
        return _header(0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF)
    if kind == 5:  # a question whose name is a compression pointer to itself
        return _header(1, 0, 0, 0) + b"\xc0\x0c\x00\x0f\x00\x01"
    if kind == 6:  # a response, not a query: a server must not answer it
        return b"\x12\x34\x81\x80" + real_query(chooser)[4:]
    if kind == 7:  # an OPT record whose option length runs past the end
        query = real_query(chooser)
        opt = b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x08\x00\x03\xff\xff"
        return _header(1, 0, 0, 1) + query[12:].split(b"\x00\x00\x29")[0] + opt
    if kind == 8:  # two questions
        query = real_query(chooser)
        return _header(2, 0, 0, 0) + query[12:] + query[12:]
    if kind == 9:  # an unknown opcode, a reserved class
        return b"\x12\x34" + pick(chooser, (b"\x78\x00", b"\x28\x00", b"\x10\x00")) + real_query(chooser)[4:]
    if kind == 10:
        return b""
    return some_bytes(chooser, 1200, pick(chooser, (1500, 4096, 65000)))


def tcp_stream(chooser: Chooser) -> tuple[bytes, str]:
    """Bytes for a DNS-over-TCP connection, and whether to then close or stay idle."""
    kind = chooser.integer(0, 6)
    mode = pick(chooser, ("close", "close", "idle", "half-close"))
    if kind == 0:
        return some_bytes(chooser, 0, 4096), mode
    if kind == 1:  # a length prefix that promises 65,535 bytes and delivers a few
        return b"\xff\xff" + some_bytes(chooser, 0, 100), mode
    if kind == 2:
        return b"\x00\x00", mode
    if kind == 3:  # pipelined queries, some of them garbage
        parts = [datagram(chooser) if coin(chooser, 3) else real_query(chooser) for _ in range(chooser.integer(1, 50))]
        return b"".join(struct.pack("!H", len(p) & 0xFFFF) + p[:0xFFFF] for p in parts), mode
    if kind == 4:  # one query, one byte short
        query = real_query(chooser)
        return struct.pack("!H", len(query)) + query[:-1], mode
    if kind == 5:
        return b"", "idle"
    return struct.pack("!H", 0xFFFF) + some_bytes(chooser, 0xFFFF, 0xFFFF), mode


SMTP_LINES = (b"EHLO x\r\n", b"HELO x\r\n", b"MAIL FROM:<>\r\n", b"RCPT TO:<a@b>\r\n", b"DATA\r\n", b"BDAT 10\r\n",
              b"STARTTLS\r\n", b"AUTH PLAIN AAAA\r\n", b"RSET\r\n", b"NOOP\r\n", b"\r\n", b".\r\n", b"QUIT\r\n")


def smtp_stream(chooser: Chooser) -> tuple[bytes, str]:
    kind = chooser.integer(0, 5)
    mode = pick(chooser, ("close", "close", "idle", "half-close"))
    if kind == 0:
        return some_bytes(chooser, 0, 4096), mode
    if kind == 1:  # a line without end
        return b"EHLO " + b"x" * pick(chooser, (1000, 100_000, 1_000_000)), mode
    if kind == 2:
        return b"".join(pick(chooser, SMTP_LINES) for _ in range(chooser.integer(1, 200))), mode
    if kind == 3:  # a TLS ClientHello-like record where a command belongs
        return b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + some_bytes(chooser, 0, 600), mode
    if kind == 4:
        return b"EHLO x\r\nMAIL FROM:<a\x00b>\r\nRCPT TO:<" + b"r" * 5000 + b">\r\nDATA\r\n" + \
            some_bytes(chooser, 0, 2000), mode
    return b"", "idle"
