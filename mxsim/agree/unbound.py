"""unbound as the MTA's recursive resolver over the lab, with its query log read back.

Until the lab's own launcher (`lab up --resolver unbound`, issue 3) lands, the harness
starts unbound itself, inside its network namespace, on the address the lab reserves
for a resolver. `log-queries` and `log-replies` give every question a client asked,
in order, and the RCODE of the reply it got.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mxsim.agree.errors import AgreeError
from mxsim.agree.isolation import kill_pids
from mxsim.agree.observation import Question
from mxsim.lab import state as lab_state
from mxsim.lab.readiness import tcp_listening

ADDRESS = lab_state.RESOLVER_ADDRESS
READY_TIMEOUT = 10.0

# "Nov 27 15:44:04 unbound[8184:0] info: 127.0.0.1 wa-students.org. A IN" (query) and
# the same followed by "NOERROR 0.002051 0 192" (reply: rcode, seconds, cached, size).
LINE = re.compile(
    r"info: (?P<client>\S+) (?P<qname>\S+) (?P<qtype>\S+) (?P<qclass>IN|CH|HS|ANY|CLASS\d+)"
    r"(?: (?P<rcode>[A-Z]+) \S+ \d+ \d+)?\s*$"
)


@dataclass(frozen=True, slots=True)
class Unbound:
    process: subprocess.Popen[bytes]
    log: Path
    config: Path


def config_text(root_hints: Path, log: Path, folder: Path) -> str:
    # Options from LAB-NOTES: no DNSSEC (iterator only), lab root, loopback name
    # servers allowed; no privileges dropped, so it can read the state folder.
    return f"""server:
  interface: {ADDRESS}
  port: 53
  do-not-query-localhost: no
  module-config: "iterator"
  root-hints: "{root_hints}"
  log-queries: yes
  log-replies: yes
  log-time-ascii: yes
  logfile: "{log}"
  use-syslog: no
  verbosity: 1
  username: ""
  chroot: ""
  directory: "{folder}"
  pidfile: "{folder / 'unbound.pid'}"
  access-control: 127.0.0.0/8 allow
  do-ip6: no
  qname-minimisation: no
  harden-referral-path: no
  num-threads: 1
remote-control:
  control-enable: no
"""


@contextlib.contextmanager
def running(root_hints: Path, folder: Path) -> Iterator[Unbound]:
    """unbound over the lab's root on ADDRESS:53, until the block ends."""
    binary = shutil.which("unbound")
    if binary is None:
        raise AgreeError("unbound is not installed (apt-get install unbound)")
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "unbound.log"
    config = folder / "unbound.conf"
    config.write_text(config_text(root_hints, log, folder))
    stderr = (folder / "unbound.stderr").open("wb")
    process = subprocess.Popen(
        [binary, "-d", "-c", str(config)], stdin=subprocess.DEVNULL, stdout=stderr,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_ready(process, folder)
        yield Unbound(process, log, config)
    finally:
        kill_pids([process.pid])
        process.wait(timeout=5)
        stderr.close()


def _wait_ready(process: subprocess.Popen[bytes], folder: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = (folder / "unbound.stderr").read_text(errors="replace").strip()
            raise AgreeError(f"unbound exited at start ({process.returncode}): {output[-400:]}")
        if tcp_listening(ADDRESS, 53):
            return
        time.sleep(0.05)
    raise AgreeError(f"unbound did not answer on {ADDRESS}:53 within {READY_TIMEOUT:g} s")


def mark(log: Path) -> int:
    """The log's length now: questions after this point belong to the next step."""
    try:
        return log.stat().st_size
    except OSError:
        return 0


def questions(log: Path, start: int = 0) -> list[Question]:
    """Client questions in the order asked, each with the RCODE of its reply (if logged)."""
    try:
        text = log.read_bytes()[start:].decode(errors="replace")
    except OSError:
        return []
    asked: list[Question] = []
    for line in text.splitlines():
        match = LINE.search(line)
        if match is None:
            continue
        qname = match["qname"].rstrip(".").lower() or "."
        if match["rcode"] is None:
            asked.append(Question(qname, match["qtype"]))
            continue
        # A reply: attach its rcode to the oldest question of that name and type still open.
        for index, question in enumerate(asked):
            if question.rcode is None and (question.qname, question.qtype) == (qname, match["qtype"]):
                asked[index] = Question(qname, question.qtype, match["rcode"])
                break
    return asked
