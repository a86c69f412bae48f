"""A migration held against real software: the lab follows the timeline, a real MTA sends a stream.

`python -m mxsim.agree.migration REQUEST RESULT` runs inside `unshare --mount --uts` as the
agreement worker does: the lab in its own network namespace with Debian's unbound, the
scenario's timeline on the wall clock (`--time-scale 1`: write it in seconds), one real
MTA in its chroot. The MTA is handed one message every `interval` seconds; the lab's
mail hosts record which host each one reached. The parent (`observe_migration`) returns
when each message was handed over, relative to the change, and the host it reached, so
a test can replay the same file with the same arrivals and compare the share that still
reached the old MX after the change.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mxsim.agree import unbound
from mxsim.agree.chroots import ensure_chroot, overlay
from mxsim.agree.errors import AgreeError
from mxsim.agree.isolation import kill_pids, leftover_cleanup, require_root
from mxsim.agree.mtas import driver
from mxsim.agree.run import _namespace_name, run_worker
from mxsim.agree.worker import Request, lab, processes_in, worker_main
from mxsim.errors import MxsimError
from mxsim.lab import state as lab_state

CHANGE = re.compile(r"^(?P<when>\S+ \S+) mxsim lab WARNING mxsim\.lab\.timeline: timeline: the world of "
                    r"(?P<at>[\d.]+)s after the start is served from now on")
DELIVERY_WAIT = 30.0


@dataclass(frozen=True, slots=True)
class Sent:
    offset: float  # seconds after the change the message was handed to the MTA (negative: before)
    host: str | None  # the mail host that took it, None if none did


def observe_migration(scenario: Path, mta_name: str, recipient: str, *, messages: int, interval: float,
                      settings: dict[str, str] | None = None) -> list[Sent]:
    """Run the stream in a fresh namespace; AgreeError if it cannot run."""
    mta = driver(mta_name)
    require_root()
    root, version = ensure_chroot(mta.chroot)
    with tempfile.TemporaryDirectory(prefix="mxsim-migrate-") as tmp:
        folder = Path(tmp).absolute()
        request: dict[str, object] = {
                   "scenario": str(scenario.resolve()), "pins": [], "mta": mta.name, "recipient": recipient,
                   "settings": settings or {}, "mta_config": None, "folder": str(folder / "work"),
                   "chroot": str(root), "version": version, "netns": _namespace_name(),
                   "messages": messages, "interval": interval}
        (folder / "request.json").write_text(json.dumps(request, indent=2) + "\n")
        result_path = folder / "result.json"
        limit = messages * interval + DELIVERY_WAIT + 90
        try:
            run_worker("mxsim.agree.migration", folder, limit)
        except subprocess.TimeoutExpired as error:
            raise AgreeError(f"the migration stream ran over {limit:g} s") from error
        finally:
            leftover_cleanup(str(request["netns"]), folder)
        try:
            result = json.loads(result_path.read_text())
        except (OSError, ValueError) as error:
            tail = (folder / "worker.log").read_text(errors="replace")[-800:]
            raise AgreeError(f"the migration worker left no result: {tail}") from error
        if "error" in result:
            raise AgreeError(str(result["error"]))
        return [Sent(float(row["offset"]), row["host"]) for row in result["sent"]]


def _stream(data: dict[str, object]) -> list[dict[str, object]]:
    handed, reached, lab_log = hand_over(data)
    change = _change_time(lab_log)
    return [{"offset": at - change, "host": reached.get(token)} for token, at in handed.items()]


def hand_over(data: dict[str, object]) -> tuple[dict[str, float], dict[str, str], str]:
    """Inside the worker: the lab up, the MTA handed `messages` messages `interval` s apart.

    Returns when each message (by token) was handed over (wall clock), the host that took
    each one that reached a lab sink, and the lab's log (read before the lab goes down).
    """
    request = Request.from_json(data)
    count, interval = int(str(data["messages"])), float(str(data["interval"]))
    folder = Path(request.folder)
    folder.mkdir(parents=True, exist_ok=True)
    mta = driver(request.mta)
    handed: dict[str, float] = {}
    seed = int(str(data.get("seed", 0)))
    with lab(request, folder, time_scale=1.0, seed=seed) as info, \
            overlay(Path(request.chroot), folder / "chroot") as root:
        if info.resolver is None:
            raise AgreeError("the lab started no resolver")
        (root / "etc/resolv.conf").write_text(f"nameserver {info.resolver[0]}\n")
        try:
            mta.prepare(root, request.settings, None)
            mta.start(root, folder)
            next_at = time.time()
            for _ in range(count):
                time.sleep(max(0.0, next_at - time.time()))
                token = uuid.uuid4().hex[:12]
                handed[token] = time.time()
                mta.submit(root, folder, request.recipient, token)
                next_at += interval
            deadline = time.monotonic() + DELIVERY_WAIT
            while len(_reached(info.messages)) < count and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            with contextlib.suppress(MxsimError, OSError):
                mta.stop(root, folder)
            kill_pids(processes_in(root))
        reached = _reached(info.messages)
        (folder / "unbound.log").write_bytes((Path(info.state_dir) / unbound.LOG).read_bytes())
        lab_log = (Path(info.state_dir) / lab_state.LOG).read_text(errors="replace")
    return handed, reached, lab_log


def _reached(messages: Path) -> dict[str, str]:
    """Message token -> the host that took it, from the lab's sink."""
    found: dict[str, str] = {}
    try:
        lines = messages.read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        row = json.loads(line)
        token = re.search(r"Message-ID: <([0-9a-f]+)@", str(row.get("data") or ""))
        if token is not None:
            found[token.group(1)] = str(row["host"])
    return found


def _change_time(log: str) -> float:
    for line in log.splitlines():
        match = CHANGE.match(line)
        if match is not None:
            return datetime.strptime(match["when"], "%Y-%m-%d %H:%M:%S,%f").timestamp()
    raise AgreeError("the lab never applied the timeline's change (no line in serve.log)")


def main(argv: list[str]) -> int:
    return worker_main("mxsim.agree.migration", argv, lambda data: {"sent": _stream(data)})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
