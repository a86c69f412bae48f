"""Where the wire transport may send: the contract a world served on sockets must meet.

The wire transport sends an engine address wherever its `Destinations` say, and nowhere
else: the lab's address map (mxsim.lab.addressmap) fulfils the contract for a world on
loopback, `LiveAddresses` for the live internet. What both sides need to agree on (the
loopback rule and the error for an address with no destination) lives here, below both,
so the transport never has to know that a lab exists.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Protocol

import dns.message

from mxsim.errors import MxsimError

LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")


class OffLimitsError(MxsimError):
    """Sending or binding there would leave the addresses allowed (127.0.0.0/8 for a lab)."""


class NoDestinationError(OffLimitsError):
    """An engine address with no destination: nothing of the world listens there."""


def loopback_only(address: str) -> str:
    """`address` as plain IPv4 text if it lies in 127.0.0.0/8 (also `::ffff:127.x.y.z`)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError as error:
        raise OffLimitsError(f"not an IP address: {address!r}") from error
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if not isinstance(ip, ipaddress.IPv4Address) or ip not in LOOPBACK:
        raise OffLimitsError(f"the lab binds and sends only inside 127.0.0.0/8; refusing {address}")
    return str(ip)


class Destinations(Protocol):
    """Where an engine address is sent. `lab` raises NoDestinationError for an unknown one."""

    def lab(self, real: str) -> str: ...

    def bindable(self, lab: str) -> str: ...

    def unrewrite_message(self, message: dns.message.Message) -> None: ...


class LiveAddresses:
    """The live world (`mxsim check --root-hints FILE`): every address stands for itself.

    Nothing is mapped or rewritten. `allowed` may narrow where traffic may go (tests pass
    the loopback check, so a root hints file of lab addresses can never leak out).
    """

    def __init__(self, allowed: Callable[[str], str] | None = None) -> None:
        self.allowed = allowed

    def lab(self, real: str) -> str:
        return str(ipaddress.ip_address(real))

    def bindable(self, lab: str) -> str:
        return self.allowed(lab) if self.allowed is not None else lab

    def unrewrite_message(self, message: dns.message.Message) -> None:
        return None
