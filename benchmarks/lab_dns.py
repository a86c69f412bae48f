"""Throughput of the lab's DNS server on loopback, next to NSD serving the same zone.

    python benchmarks/lab_dns.py [--scenario wa-students-2017] [--seconds 5]

Brings a lab up on high ports (a detached process, as `lab up` does) and measures
answers per second for one question (default: the apex MX of wa-students.org at
ns1.hover.com):
- with dnsperf (Debian `dnsperf`) when it is installed, else with a small Python
  load generator (a floor: the generator itself is Python);
- and, when NSD (Debian `nsd`) and dnsperf are both installed, NSD serving the same
  zone data on another loopback address in the same run, for the ratio of the two
  (target: the lab at a quarter of NSD's rate or better).
Everything binds and sends on 127.0.0.0/8 only.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import dns.exception
import dns.message
import dns.name
import dns.query

from mxsim.lab import ensure_loopback, lab_down, lab_up
from mxsim.scenario import load_scenario
from mxsim.world import World

STALL = 0.2  # seconds without an answer: count the window as lost and refill it
NSD_ADDRESS = "127.155.0.1"
NSD_START = 10.0


def blast(address: str, port: int, wire: bytes, seconds: float, window: int) -> float:
    """Answers per second with up to `window` queries in flight, from Python."""
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
    return answered / seconds


def dnsperf(address: str, port: int, queries: Path, seconds: float) -> float:
    done = subprocess.run(
        ["dnsperf", "-s", ensure_loopback(address), "-p", str(port), "-d", str(queries),
         "-l", str(seconds), "-q", "100"],
        capture_output=True, text=True, timeout=seconds + 30, check=True,
    )
    match = re.search(r"Queries per second:\s+([\d.]+)", done.stdout)
    if match is None:
        raise RuntimeError(f"no rate in dnsperf's output:\n{done.stdout}{done.stderr}")
    return float(match.group(1))


def nsd_config(folder: Path, port: int, origin: dns.name.Name, zone_text: str) -> Path:
    zone_file = folder / "zone.db"
    zone_file.write_text(zone_text)
    config = folder / "nsd.conf"
    config.write_text(
        "server:\n"
        f"  ip-address: {ensure_loopback(NSD_ADDRESS)}@{port}\n"
        "  server-count: 1\n"  # one core, like the lab's one event loop
        '  username: ""\n  chroot: ""\n  database: ""\n'
        f"  zonesdir: {folder}\n  pidfile: {folder}/nsd.pid\n  logfile: {folder}/nsd.log\n"
        f"  xfrdfile: {folder}/xfrd.state\n  zonelistfile: {folder}/zone.list\n"
        "  rrl-ratelimit: 0\n"  # Debian's default rate limit would measure the limiter
        "remote-control:\n  control-enable: no\n"
        f"zone:\n  name: {origin.to_text()}\n  zonefile: {zone_file}\n"
    )
    return config


def nsd_rate(
    scenario: str, server: str, queries: Path, port: int, seconds: float, folder: Path
) -> float:
    world = World(load_scenario(scenario))
    spec = next(s for s in world.server_specs() if server in s.addresses)
    origin = spec.zones[0]
    zone = next(z for z in world.delegations.zones if z.origin == origin)
    config = nsd_config(folder, port, origin, zone.zone.to_text())
    child = subprocess.Popen(["nsd", "-d", "-c", str(config)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.STDOUT)
    try:
        probe = dns.message.make_query(origin, "SOA")
        deadline = time.monotonic() + NSD_START
        while True:
            try:
                dns.query.udp(probe, NSD_ADDRESS, port=port, timeout=0.2)
                break
            except (dns.exception.Timeout, ConnectionRefusedError):
                if time.monotonic() > deadline or child.poll() is not None:
                    raise RuntimeError(f"NSD did not answer (see {folder}/nsd.log)") from None
        return dnsperf(NSD_ADDRESS, port, queries, seconds)
    finally:
        child.terminate()
        child.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="wa-students-2017")
    parser.add_argument("--server", default="216.40.47.26", help="real address of the server")
    parser.add_argument("--qname", default="wa-students.org")
    parser.add_argument("--qtype", default="MX")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--window", type=int, default=32, help="Python generator only")
    args = parser.parse_args()
    wire = dns.message.make_query(args.qname, args.qtype).to_wire()
    port = random.Random().randrange(20000, 32000)
    have_dnsperf = shutil.which("dnsperf") is not None
    with tempfile.TemporaryDirectory(prefix="mxsim-bench-") as tmp:
        folder = Path(tmp)
        queries = folder / "queries.txt"
        queries.write_text(f"{args.qname} {args.qtype}\n")
        state = folder / "lab"
        info = lab_up(args.scenario, state, dns_port=port, smtp_port=port + 1)
        try:
            address = info.address_map.lab(args.server)
            if have_dnsperf:
                lab, tool = dnsperf(address, port, queries, args.seconds), "dnsperf"
            else:
                lab, tool = blast(address, port, wire, args.seconds, args.window), "python"
        finally:
            lab_down(state)
        print(f"lab ({args.scenario}, {args.qname} {args.qtype} at {address}): "
              f"{lab:,.0f} queries/s ({tool}, {args.seconds:g} s)")
        if have_dnsperf and shutil.which("nsd") is not None:
            nsd = nsd_rate(args.scenario, args.server, queries, port + 2, args.seconds, folder)
            print(f"NSD (same zone, {NSD_ADDRESS}): {nsd:,.0f} queries/s (dnsperf, "
                  f"{args.seconds:g} s)")
            print(f"lab / NSD = {lab / nsd:.3f} (target: 0.25 or more)")
        else:
            print("NSD comparison skipped: needs Debian's dnsperf and nsd")


if __name__ == "__main__":
    main()
