"""A running lab as its clients see it: where it listens (`lab_endpoint`), whether it runs.

Apart from `runner` so that a client (`mxsim check --lab`, `trace --via-lab`) reads the
state folder without loading what starts a lab (the scenario loader, the servers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mxsim.lab import process, state
from mxsim.lab.addressmap import AddressMap
from mxsim.lab.errors import LabError
from mxsim.lab.folder import StateFolder


@dataclass(frozen=True, slots=True)
class LabEndpoint:
    """What a client of a running lab needs: where everything listens, and what it serves."""

    name: str
    scenario: str
    pins: tuple[str, ...]
    address_map: AddressMap
    dns_port: int
    smtp_port: int
    resolver: tuple[str, int] | None = None
    netns: str | None = None
    state_dir: Path | None = None


@dataclass(frozen=True, slots=True)
class LabStatus:
    state_dir: Path
    running: bool
    state: dict[str, Any] | None = None
    stats: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def lab_endpoint(state_dir: str | Path) -> LabEndpoint:
    """A running lab, as a client (the wire trace) needs it; an error if none runs there."""
    folder = Path(state_dir).resolve()
    status = lab_status(folder)
    record = status.state
    if record is None or not status.running:
        raise LabError(f"no lab runs from {folder} ({'; '.join(status.notes) or 'it is gone'})")
    resolver = record.get("resolver")
    return LabEndpoint(
        name=str(record["name"]),
        scenario=str(record["scenario"]),
        pins=tuple(record["pins"]),
        address_map=AddressMap.from_json(
            record["address_map"], namespace=record.get("netns") if record.get("real_addresses") else None
        ),
        dns_port=int(record["dns_port"]),
        smtp_port=int(record["smtp_port"]),
        resolver=(str(resolver["address"]), int(resolver["port"])) if resolver else None,
        netns=record.get("netns"),
        state_dir=folder,
    )


def lab_status(state_dir: str | Path) -> LabStatus:
    folder = Path(state_dir).resolve()
    # Only a folder with the lab's marker holds the lab's records; any other state.json is not one.
    record = state.read_json(folder / state.STATE) if StateFolder.existing(folder) is not None else None
    if record is None or not isinstance(record.get("pid"), int) or record["pid"] <= 0:
        return LabStatus(folder, running=False, notes=[f"no lab state in {folder}"])
    running = process.is_lab(int(record["pid"]), folder, record.get("started"))
    notes = [] if running else [f"the lab process {record['pid']} is gone; run lab down to clean"]
    resolver = record.get("resolver")
    from mxsim.lab import unbound  # only a lab with a resolver needs it

    if resolver and not unbound.is_ours(int(resolver["pid"]), folder, resolver.get("started")):
        notes.append(f"the lab's unbound (pid {resolver['pid']}) is gone; run lab down to clean")
    stats = state.read_json(folder / state.STATS)
    return LabStatus(folder, running, record, stats, notes)
