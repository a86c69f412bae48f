"""Throughput of the lab's DNS server: queries answered per second on loopback.

    python benchmarks/lab_dns.py [--scenario wa-students-2017] [--seconds 3]

Brings a lab up on high ports (a detached process, as `lab up` does), then sends the
apex MX question to ns1.hover.com from this process with a fixed window of queries in
flight, and counts answers. The generator is Python too, so the number is a floor:
dnsperf against the lab and against NSD serving the same zone is the comparison issue 3
asks for, and is not done here yet.
"""

from __future__ import annotations

import argparse
import random
import socket
import struct
import tempfile
import time
from pathlib import Path

import dns.message

from mxsim.lab import ensure_loopback, lab_down, lab_up

STALL = 0.2  # seconds without an answer: count the window as lost and refill it


def blast(address: str, port: int, wire: bytes, seconds: float, window: int) -> tuple[int, int]:
    """(sent, answered) in `seconds` with up to `window` queries in flight."""
    query = bytearray(wire)
    sent = answered = in_flight = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect((ensure_loopback(address), port))
        sock.setblocking(False)
        end = last_answer = time.monotonic()
        end += seconds
        while (now := time.monotonic()) < end:
            while in_flight < window:
                query[0:2] = struct.pack("!H", sent & 0xFFFF)
                sock.send(query)
                sent += 1
                in_flight += 1
            try:
                while True:
                    sock.recv(65535)
                    answered += 1
                    in_flight -= 1
                    last_answer = now
            except BlockingIOError:
                pass
            if now - last_answer > STALL:
                in_flight = 0
                last_answer = now
            time.sleep(0)
    return sent, answered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="wa-students-2017")
    parser.add_argument("--server", default="216.40.47.26", help="real address of the server")
    parser.add_argument("--qname", default="wa-students.org")
    parser.add_argument("--qtype", default="MX")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--window", type=int, default=32)
    args = parser.parse_args()
    wire = dns.message.make_query(args.qname, args.qtype).to_wire()
    port = random.Random().randrange(20000, 32000)
    with tempfile.TemporaryDirectory(prefix="mxsim-bench-") as folder:
        state = Path(folder) / "lab"
        info = lab_up(args.scenario, state, dns_port=port, smtp_port=port + 1)
        try:
            address = info.address_map.lab(args.server)
            sent, answered = blast(address, port, wire, args.seconds, args.window)
        finally:
            lab_down(state)
    print(
        f"lab DNS ({args.scenario}, {args.qname} {args.qtype} at {args.server} -> {address}): "
        f"{answered / args.seconds:,.0f} answers/s ({answered} of {sent} queries in "
        f"{args.seconds:g} s, window {args.window})"
    )


if __name__ == "__main__":
    main()
