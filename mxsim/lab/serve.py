"""The detached lab process: `python -m mxsim.lab.serve STATE_DIR`.

Reads config.json, serves the world until SIGTERM/SIGINT, writes ready.json once every
socket is bound (or error.json and exit status 3 when it cannot start), and refreshes
stats.json every second for `lab status`. Its log (standard error, serve.log) says a
repeated error once and then how often it came back (`repeats`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
import traceback
from pathlib import Path

from mxsim.errors import MxsimError
from mxsim.lab import state
from mxsim.lab.addressmap import AddressMap, in_namespace
from mxsim.lab.errors import LabError, LabSafetyError
from mxsim.lab.repeats import RepeatFilter
from mxsim.lab.servers import LabServers, serve_world
from mxsim.lab.smtp_session import IDLE_TIMEOUT, SmtpSink
from mxsim.lab.timeline import check_lab_timeline, follow
from mxsim.scenario import load_scenario
from mxsim.world import World, parse_pins

STATS_EVERY = 1.0
LOG_FORMAT = "%(asctime)s mxsim lab %(levelname)s %(name)s: %(message)s"

log = logging.getLogger("mxsim.lab.serve")


def _write_stats(state_dir: Path, servers: LabServers) -> None:
    try:
        state.write_json(state_dir / state.STATS, {"time": time.time(), **servers.status()})
    except OSError as error:  # status is a courtesy; serving goes on without it
        log.warning("cannot write %s: %s", state.STATS, error.strerror or error)


def _logging() -> RepeatFilter:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    repeats = RepeatFilter()
    handler.addFilter(repeats)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    return repeats


def _write_error(state_dir: Path, message: str) -> None:
    try:
        state.write_json(state_dir / state.ERROR, {"error": message})
    except OSError as error:  # `lab up` still sees the process end, and the log says why
        print(f"mxsim lab: cannot write {state.ERROR}: {error.strerror or error}", file=sys.stderr)


async def serve(state_dir: Path, repeats: RepeatFilter | None = None) -> None:
    config = state.read_json(state_dir / state.CONFIG)
    if config is None:
        raise LabError(f"{state_dir / state.CONFIG}: missing or unreadable")
    spec = load_scenario(str(config["scenario"]))
    world = World(spec, parse_pins(spec, list(config["pins"])))
    if config.get("real_addresses"):
        name = str(config.get("netns"))
        if not in_namespace(name):
            raise LabSafetyError(f"a lab of real addresses serves only inside its network namespace {name}")
        address_map = AddressMap.identity(world, name)
    else:
        address_map = AddressMap.build(
            world, dns_network=str(config["dns_network"]), smtp_network=str(config["smtp_network"])
        )
    if address_map.to_json() != config["address_map"]:
        raise LabError("the address map differs from the one `lab up` computed; not serving")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    sink = SmtpSink(state_dir / state.MESSAGES)
    following: asyncio.Task[None] | None = None
    async with serve_world(
        world, address_map, int(config["dns_port"]), int(config["smtp_port"]), int(config["seed"]),
        sink=sink, firewall_drop=bool(config.get("firewall_drop")),
        command_timeout=float(config.get("smtp_idle_timeout") or IDLE_TIMEOUT),
        ca_folder=state_dir,
    ) as servers:
        _write_stats(state_dir, servers)
        ready = {"smtp_modes": servers.smtp.modes(), "netns": config.get("netns")}
        if config.get("time_scale") and spec.timeline:
            timeline = check_lab_timeline(spec, world.pins, address_map, float(config["time_scale"]))
            following = asyncio.create_task(follow(timeline, servers.dns_service, float(config["time_scale"]), stop))
        state.write_json(state_dir / state.READY, ready)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), STATS_EVERY)
            _write_stats(state_dir, servers)
            if repeats is not None:
                repeats.flush()
        if following is not None:
            await following
    if repeats is not None:
        repeats.flush(force=True)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m mxsim.lab.serve STATE_DIR", file=sys.stderr)
        return 2
    state_dir = Path(argv[0])
    # DNS over UDP is answered on its own thread while the event loop serves SMTP and TCP:
    # the default 5 ms GIL hand-over would reach a wire trace at time scale 0.02 as 0.25 s.
    sys.setswitchinterval(0.0005)
    repeats = _logging()
    try:
        asyncio.run(serve(state_dir, repeats))
    except MxsimError as error:
        _write_error(state_dir, error.message)
        print(f"mxsim lab: {error.message}", file=sys.stderr)
        return 3
    except Exception as error:
        traceback.print_exc()
        _write_error(state_dir, f"the lab process failed: {error!r}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
