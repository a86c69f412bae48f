"""One case inside the network namespace: `python -m mxsim.agree.worker REQUEST RESULT`.

Runs under `unshare --mount --uts` (run.py). Brings the lab up in its own network
namespace (ports 53 and 25, the scenario's real addresses, the lab's unbound), mounts an
overlay of the MTA's cached chroot, lets the MTA deliver one message, and writes what it
saw as an Observation. Everything it started is stopped in `finally` blocks; the parent
also kills whatever is left in the namespace.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mxsim.agree import unbound
from mxsim.agree.chroots import overlay
from mxsim.agree.errors import AgreeError
from mxsim.agree.isolation import add_addresses, kill_pids, run
from mxsim.agree.mtas import driver
from mxsim.agree.mtas.base import HOSTNAME, Driver, enter_namespace
from mxsim.agree.observation import Observation
from mxsim.errors import MxsimError
from mxsim.lab import AddressMap, lab_down, lab_up
from mxsim.lab.addressmap import UnmappedAddressError

SETTLE = 0.5  # after the outcome is logged, the logs must be this long without growing
SETTLE_LIMIT = 5.0  # ... but no longer than this: an MTA that keeps asking is still compared
POLL = 0.2
LAB_ADDRESS = re.compile(r"(?<![\d.])(?:::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}(?![\d.])")


@dataclass(frozen=True, slots=True)
class Request:
    scenario: str
    pins: tuple[str, ...]
    mta: str
    recipient: str
    settings: dict[str, str]
    mta_config: str | None
    folder: str
    chroot: str
    version: str
    netns: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Request:
        return cls(
            scenario=str(data["scenario"]), pins=tuple(data.get("pins", [])), mta=str(data["mta"]),
            recipient=str(data["recipient"]), settings=dict(data.get("settings", {})),
            mta_config=data.get("mta_config"), folder=str(data["folder"]),
            chroot=str(data["chroot"]), version=str(data["version"]), netns=str(data["netns"]),
        )


def unmap(text: str, address_map: AddressMap) -> str:
    """Lab addresses in a log line replaced by the real ones they stand for."""

    def real(match: re.Match[str]) -> str:
        try:
            return address_map.real(match.group(0))
        except UnmappedAddressError:
            return match.group(0)

    return LAB_ADDRESS.sub(real, text)


def interface_addresses(netns: str) -> list[str]:
    """The addresses on the lab namespace's interfaces, where the MTA runs, in interface
    order (the order in which Sendmail asks their reverse names as it starts)."""
    text = run(["ip", "-n", netns, "-o", "addr", "show"], what="listing the lab namespace's addresses")
    found: list[str] = []
    for line in text.splitlines():
        words = line.split()
        if len(words) > 3 and words[2] in ("inet", "inet6"):
            address = words[3].partition("/")[0]
            if address not in found:
                found.append(address)
    return found


@contextlib.contextmanager
def lab(request: Request, folder: Path, time_scale: float | None = None, seed: int = 0) -> Iterator[Any]:
    # The lab in a network namespace of its own, serving the scenario's real addresses
    # (so an MX that is an IP literal works too), with the lab's unbound over it.
    info = lab_up(request.scenario, folder / "lab", dns_port=53, smtp_port=25,
                  pins=list(request.pins) or None, resolver="unbound", netns_name=request.netns,
                  time_scale=time_scale, seed=seed)
    try:
        add_addresses(request.netns)
        enter_namespace(request.netns)
        yield info
    finally:
        with contextlib.suppress(MxsimError, OSError):
            lab_down(folder / "lab")


def settle(*logs: Path, quiet: float = SETTLE, limit: float = SETTLE_LIMIT) -> None:
    """Wait until none of the logs has grown for `quiet` seconds (at most `limit`).

    Questions can trail the logged outcome: the DSN's routing after a bounce is asked
    once the bounce is written. A loaded machine delays them, so a fixed pause would
    drop them from the comparison now and then; waiting for quiet does not.
    """
    def sizes() -> tuple[int, ...]:
        return tuple(unbound.mark(log) for log in logs)

    deadline = time.monotonic() + limit
    last, still_since = sizes(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(min(POLL, quiet))
        now = sizes()
        if now != last:
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= quiet:
            return


def processes_in(root: Path) -> list[int]:
    """PIDs whose root directory is the chroot: the MTA's daemons, all started by us."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if (entry / "root").resolve() == root.resolve():
                pids.append(int(entry.name))
    return pids


