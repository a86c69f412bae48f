"""Odd values, names and recipients: the building blocks of every hostile input here.

Each generator returns the value and a short description of it, so that a failing input
can be named in a report without printing 100 KB of it.
"""

from __future__ import annotations

from typing import Any

from tests.reliability.choice import Chooser, coin, pick

LABEL63 = "a" * 63


def clip(text: str, most: int = 90) -> str:
    """`text` as repr, its middle cut out if long: the start and the end are what tell inputs apart."""
    shown = repr(text)
    if len(shown) <= most:
        return shown
    keep = (most - 20) // 2
    return f"{shown[:keep]}...({len(text)} chars)...{shown[-keep:]}"


def _name_of_length(length: int) -> str:
    """A domain name of exactly `length` characters (no final dot), in labels of at most 63."""
    text = ".".join(["b" * 63] * 20)[:length]
    return text[:-2] + ".b" if text.endswith(".") else text


ODD_NAMES: tuple[tuple[str, str], ...] = (
    ("example.org", "plain"),
    ("EXAMPLE.ORG.", "upper case, final dot"),
    ("", "empty"),
    (" ", "blank"),
    (".", "the root"),
    ("..", "two dots"),
    ("a..b.example", "empty label"),
    ("-a.example", "leading hyphen"),
    ("a-.example", "trailing hyphen"),
    ("_smtp._tcp.example", "underscore labels"),
    ("*.example", "wildcard"),
    (f"{LABEL63}.example", "63-character label"),
    (f"{LABEL63}a.example", "64-character label"),
    (_name_of_length(243), "243-character name"),
    (_name_of_length(253), "253-character name"),
    (_name_of_length(254), "254-character name"),
    (_name_of_length(255), "255-character name"),
    (_name_of_length(300), "300-character name"),
    ("a" * 5000, "5000-character label"),
    ("bücher.example", "IDN (U-label)"),
    ("xn--bcher-kva.example", "IDN (A-label)"),
    ("xn--zz.example", "bad punycode"),
    ("例え.テスト", "IDN, CJK"),
    ("ＥＸＡＭＰＬＥ.org", "full-width letters"),
    ("exa\u202emple.org", "right-to-left override"),
    ("a\\.b.example", "escaped dot"),
    ("a\\000b.example", "escaped NUL"),
    ("a\\999.example", "bad escape"),
    ("a b.example", "space"),
    ("a\r\nb.example", "CR LF"),
    ("a\tb.example", "tab"),
    ("a\x1b[31mb.example", "terminal escape"),
    ("127.0.0.1", "IPv4 address"),
    ("[127.0.0.1]", "address literal"),
    ("::1", "IPv6 address"),
    ("0x7f.1", "hex address"),
    ("example.org:25", "port"),
    ("@", "at sign"),
    ("-X/tmp/x", "option-like"),
    ("%s%n{0}", "format characters"),
    ("$(id)`id`;|&", "shell characters"),
    ("../../etc/passwd", "path"),
)

ODD_LOCALS: tuple[tuple[str, str], ...] = (
    ("student", "plain"),
    ("", "empty"),
    ("-X/tmp/x", "option-like"),
    ("--", "double hyphen"),
    ("-f", "option"),
    ('"a b"', "quoted"),
    ("a b", "space"),
    ("a\r\nRCPT TO:<x@example.org>", "CR LF command"),
    ("ü", "non-ASCII"),
    ("a" * 65, "65 characters"),
    ("a" * 5000, "5000 characters"),
    ("<x>", "angle brackets"),
    ("a+tag", "plus"),
    ("a%b", "percent"),
    ("a\x00b", "NUL"),
    ("a\\@b", "escaped at"),
)

