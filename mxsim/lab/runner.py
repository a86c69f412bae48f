"""`lab up`, `lab down`, `lab status`: the lab as a detached process with a state folder.

`lab_up` checks everything it can before starting anything (the scenario, the pins,
the address map), starts `python -m mxsim.lab.serve`, and returns only once every
socket answers; whatever fails, nothing is left running and the folder is cleaned.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.name

from mxsim.lab import process, readiness, state
from mxsim.lab.addressmap import DNS_NETWORK, SMTP_NETWORK, AddressMap
from mxsim.lab.dns_server import DnsService
from mxsim.lab.errors import LabError
from mxsim.lab.smtp_server import DROP_BY_FULL_QUEUE
from mxsim.scenario import load_scenario
from mxsim.scenario.spec import ScenarioSpec
from mxsim.world import World, parse_pins

UP_TIMEOUT = 20.0
POLL = 0.05
LOG_TAIL_LINES = 8

Pins = Mapping[dns.name.Name, str] | Sequence[str] | None


@dataclass(frozen=True, slots=True)
class LabInfo:
    """What `lab_up` started."""

    state_dir: Path
    pid: int
    scenario: str
    dns_port: int
    smtp_port: int
    address_map: AddressMap
    root_hints: Path
    resolv_conf: Path
    messages: Path
    smtp_modes: dict[str, str]


@dataclass(frozen=True, slots=True)
class LabStatus:
    state_dir: Path
    running: bool
    state: dict[str, Any] | None = None
    stats: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LabDown:
    pid: int | None
    outcome: str  # stopped | killed | already gone | not ours (PID reused, left alone)


def _scenario_file(spec_or_path: ScenarioSpec | str | Path) -> tuple[ScenarioSpec, str]:
    """The spec and a file the child can load it from again."""
    # A ScenarioError from the loader already says what is wrong and where.
    spec = spec_or_path if isinstance(spec_or_path, ScenarioSpec) else load_scenario(spec_or_path)
    source = Path(spec.source)
    if not source.is_file():
        raise LabError(
            f"the lab serves scenario files; {spec.name} came from {spec.source}, not a file"
        )
    return spec, str(source.resolve())


def _pin_texts(spec: ScenarioSpec, pins: Pins) -> list[str]:
    if pins is None:
        return []
    if isinstance(pins, Mapping):
        texts = [f"{name.to_text()}={backend}" for name, backend in pins.items()]
    else:
        texts = [str(pin) for pin in pins]
    parse_pins(spec, texts)  # a UsageError names the bad pin
    return texts


def _check_ports(dns_port: int, smtp_port: int) -> None:
    for what, port in (("DNS", dns_port), ("SMTP", smtp_port)):
        if not 0 < port < 65536:
            raise LabError(f"{what} port {port} is not a TCP/UDP port")
    if dns_port == smtp_port:
        raise LabError(f"DNS and SMTP cannot share port {dns_port}: both listen on TCP")


def _existing_lab(state_dir: Path) -> None:
    """Refuse a folder whose lab still runs; clear one whose lab is gone."""
    old = state.read_json(state_dir / state.STATE)
    if old is not None and process.is_lab(int(old["pid"]), state_dir, old.get("started")):
        raise LabError(
            f"a lab already runs from {state_dir} (pid {old['pid']}); take it down first"
        )
    state.remove_files(state_dir)


def _log_tail(state_dir: Path) -> str:
    try:
        lines = (state_dir / state.LOG).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    tail = [line for line in lines[-LOG_TAIL_LINES:] if line.strip()]
    return ("\n" + "\n".join(tail)) if tail else ""


def _pending_sockets(
    world: World, address_map: AddressMap, ready: dict[str, Any], dns_port: int, smtp_port: int
) -> list[str]:
    """Sockets that do not answer yet, as `address:port/proto`."""
    pending = []
    dns = DnsService(world, address_map)
    pending += [f"{lab}:{dns_port}/udp" for lab in readiness.udp_unbound(dns.counters, dns_port)]
    for lab, counters in dns.counters.items():
        if counters.tcp_listening and not readiness.tcp_listening(lab, dns_port):
            pending.append(f"{lab}:{dns_port}/tcp")
    for lab, mode in dict(ready.get("smtp_modes", {})).items():
        if mode.startswith("refuse") or mode == DROP_BY_FULL_QUEUE:
            continue
        if not readiness.tcp_listening(lab, smtp_port):
            pending.append(f"{lab}:{smtp_port}/tcp")
    return pending


def _wait_ready(
    state_dir: Path, pid: int, world: World, address_map: AddressMap,
    dns_port: int, smtp_port: int, timeout: float,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    pending = ["the lab process"]
    while time.monotonic() < deadline:
        error = state.read_json(state_dir / state.ERROR)
        if error is not None:
            raise LabError(str(error.get("error", "the lab process failed")))
        if not process.alive(pid):
            raise LabError(f"the lab process exited before it was ready{_log_tail(state_dir)}")
        ready = state.read_json(state_dir / state.READY)
        if ready is not None:
            pending = _pending_sockets(world, address_map, ready, dns_port, smtp_port)
            if not pending:
                return ready
        time.sleep(POLL)
    raise LabError(
        f"the lab did not answer within {timeout:g} s (waiting for {', '.join(pending[:5])})"
        f"{_log_tail(state_dir)}"
    )


def lab_up(
    spec_or_path: ScenarioSpec | str | Path,
    state_dir: str | Path,
    *,
    dns_port: int = 53,
    smtp_port: int = 25,
    pins: Pins = None,
    seed: int = 0,
    dns_network: str = DNS_NETWORK,
    smtp_network: str = SMTP_NETWORK,
    timeout: float = UP_TIMEOUT,
) -> LabInfo:
    """Serve a scenario in a detached process; return once every socket answers."""
    folder = Path(state_dir).resolve()
    _check_ports(dns_port, smtp_port)
    spec, scenario = _scenario_file(spec_or_path)
    pin_texts = _pin_texts(spec, pins)
    world = World(spec, parse_pins(spec, pin_texts))
    address_map = AddressMap.build(world, dns_network=dns_network, smtp_network=smtp_network)
    folder.mkdir(parents=True, exist_ok=True)
    _existing_lab(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "scenario": scenario, "name": spec.name, "pins": pin_texts, "seed": seed,
        "dns_port": dns_port, "smtp_port": smtp_port, "dns_network": dns_network,
        "smtp_network": smtp_network, "address_map": address_map.to_json(),
    }
    state.write_json(folder / state.CONFIG, config)
    hints = [(name.to_text(), address_map.lab(address)) for name, address in world.root_hints]
    (folder / state.ROOT_HINTS).write_text(state.root_hints_text(hints))
    (folder / state.RESOLV_CONF).write_text(state.resolv_conf_text(dns_port))
    pid: int | None = None
    try:
        pid = process.spawn_serve(folder, folder / state.LOG)
        started = process.start_time(pid)
        record = {**config, "pid": pid, "started": started, "status": "starting",
                  "since": time.time()}
        state.write_json(folder / state.STATE, record)
        ready = _wait_ready(folder, pid, world, address_map, dns_port, smtp_port, timeout)
        state.write_json(folder / state.STATE, {**record, "status": "running", **ready})
    except BaseException:
        if pid is not None:
            process.stop(pid)
        state.remove_files(folder)
        raise
    return LabInfo(
        folder, pid, scenario, dns_port, smtp_port, address_map, folder / state.ROOT_HINTS,
        folder / state.RESOLV_CONF, folder / state.MESSAGES, dict(ready.get("smtp_modes", {})),
    )


def lab_down(state_dir: str | Path) -> LabDown:
    """Stop what `lab_up` started from this folder (also after a crash) and clean it."""
    folder = Path(state_dir).resolve()
    record = state.read_json(folder / state.STATE)
    if record is None:
        if (folder / state.CONFIG).exists():  # `lab up` died between writing and spawning
            state.remove_files(folder)
            return LabDown(None, "already gone")
        raise LabError(f"no lab state in {folder}")
    pid = int(record["pid"])
    if process.is_lab(pid, folder, record.get("started")):
        outcome = process.stop(pid)
    elif process.alive(pid):
        outcome = "not ours (PID reused, left alone)"
    else:
        process.reap(pid)
        outcome = "already gone"
    state.remove_files(folder)
    return LabDown(pid, outcome)


def lab_status(state_dir: str | Path) -> LabStatus:
    folder = Path(state_dir).resolve()
    record = state.read_json(folder / state.STATE)
    if record is None:
        return LabStatus(folder, running=False, notes=[f"no lab state in {folder}"])
    running = process.is_lab(int(record["pid"]), folder, record.get("started"))
    notes = [] if running else [f"the lab process {record['pid']} is gone; run lab down to clean"]
    stats = state.read_json(folder / state.STATS)
    return LabStatus(folder, running, record, stats, notes)


def render_status(status: LabStatus) -> str:
    """`lab status` as text: what runs, where, and what each address saw."""
    if status.state is None:
        return "\n".join(status.notes)
    record = status.state
    lines = [
        f"lab {record['name']} ({record['scenario']}): "
        f"{'running' if status.running else 'NOT running'}, pid {record['pid']}",
        f"  DNS port {record['dns_port']}, SMTP port {record['smtp_port']}, seed {record['seed']}"
        + (f", pins {' '.join(record['pins'])}" if record["pins"] else ""),
        f"  root hints {status.state_dir / state.ROOT_HINTS}, "
        f"resolv.conf {status.state_dir / state.RESOLV_CONF}",
        *[f"  {note}" for note in status.notes],
    ]
    stats = status.stats or {}
    lines.append("name servers (lab, real, name: queries udp/tcp, drops, truncated, backends):")
    for row in stats.get("dns", []):
        backends = " ".join(f"{k}={v}" for k, v in row["by_backend"].items())
        tcp = "" if row["tcp_listening"] else " (no TCP)"
        lines.append(
            f"  {row['lab']:<15} {row['real']:<20} {row['server']}{tcp}: {row['queries']} "
            f"{row['udp']}/{row['tcp']}, drops {row['drops']}, tc {row['truncated']}"
            + (f", {backends}" if backends else "")
        )
    lines.append(
        "mail hosts (lab, real, first name: mode, connections with lab up's probe, messages):"
    )
    for row in stats.get("smtp", []):
        name = row["names"][0] if row["names"] else "-"
        lines.append(
            f"  {row['lab']:<15} {row['real']:<20} {name}: {row['mode']}, "
            f"{row['connections']}, {row['messages']}"
        )
    lines.append(f"messages recorded: {stats.get('messages', 0)} ({state.MESSAGES})")
    return "\n".join(lines)