def observe(request: Request) -> Observation:
    folder = Path(request.folder)
    folder.mkdir(parents=True, exist_ok=True)
    socket.sethostname(HOSTNAME)  # in the worker's own UTS namespace (run.py)
    mta: Driver = driver(request.mta)
    observation = Observation(mta=mta.name, version=request.version)
    with lab(request, folder) as info, overlay(Path(request.chroot), folder / "chroot") as root:
        address_map: AddressMap = info.address_map
        if info.resolver is None:
            raise AgreeError("the lab started no resolver")
        query_log = Path(info.state_dir) / unbound.LOG
        (root / "etc/resolv.conf").write_text(f"nameserver {info.resolver[0]}\n")
        try:
            mta.prepare(root, request.settings,
                        Path(request.mta_config) if request.mta_config else None)
            mta.start(root, folder)
            start_mark = unbound.mark(query_log)
            started = time.monotonic()
            mta.submit(root, folder, request.recipient, uuid.uuid4().hex[:12])
            deadline = started + mta.wait_limit
            lines: list[str] = []
            while time.monotonic() < deadline:
                lines = [unmap(line, address_map) for line in mta.log_lines(root, folder)]
                if mta.finished(lines, request.recipient):
                    break
                time.sleep(POLL)
            else:
                observation.notes.append(
                    f"no outcome logged within {mta.wait_limit:g} s of submission"
                )
            observation.seconds = round(time.monotonic() - started, 2)
            bounced = mta.parse(lines, request.recipient).outcome == "bounced"
            settle(query_log, quiet=mta.bounce_quiet if bounced else SETTLE,
                   limit=SETTLE_LIMIT + (mta.bounce_quiet if bounced else 0.0))
            lines = [unmap(line, address_map) for line in mta.log_lines(root, folder)]
            asked = unbound.questions(query_log, start_mark)
            observation.interfaces = interface_addresses(request.netns)
            (folder / "unbound.log").write_bytes(query_log.read_bytes())
        finally:
            with contextlib.suppress(MxsimError, OSError):
                mta.stop(root, folder)
            kill_pids(processes_in(root))
        parsed = mta.parse(lines, request.recipient)
        observation.attempts = parsed.attempts
        observation.outcome = parsed.outcome
        observation.dsn = parsed.dsn
        observation.logged_names = parsed.names
        observation.logged = parsed.named()
        observation.evidence = parsed.evidence or lines[-20:]
        # Every question the MTA asked is compared, those about its own host and the
        # sender included: the model asks them too (mta/host_questions.py).
        observation.dns.extend(asked)
        received = _received(info.messages, request.recipient)
        if received is not None:
            observation.envelope_recipient, observation.envelope_source = received, "smtp sink"
        elif parsed.envelope_recipient is not None:
            observation.envelope_recipient = parsed.envelope_recipient
            observation.envelope_source = "log"
        (folder / "mta.log").write_text("\n".join(lines) + "\n")
    return observation


def _received(messages: Path, recipient: str) -> str | None:
    """The RCPT TO of the first message a lab sink recorded (ours is the only one sent)."""
    try:
        rows = [json.loads(line) for line in messages.read_text().splitlines() if line.strip()]
    except (OSError, ValueError):
        return None
    for row in rows:
        rcpts = row.get("rcpt_to") or row.get("recipients") or []
        if rcpts:
            return str(rcpts[0])
    return None


def main(argv: list[str]) -> int:
    return worker_main("mxsim.agree.worker", argv, lambda data: {
        "observation": observe(Request.from_json(data)).to_json()})


def worker_main(module: str, argv: list[str], work: Callable[[dict[str, Any]], dict[str, Any]]) -> int:
    """Read REQUEST.json, write what `work` made of it (or {"error": ...}) to RESULT.json."""
    if len(argv) != 2:
        print(f"usage: python -m {module} REQUEST.json RESULT.json", file=sys.stderr)
        return 3
    result = Path(argv[1])
    try:
        result.write_text(json.dumps(work(json.loads(Path(argv[0]).read_text())), indent=2) + "\n")
    except (AgreeError, MxsimError) as error:
        result.write_text(json.dumps({"error": str(error)}) + "\n")
        return 2
    except Exception as error:
        traceback.print_exc()
        result.write_text(json.dumps({"error": f"the worker failed: {error!r}"}) + "\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
