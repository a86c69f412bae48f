"""`lab up`, `lab down`, `lab status`: the lab as a detached process with a state folder.

`lab_up` checks everything it can before starting anything (the scenario, the pins,
the address map, root and `ip` for a namespace, unbound for `--resolver unbound`),
starts `python -m mxsim.lab.serve` (inside `ip netns exec NAME` with `--netns`), then
unbound if asked, and returns only once every socket answers; whatever fails, nothing
is left running, the namespace is gone and the folder is cleaned.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.name

from mxsim.lab import files, netns, process, readiness, state, unbound
from mxsim.lab.addressmap import DNS_NETWORK, SMTP_NETWORK, AddressMap, ensure_loopback
from mxsim.lab.dns_server import DnsService
from mxsim.lab.endpoint import LabEndpoint, LabStatus, lab_endpoint, lab_status
from mxsim.lab.errors import LabError
from mxsim.lab.folder import StateFolder
from mxsim.lab.smtp_server import DROP_BY_FULL_QUEUE
from mxsim.lab.smtp_session import IDLE_TIMEOUT
from mxsim.lab.timeline import check_lab_timeline
from mxsim.scenario import load_scenario
from mxsim.scenario.spec import ScenarioSpec, SmtpKind
from mxsim.world import World, parse_pins

__all__ = ["LabDown", "LabEndpoint", "LabInfo", "LabStatus", "lab_down", "lab_endpoint", "lab_status", "lab_up",
           "render_status", "restart_resolver"]

RESOLVERS = ("none", "unbound")

UP_TIMEOUT = 20.0
POLL = 0.05
LOG_TAIL_LINES = 8
LOG_TAIL_BYTES = 1 << 16

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
    resolver: tuple[str, int] | None = None  # unbound's address and port
    netns: str | None = None


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


def _existing_lab(folder: StateFolder) -> None:
    """Refuse a folder whose lab still runs; clear one whose lab is gone (with its leftovers)."""
    old = state.read_json(folder.path / state.STATE)
    if old is not None and _is_lab(old, folder.path):
        raise LabError(
            f"a lab already runs from {folder.path} (pid {old['pid']}); take it down first"
        )
    _stop_recorded(folder.path, old, state.read_json(folder.path / state.CONFIG))
    folder.clear()


def _int(record: Mapping[str, Any], key: str) -> int:
    """A number from a record the lab wrote; 0 (no process) if someone spoilt it."""
    try:
        return int(record.get(key) or 0)
    except (TypeError, ValueError):
        return 0


def _is_lab(record: Mapping[str, Any], folder: Path) -> bool:
    pid = _int(record, "pid")  # 0 or less would name a process group, never the lab
    return pid > 0 and process.is_lab(pid, folder, record.get("started"))


def _log_tail(state_dir: Path) -> str:
    raw = files.read_bytes(state_dir / state.LOG, LOG_TAIL_BYTES, start=-LOG_TAIL_BYTES)
    lines = (raw or b"").decode(errors="replace").splitlines()
    tail = [line for line in lines[-LOG_TAIL_LINES:] if line.strip()]
    return ("\n" + "\n".join(tail)) if tail else ""


def _pending_sockets(
    world: World, address_map: AddressMap, ready: dict[str, Any], dns_port: int, smtp_port: int
) -> list[str]:
    """Sockets that do not answer yet, as `address:port/proto`."""
    if address_map.inside_namespace or ready.get("netns"):
        # Unreachable from out here; the child wrote ready.json after binding every socket.
        return []
    pending = []
    dns = DnsService(world, address_map)
    pending += [f"{lab}:{dns_port}/udp" for lab in readiness.udp_unbound(dns.counters, dns_port)]
    for lab, counters in dns.counters.items():
        if counters.tcp_listening and not readiness.tcp_listening(lab, dns_port):
            pending.append(f"{lab}:{dns_port}/tcp")
    for lab, mode in dict(ready.get("smtp_modes", {})).items():
        if mode.startswith("refuse") or mode.startswith("drop:") or mode == DROP_BY_FULL_QUEUE:
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


def _check_resolver(resolver: str, dns_port: int, resolver_address: str) -> None:
    if resolver not in RESOLVERS:
        raise LabError(f"--resolver {resolver!r}: choose one of {', '.join(RESOLVERS)}")
    if resolver == "unbound":
        unbound.binary()
        ensure_loopback(resolver_address)
        if dns_port != 53:
            raise LabError(
                f"--resolver unbound needs the lab's name servers on port 53, not {dns_port}: "
                "unbound sends every query to port 53 (root hints and referrals carry no port)"
            )


def _drop_hosts(world: World, address_map: AddressMap) -> list[str]:
    return [e.lab for e in address_map.smtp_addresses() if world.smtp(e.real).smtp == SmtpKind.DROP]


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
    resolver: str = "none",
    resolver_address: str = state.RESOLVER_ADDRESS,
    netns_name: str | None = None,
    real_addresses: bool | None = None,
    smtp_idle_timeout: float = IDLE_TIMEOUT,
    time_scale: float | None = None,
) -> LabInfo:
    """Serve a scenario in a detached process; return once every socket answers.

    `netns_name`: run everything inside a new network namespace of that name; there the
    lab serves the scenario's real addresses (`real_addresses`, default yes) and drops
    SYNs with iptables. `resolver="unbound"`: also start unbound over the lab's root.
    `smtp_idle_timeout`: seconds a mail host waits for a client's next command (or for
    it to read a reply) before it answers 421 and closes. `time_scale`: follow the scenario's
    timeline on the wall clock, that many times faster (mxsim.lab.timeline).

    `state_dir` must be new, empty, or a lab's (it carries the lab's marker): the lab
    lists each file there before writing it and never opens one through a link.
    """
    _check_ports(dns_port, smtp_port)
    _check_resolver(resolver, dns_port, resolver_address)
    if smtp_idle_timeout <= 0:
        raise LabError(f"--smtp-idle-timeout {smtp_idle_timeout:g}: must be more than zero")
    if netns_name is not None:
        netns.check(netns_name)
    real = bool(real_addresses) if real_addresses is not None else netns_name is not None
    if real and netns_name is None:
        raise LabError("serving real addresses needs a network namespace of the lab's own (--netns NAME)")
    spec, scenario = _scenario_file(spec_or_path)
    pin_texts = _pin_texts(spec, pins)
    world = World(spec, parse_pins(spec, pin_texts))
    if real:
        assert netns_name is not None
        address_map = AddressMap.identity(world, netns_name)
    else:
        address_map = AddressMap.build(world, dns_network=dns_network, smtp_network=smtp_network)
    if time_scale is not None:
        check_lab_timeline(spec, world.pins, address_map, time_scale)
    marked = StateFolder.prepare(state_dir)
    _existing_lab(marked)
    marked.claim(state.SERVE_FILES + (state.RESOLVER_FILES if resolver == "unbound" else ()))
    folder = marked.path
    config: dict[str, Any] = {
        "scenario": scenario, "name": spec.name, "pins": pin_texts, "seed": seed,
        "dns_port": dns_port, "smtp_port": smtp_port, "dns_network": dns_network,
        "smtp_network": smtp_network, "address_map": address_map.to_json(),
        "netns": netns_name, "real_addresses": real, "firewall_drop": False,
        "resolver_kind": resolver, "resolver_address": resolver_address,
        "smtp_idle_timeout": smtp_idle_timeout, "time_scale": time_scale,
    }
    pid: int | None = None
    resolver_proc: unbound.Unbound | None = None
    try:
        state.write_json(folder / state.CONFIG, config)  # lab down can clean up from here on
        prefix: list[str] = []
        if netns_name is not None:
            netns.create(netns_name, [e.lab for e in address_map.entries] + [resolver_address])
            prefix = netns.prefix(netns_name)
            config["firewall_drop"] = netns.drop_rules(
                netns_name, _drop_hosts(world, address_map), smtp_port
            )
            state.write_json(folder / state.CONFIG, config)
        hints = [(name.to_text(), address_map.lab(address)) for name, address in world.root_hints]
        state.write_text(folder / state.ROOT_HINTS, state.root_hints_text(hints))
        resolv = state.resolv_conf_text(dns_port, resolver_address, running=resolver == "unbound")
        state.write_text(folder / state.RESOLV_CONF, resolv)
        if netns_name is not None:
            netns.write_resolv_conf(netns_name, resolv)
        pid = process.spawn_serve(folder, folder / state.LOG, prefix)
        started = process.start_time(pid)
        record = {**config, "pid": pid, "started": started, "status": "starting",
                  "since": time.time(), "resolver": None}
        state.write_json(folder / state.STATE, record)
        ready = _wait_ready(folder, pid, world, address_map, dns_port, smtp_port, timeout)
        if resolver == "unbound":
            resolver_proc = unbound.start(
                folder, resolver_address, dns_port, folder / state.ROOT_HINTS, prefix
            )
            record["resolver"] = resolver_proc.to_json()
        state.write_json(folder / state.STATE, {**record, "status": "running", **ready})
    except BaseException as error:
        if resolver_proc is not None:
            process.stop(resolver_proc.pid)
        if pid is not None:
            process.stop(pid)
        if netns_name is not None:
            netns.delete(netns_name)
        marked.remove()
        if isinstance(error, OSError):  # a file of the state folder could not be written
            raise LabError(f"{error.filename or folder}: {(error.strerror or str(error)).lower()}") from None
        raise
    return LabInfo(
        folder, pid, scenario, dns_port, smtp_port, address_map, folder / state.ROOT_HINTS,
        folder / state.RESOLV_CONF, folder / state.MESSAGES, dict(ready.get("smtp_modes", {})),
        (resolver_proc.address, resolver_proc.port) if resolver_proc is not None else None,
        netns_name,
    )


def _marked(state_dir: str | Path) -> StateFolder:
    marked = StateFolder.existing(state_dir)
    if marked is None:
        raise LabError(f"no lab state in {Path(state_dir).resolve()}")
    return marked


def restart_resolver(state_dir: str | Path) -> tuple[str, int]:
    """Restart the lab's unbound: the only cache flush it needs (no unbound-control)."""
    folder = _marked(state_dir).path
    record = state.read_json(folder / state.STATE)
    if record is None or not record.get("resolver"):
        raise LabError(f"the lab in {folder} runs no resolver")
    unbound.stop(record["resolver"], folder)
    name = record.get("netns")
    prefix = netns.prefix(str(name)) if name else []
    fresh = unbound.start(
        folder, str(record["resolver_address"]), int(record["dns_port"]), folder / state.ROOT_HINTS, prefix
    )
    state.write_json(folder / state.STATE, {**record, "resolver": fresh.to_json()})
    return fresh.address, fresh.port


