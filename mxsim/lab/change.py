"""Change a running lab's world: serve another scenario or other pins at the same addresses.

A retry sees the world as it is when the queue runs again (a farm that served a bad
answer now serves the right one, a host that refused now listens, the MX set moved).
The serve process reads its world once, so the change stops it and starts a new one
from the rewritten config, inside the same network namespace; the resolver is started
afresh (an empty cache), and the firewall's DROP rules follow the new world's hosts.
Every address must stay as it was: the namespace was made with them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from mxsim.lab import netns, process, state
from mxsim.lab.addressmap import AddressMap
from mxsim.lab.errors import LabError
from mxsim.lab.folder import StateFolder
from mxsim.lab.runner import _drop_hosts, _pin_texts, _scenario_file, _wait_ready, restart_resolver
from mxsim.scenario.spec import ScenarioSpec
from mxsim.world import World, parse_pins

CHANGE_TIMEOUT = 20.0


def change_world(state_dir: str | Path, scenario: ScenarioSpec | str | Path, pins: Sequence[str] = ()) -> None:
    """Serve `scenario` with `pins` from now on, with an empty resolver cache."""
    marked = StateFolder.existing(state_dir)
    if marked is None:
        raise LabError(f"no lab state in {Path(state_dir).resolve()}")
    folder = marked.path
    config = state.read_json(folder / state.CONFIG)
    record = state.read_json(folder / state.STATE)
    if config is None or record is None:
        raise LabError(f"the lab in {folder} is not running")
    spec, source = _scenario_file(scenario)
    pin_texts = _pin_texts(spec, list(pins))
    world = World(spec, parse_pins(spec, pin_texts))
    name = config.get("netns")
    if config.get("real_addresses") and name:
        address_map = AddressMap.identity(world, str(name))
    else:
        address_map = AddressMap.build(
            world, dns_network=str(config["dns_network"]), smtp_network=str(config["smtp_network"])
        )
    if address_map.to_json() != config["address_map"]:
        raise LabError(f"{spec.name}: its addresses differ from the running lab's; a world change keeps them")
    process.stop(int(record["pid"]))
    (folder / state.READY).unlink(missing_ok=True)
    prefix = netns.prefix(str(name)) if name else []
    if name and config.get("firewall_drop"):
        for tool in ("iptables", "ip6tables"):
            netns.flush_input(str(name), tool)
        netns.drop_rules(str(name), _drop_hosts(world, address_map), int(config["smtp_port"]))
    config = {**config, "scenario": source, "name": spec.name, "pins": pin_texts}
    state.write_json(folder / state.CONFIG, config)
    pid = process.spawn_serve(folder, folder / state.LOG, prefix)
    started = process.start_time(pid)
    state.write_json(folder / state.STATE, {**record, **config, "pid": pid, "started": started,
                                            "since": time.time(), "status": "starting"})
    ready = _wait_ready(folder, pid, world, address_map, int(config["dns_port"]),
                        int(config["smtp_port"]), CHANGE_TIMEOUT)
    record = state.read_json(folder / state.STATE) or {}
    state.write_json(folder / state.STATE, {**record, "status": "running", **ready})
    if record.get("resolver"):
        restart_resolver(folder)
