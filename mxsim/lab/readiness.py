"""`lab up` returns only when the lab's sockets answer: these probes say whether they do.

Probes send nothing a server would count as a query: a UDP runt (under a DNS header's
size, ignored by the server) and bare TCP connects.
"""

from __future__ import annotations

import socket

from mxsim.lab.addressmap import ensure_loopback

PROBE_TIMEOUT = 0.2


def udp_bound(address: str, port: int) -> bool:
    """On loopback an unbound UDP port answers ICMP unreachable, seen as ECONNREFUSED."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(PROBE_TIMEOUT)
        sock.connect((ensure_loopback(address), port))
        try:
            sock.send(b"\0")
            sock.recv(512)
        except ConnectionRefusedError:
            return False
        except TimeoutError:
            return True
    return True


def tcp_listening(address: str, port: int) -> bool:
    try:
        with socket.create_connection((ensure_loopback(address), port), PROBE_TIMEOUT):
            return True
    except OSError:
        return False
