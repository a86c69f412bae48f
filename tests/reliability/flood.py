"""A lab started as a user starts it (`mxsim lab up` in a child process), and floods at it.

Everything goes to the lab's own addresses in 127.0.0.0/8, from source addresses in
127.0.0.0/8 (many of them: the lab keeps per-address state). Every loop is bounded by
a count and a deadline; every socket is closed; `Lab.stop` takes the lab down with
`mxsim lab down` and, should that fail, kills the PID the lab wrote.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import dns.message
import dns.query

from tests.reliability.choice import Chooser
from tests.reliability.garbage import datagram, smtp_stream, tcp_stream
from tests.reliability.harness import ROOT, peak_memory_kib

CLI = [sys.executable, "-c", "from mxsim.cli import main; main()"]
PORT_RANGE = (20000, 32000)  # below Linux's ephemeral range
UP_TIMEOUT = 60.0
USER_FILES = 1024
LOG_LIMIT = 1 << 20  # bytes of serve.log: a repeated error is logged once with a count, not per event
PLATEAU_KIB = 4096  # memory growth allowed over PLATEAU_DATAGRAMS more datagrams, once caches are full
PLATEAU_DATAGRAMS = 30_000
SOURCES = 256  # distinct 127.77.x.y source addresses for the datagrams


def _vm(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class Lab:
    state_dir: Path
    pid: int
    dns_port: int
    smtp_port: int
    dns_addresses: list[str]
    smtp_addresses: list[str]  # the accepting ones
    log: list[str] = field(default_factory=list)

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        status = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return status[0] not in ("Z", "X")

    def rss_kib(self) -> int:
        return _vm(self.pid, "VmRSS")

    def peak_kib(self) -> int:
        return peak_memory_kib(self.pid)

    def open_files(self) -> int:
        with contextlib.suppress(OSError):
            return len(os.listdir(f"/proc/{self.pid}/fd"))
        return 0

    def log_bytes(self) -> int:
        with contextlib.suppress(OSError):
            return (self.state_dir / "serve.log").stat().st_size
        return 0

    def log_lines(self, most: int = 3) -> list[str]:
        """The most repeated lines of serve.log (the first 4 MB), with their counts."""
        try:
            with (self.state_dir / "serve.log").open("rb") as log:
                text = log.read(4 << 20).decode(errors="replace")
        except OSError:
            return []
        counts = Counter(line.strip()[:200] for line in text.splitlines() if line.strip())
        return [f"{count} x {line}" for line, count in counts.most_common(most)]

    def answers(self, tries: int = 3, timeout: float = 2.0) -> str | None:
        """None if a real query over UDP and over TCP gets a reply; else what failed."""
        query = dns.message.make_query("wa-students.org.", "NS")
        address = self.dns_addresses[0]
        failures = []
        last = ""
        for send in (dns.query.udp, dns.query.tcp):
            for _ in range(tries):
                try:
                    send(query, address, timeout=timeout, port=self.dns_port)
                    break
                except (OSError, EOFError, dns.exception.DNSException) as error:  # EOF: a refused stream
                    last = f"{send.__name__} to {address}:{self.dns_port}: {type(error).__name__} {error}"
            else:
                failures.append(last)
        return "; ".join(failures) or None

    def smtp_greets(self, timeout: float = 3.0) -> str | None:
        """None if the first accepting mail host sends a 220 greeting."""
        if not self.smtp_addresses:
            return None
        address = self.smtp_addresses[0]
        try:
            with socket.create_connection((address, self.smtp_port), timeout=timeout) as conn:
                banner = conn.recv(512)
        except OSError as error:
            return f"SMTP {address}:{self.smtp_port}: {type(error).__name__} {error}"
        return None if banner.startswith(b"220") else f"SMTP {address}:{self.smtp_port}: greeting {banner[:60]!r}"

    def stop(self) -> None:
        done = subprocess.run([*CLI, "lab", "down", "--state", str(self.state_dir)], cwd=ROOT, capture_output=True,
                              timeout=60, check=False)
        self.log.append(done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace"))
        if self.alive():  # `lab down` failed: this PID is the lab this harness started
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


def _user_limits(files: int) -> None:
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(files, hard), hard))


def start_lab(scenario: str, state_dir: Path, rng: random.Random, files: int = USER_FILES) -> Lab:
    """`mxsim lab up SCENARIO --state DIR` on free unprivileged ports, as a user runs it.

    With a user's usual limit of open files (1,024 on most systems; the test runner's may
    be far higher): the lab must stay within it.
    """
    last = ""
    for _ in range(8):
        port = rng.randrange(*PORT_RANGE)
        up = subprocess.run([*CLI, "lab", "up", scenario, "--state", str(state_dir), "--dns-port", str(port),
                             "--smtp-port", str(port + 1)], cwd=ROOT, capture_output=True, timeout=UP_TIMEOUT,
                            check=False, preexec_fn=lambda: _user_limits(files))
        last = up.stderr.decode(errors="replace")
        if up.returncode == 0:
            record = json.loads((state_dir / "state.json").read_text())
            rows = record["address_map"]
            modes = record["smtp_modes"]
            return Lab(
                state_dir, int(record["pid"]), port, port + 1,
                sorted((r["lab"] for r in rows if r["dns"]), key=socket.inet_aton),
                sorted((a for a, m in modes.items() if m == "accept"), key=socket.inet_aton),
            )
        if "in use" not in last:
            break
    raise RuntimeError(f"mxsim lab up failed: {last.strip()}")


# -- floods -------------------------------------------------------------------------------


@dataclass
class FloodCount:
    sent: int = 0
    failed: int = 0  # local send errors (a full buffer): not the lab's fault
    connections: int = 0
    refused: int = 0


def _sources(count: int) -> list[socket.socket]:
    sockets = []
    for index in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.bind((f"127.77.{index // 250}.{index % 250 + 1}", 0))
        sockets.append(sock)
    return sockets


def flood_datagrams(lab: Lab, chooser: Chooser, count: int, deadline: float, sources: int = SOURCES) -> FloodCount:
    """`count` garbage datagrams to the lab's DNS addresses, from `sources` addresses."""
    tally = FloodCount()
    sockets = _sources(sources)
    try:
        for index in range(count):
            if time.monotonic() > deadline:
                break
            sock = sockets[index % len(sockets)]
            target = (lab.dns_addresses[index % len(lab.dns_addresses)], lab.dns_port)
            try:
                sock.sendto(datagram(chooser), target)
                tally.sent += 1
            except OSError as error:
                tally.failed += 1
                if error.errno in (errno.EAGAIN, errno.ENOBUFS):
                    time.sleep(0.001)
            if index % 64 == 0:  # drain replies so the receive buffers do not fill
                for drained in sockets[:: max(1, len(sockets) // 8)]:
                    with contextlib.suppress(OSError):
                        while drained.recv(65535):
                            pass
    finally:
        for sock in sockets:
            sock.close()
    return tally


def _connect(address: str, port: int, source: str) -> socket.socket:
    conn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    conn.settimeout(2.0)
    conn.bind((source, 0))
    conn.connect((address, port))
    return conn


def flood_streams(lab: Lab, chooser: Chooser, count: int, deadline: float, hold: int = 64) -> FloodCount:
    """`count` garbage TCP streams, alternately to DNS and SMTP; idle ones are held (at most `hold`)."""
    tally = FloodCount()
    held: list[socket.socket] = []
    try:
        for index in range(count):
            if time.monotonic() > deadline:
                break
            to_dns = index % 2 == 0 or not lab.smtp_addresses
            addresses = lab.dns_addresses if to_dns else lab.smtp_addresses
            data, mode = tcp_stream(chooser) if to_dns else smtp_stream(chooser)
            source = f"127.78.{index // 250 % 250}.{index % 250 + 1}"
            try:
                conn = _connect(addresses[index % len(addresses)], lab.dns_port if to_dns else lab.smtp_port, source)
            except OSError:
                tally.refused += 1
                continue
            tally.connections += 1
            try:
                conn.sendall(data)
                tally.sent += 1
                if mode == "half-close":
                    conn.shutdown(socket.SHUT_WR)
            except OSError:
                tally.failed += 1
            if mode == "idle" and len(held) < hold:
                held.append(conn)
            else:
                conn.close()
    finally:
        for conn in held:
            conn.close()
    return tally


def hold_idle(lab: Lab, count: int, deadline: float) -> tuple[list[socket.socket], FloodCount]:
    """`count` idle connections (half to DNS over TCP, half to SMTP), left open for the caller to close."""
    tally = FloodCount()
    held: list[socket.socket] = []
    for index in range(count):
        if time.monotonic() > deadline:
            break
        to_dns = index % 2 == 0 or not lab.smtp_addresses
        addresses = lab.dns_addresses if to_dns else lab.smtp_addresses
        try:
            held.append(_connect(addresses[index % len(addresses)], lab.dns_port if to_dns else lab.smtp_port,
                                 f"127.79.{index // 250 % 250}.{index % 250 + 1}"))
            tally.connections += 1
        except OSError:
            tally.refused += 1
    return held, tally
