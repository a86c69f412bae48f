"""The lab's state folder: what `lab up` started, so `lab down` can stop exactly that.

Files (all written by mxsim, each listed in the marker before it is written, and
removed by `lab down`; `folder.StateFolder` keeps the marker):
  mxsim-lab.json the marker: whether the lab made the folder, and the files it wrote
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

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mxsim.lab import files

MARKER = "mxsim-lab.json"
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
LAB_CA = "lab-ca.pem"  # the lab CA's certificate (MTA-STS): for the lab's clients to trust
LAB_CA_KEY = "lab-ca.key"
ALL_FILES = (
    CONFIG, STATE, ROOT_HINTS, RESOLV_CONF, READY, ERROR, STATS, MESSAGES, LOG, UNBOUND_CONF, UNBOUND_LOG,
    LAB_CA, LAB_CA_KEY,
)
SERVE_FILES = (CONFIG, STATE, ROOT_HINTS, RESOLV_CONF, READY, ERROR, STATS, MESSAGES, LOG, LAB_CA, LAB_CA_KEY)
RESOLVER_FILES = (UNBOUND_CONF, UNBOUND_LOG)
SHARED_FILES = (ROOT_HINTS, RESOLV_CONF, LAB_CA)  # for the lab's clients to read; every other file is private
JSON_LIMIT = 64 << 20  # the address map of a large world, with room to spare

# Reserved for a recursive resolver over the lab's root (`lab up --resolver`), outside
# the /16s the address map allocates from, so it can never stand for a scenario address.
RESOLVER_ADDRESS = "127.54.0.1"
ROOT_HINTS_TTL = 3600000


def mode(name: str) -> int:
    return files.SHARED if name in SHARED_FILES else files.PRIVATE


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write atomically (readers poll these files), private, never through a link."""
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    files.replace_file(path, text.encode("utf-8"), mode(path.name))


def write_text(path: Path, text: str) -> None:
    files.write_file(path, text.encode("utf-8"), mode(path.name))


def read_json(path: Path) -> dict[str, Any] | None:
    raw = files.read_bytes(path, JSON_LIMIT)
    if raw is None:
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError is a ValueError
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
