"""The lab's state folder: what `lab up` started, so `lab down` can stop exactly that.

Files (all written by mxsim, all removed by `lab down`):
  config.json    what to serve (scenario file, pins, seed, ports); read by the child
  state.json     the child's PID and start time, ports, scenario, the address map
  root.hints     the lab's root servers at their loopback addresses (named.root form)
  resolv.conf    for clients in the lab; names the address reserved for a lab resolver
  ready.json     written by the child once every socket is bound (its listener modes)
  error.json     written by the child when it cannot start
  stats.json     the child's counters, refreshed every second
  messages.jsonl every message an accepting host received
  serve.log      the child's output
  unbound.conf   the resolver's configuration (`--resolver unbound`)
  unbound.log    the resolver's log: every query it got and every reply it gave
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

CONFIG = "config.json"
STATE = "state.json"
ROOT_HINTS = "root.hints"
RESOLV_CONF = "resolv.conf"
READY = "ready.json"
ERROR = "error.json"
STATS = "stats.json"
MESSAGES = "messages.jsonl"
LOG = "serve.log"
UNBOUND_CONF = "unbound.conf"
UNBOUND_LOG = "unbound.log"
ALL_FILES = (
    CONFIG, STATE, ROOT_HINTS, RESOLV_CONF, READY, ERROR, STATS, MESSAGES, LOG, UNBOUND_CONF, UNBOUND_LOG,
)

# Reserved for a recursive resolver over the lab's root (issue 3's `--resolver`), outside
# the /16s the address map allocates from, so it can never stand for a scenario address.
RESOLVER_ADDRESS = "127.54.0.1"
ROOT_HINTS_TTL = 3600000


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write atomically: a reader polling the folder never sees half a file."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(partial, path)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def root_hints_text(hints: list[tuple[str, str]]) -> str:
    """named.root form, as unbound's `root-hints:` and BIND read it; addresses mapped."""
    lines = ["; root servers of the mxsim lab, at their loopback addresses"]
    for name, _lab in hints:
        lines.append(f".\t{ROOT_HINTS_TTL}\tIN\tNS\t{name}")
    for name, lab in hints:
        lines.append(f"{name}\t{ROOT_HINTS_TTL}\tIN\tA\t{lab}")
    return "\n".join(lines) + "\n"


def resolv_conf_text(dns_port: int, resolver: str = RESOLVER_ADDRESS, running: bool = False) -> str:
    lines = ["# resolv.conf for clients inside the mxsim lab."]
    if running:
        lines.append(f"# {resolver} is the lab's unbound, iterating from root.hints beside this file.")
    else:
        lines += [
            f"# {resolver} is reserved for a recursive resolver over the lab's root",
            "# (root.hints beside this file); start one with `lab up --resolver unbound`.",
        ]
    if dns_port != 53:
        lines.append(f"# The lab's name servers listen on port {dns_port}; resolv.conf cannot say so.")
    lines += [f"nameserver {resolver}", "options timeout:2 attempts:2"]
    return "\n".join(lines) + "\n"


def remove_files(state_dir: Path) -> None:
    for name in ALL_FILES:
        for path in (state_dir / name, state_dir / (name + ".partial")):
            path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # the folder goes only if nothing else lives there
        state_dir.rmdir()