SCALARS: tuple[tuple[Any, str], ...] = (
    (0, "0"),
    (-1, "-1"),
    (1, "1"),
    (2**31, "2**31"),
    (2**63, "2**63"),
    (10**100, "10**100"),
    (-(10**100), "-10**100"),
    (0.5, "0.5"),
    (-0.0, "-0.0"),
    (1e308, "1e308"),
    (float("inf"), "inf"),
    (float("nan"), "nan"),
    (True, "true"),
    (False, "false"),
    (None, "null"),
    ("", "empty string"),
    ("  ", "blank string"),
    ("a\r\nb", "CR LF string"),
    ("a\x00b", "NUL string"),
    ("a\x1b[2Jb", "terminal escape string"),
    ("bücher", "non-ASCII string"),
    ("%s %d {0} {}", "format string"),
    ("5d", "duration 5d"),
    ("-5s", "negative duration"),
    ("1e400s", "overflowing duration"),
    ("99999999999999999999d", "huge duration"),
    ("0s", "zero duration"),
    ("nan", "nan string"),
    ("inf", "inf string"),
    ("1.5", "1.5 string"),
    ("-1", "-1 string"),
    ("127.0.0.1", "loopback address"),
    ("::1", "IPv6 loopback"),
    ("999.1.1.1", "bad address"),
    ("0.0.0.0", "any address"),
    ("192.0.2.1", "documentation address"),
    ("/etc/shadow", "absolute path"),
    ("../outside/secret.txt", "path out of the folder"),
    ("-X/tmp/x@example.org", "option-like recipient"),
    ("a@b@c", "two at signs"),
)


def odd_name(chooser: Chooser) -> tuple[str, str]:
    return pick(chooser, ODD_NAMES)


def long_string(chooser: Chooser) -> tuple[str, str]:
    size = pick(chooser, (256, 1001, 4096, 100_000))
    filler = pick(chooser, ("a", "é", "\r\n", "a\x00", "%"))
    return (filler * size)[:size], f"{size}-character string of {filler!r}"


def odd_scalar(chooser: Chooser) -> tuple[Any, str]:
    if coin(chooser, 6):
        return long_string(chooser)
    if coin(chooser, 6):
        name, why = odd_name(chooser)
        return name, f"name: {why}"
    return pick(chooser, SCALARS)


def odd_value(chooser: Chooser) -> tuple[Any, str]:
    """A value of any YAML type: a scalar, or a container of odd shape."""
    kind = chooser.integer(0, 5)
    if kind <= 2:
        return odd_scalar(chooser)
    if kind == 3:
        return pick(chooser, (([], "empty list"), ({}, "empty mapping"), ([1, "a"], "list"), ({"a": 1}, "mapping")))
    if kind == 4:
        size = pick(chooser, (2, 100, 5000))
        value, why = pick(chooser, SCALARS)  # short ones: a list of 5000 long strings is only slow
        return [value] * size, f"list of {size} x {why}"
    depth = pick(chooser, (5, 50))
    nested: Any = "x"
    for _ in range(depth):
        nested = [nested]
    return nested, f"list nested {depth} deep"


def odd_recipient(chooser: Chooser, domain: str) -> tuple[str, str]:
    """An address to give `-r`: odd local parts, odd domains, odd shapes."""
    shape = chooser.integer(0, 4)
    local, local_why = pick(chooser, ODD_LOCALS)
    if shape == 0:
        return f"{local}@{domain}", f"local part {local_why}"
    name, name_why = odd_name(chooser)
    if shape == 1:
        return f"student@{name}", f"domain {name_why}"
    if shape == 2:
        return f"{local}@{name}", f"local part {local_why}, domain {name_why}"
    if shape == 3:
        return pick(chooser, ((f"{local}", "no at sign"), (f"{local}@", "nothing after @"),
                              (f"@{domain}", "nothing before @"), (f"a@b@{domain}", "two at signs"),
                              (f" {local}@{domain} ", "spaces around"), (f"<{local}@{domain}>", "angle brackets")))
    return f"{local}@{domain}" + pick(chooser, ("\udcff", "\r\n", ".", "..")), "odd tail"
