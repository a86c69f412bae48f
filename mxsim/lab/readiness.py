"""`lab up` returns only when the lab's sockets answer: these probes say whether they do.

Probes send nothing a server would count as a query: a UDP runt (under a DNS header's
size, ignored by the server) and bare TCP connects.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable

from mxsim.lab.addressmap import ensure_loopback

PROBE_TIMEOUT = 0.2
ICMP_WAIT = 0.02


def udp_unbound(addresses: Iterable[str], port: int) -> list[str]:
    """Those addresses where nothing is bound to the UDP port.

    On loopback a datagram to an unbound port comes back at once as ICMP port
    unreachable, which a connected socket reports as ECONNREFUSED; all probes go out
    together and share one short wait.
    """
    probes: list[tuple[str, socket.socket]] = []
    try:
        for address in addresses:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            probes.append((address, sock))
            sock.setblocking(False)
            sock.connect((ensure_loopback(address), port))
            sock.send(b"\0")
        time.sleep(ICMP_WAIT)
        unbound = []
        for address, sock in probes:
            try:
                sock.recv(512)
            except ConnectionRefusedError:
                unbound.append(address)
            except BlockingIOError:
                pass
        return unbound
    finally:
        for _address, sock in probes:
            sock.close()


def tcp_listening(address: str, port: int) -> bool:
    try:
        with socket.create_connection((ensure_loopback(address), port), PROBE_TIMEOUT):
            return True
    except OSError:
        return False