def _stop_recorded(
    folder: Path, record: dict[str, Any] | None, config: dict[str, Any] | None
) -> str:
    """Stop what the folder's records say the lab started (only if it is still the lab's)."""
    if record is None:
        if config is not None and config.get("netns"):  # `lab up` died before spawning
            netns.delete(str(config["netns"]))
        return "already gone"
    if record.get("resolver"):
        unbound.stop(record["resolver"], folder)
    pid = _int(record, "pid")
    if _is_lab(record, folder):
        outcome = process.stop(pid)
    elif pid > 0 and process.alive(pid):
        outcome = "not ours (PID reused, left alone)"
    else:
        if pid > 0:
            process.reap(pid)
        outcome = "already gone"
    name = record.get("netns")
    if name:
        netns.delete(str(name))
    return outcome


def lab_down(state_dir: str | Path) -> LabDown:
    """Stop what `lab_up` started from this folder (also after a crash) and remove what it wrote.

    Only a folder carrying the lab's marker is touched, and in it only the files the
    marker lists; the folder goes if the lab made it and nothing else is left.
    """
    marked = _marked(state_dir)
    record = state.read_json(marked.path / state.STATE)
    outcome = _stop_recorded(marked.path, record, state.read_json(marked.path / state.CONFIG))
    marked.remove()
    return LabDown(_int(record, "pid") if record is not None else None, outcome)


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
        *([f"  network namespace {record['netns']} (real addresses: "
           f"{'yes' if record.get('real_addresses') else 'no'}; run clients with "
           f"`ip netns exec {record['netns']} ...`)"] if record.get("netns") else []),
        *([f"  resolver: unbound at {record['resolver']['address']} port {record['resolver']['port']}, "
           f"pid {record['resolver']['pid']}, log {status.state_dir / state.UNBOUND_LOG}"]
          if record.get("resolver") else ["  resolver: none (mxsim trace --via-lab iterates itself)"]),
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
    connections = stats.get("connections")
    if connections:
        lines.append(
            f"TCP connections (DNS and SMTP): {connections['open']} open of at most "
            f"{connections['limit']}, {connections['refused']} refused at the limit"
        )
    return "\n".join(lines)
