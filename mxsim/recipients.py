"""What a recipient address must be, checked alike in scenario files and on the command line.

USER@DOMAIN with exactly one `@`, a local part of at most 64 octets (RFC 5321 §4.5.3.1.1),
and a domain that is a DNS name: no empty label, no label over 63 octets, the whole at most
255 octets on the wire (RFC 1035 §2.3.4). Internationalised domains are taken as written and
turned into their A-labels as DNS asks (dnspython's IDNA codec), the same on either path.
A recipient may not begin with `-`: it reaches real MTAs' command lines (`mxsim agree`).
"""

from __future__ import annotations

import dns.exception
import dns.name

LOCAL_LIMIT = 64
_NAME_PROBLEMS: dict[type[Exception], str] = {
    dns.name.EmptyLabel: "its domain has an empty label",
    dns.name.LabelTooLong: "its domain has a label over 63 octets",
    dns.name.NameTooLong: "its domain is over 255 octets",
}


def recipient_problem(text: str) -> str | None:
    """Why `text` is not a recipient address, or None when it is one."""
    if not text:
        return "it is empty"
    if text.startswith("-"):
        return "it begins with `-`, which an MTA's command line reads as an option"
    if any(char.isspace() or not char.isprintable() for char in text):
        return "it holds white space or a control character"
    if text.count("@") != 1:
        return "expected exactly one @, as in USER@DOMAIN"
    local, _at, domain = text.partition("@")
    if not local:
        return "the part before @ is empty"
    if len(local.encode()) > LOCAL_LIMIT:
        return f"the part before @ is over {LOCAL_LIMIT} octets"
    if not domain.rstrip("."):
        return "the domain after @ is empty"
    try:
        dns.name.from_text(domain)
    except tuple(_NAME_PROBLEMS) as error:
        return _NAME_PROBLEMS[type(error)]
    except (dns.exception.DNSException, UnicodeError) as error:
        return f"its domain is not a DNS name ({error})"
    return None
