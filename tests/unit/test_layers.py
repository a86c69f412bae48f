"""The architecture, checked: imports point one way, and no I/O happens below the transport.

STYLE.md: cli -> report -> commands -> (audit | mta) -> resolver -> transport -> world,
scenario below world; errors, units and clock are leaves anyone may import. A module may
import its own layer and the layers below it, never one above.
"""

from __future__ import annotations

import ast
from pathlib import Path

import mxsim

PACKAGE = Path(mxsim.__file__).parent
RANK = {
    "errors": 0, "recipients": 0, "units": 0, "clock": 0, "names": 0, "wiresize": 0, "rrsets": 0, "memo": 0, "exits": 0,
    "__init__": 0, "schemas": 0,
    "scenario": 1,
    "world": 2,
    "transport": 3,
    "lab": 4,  # the world on sockets: it meets the transport's contract (Destinations), unknown to the transport
    "resolver": 4,
    "mta": 5,
    "audit": 5,
    "engine": 5,  # world -> transport -> resolver -> stub -> profile, assembled once for every command
    "commands": 6,
    "agree": 7,  # runs real MTAs in the lab; compares their record with the trace report
    "report": 7,
    "cli": 8,
    "__main__": 9,  # `python -m mxsim`: the command line itself
}
IO_MODULES = {"socket", "asyncio", "aiosmtplib", "dns.query", "dns.asyncquery", "selectors", "subprocess"}
IO_LAYERS = {"transport", "lab", "cli", "agree"}  # where sockets, processes and event loops may live
WALL_CLOCK = {"time", "datetime.now"}


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        layer = relative.parts[0].removesuffix(".py")
        found.append((layer, path))
    return found


def _imports(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text())
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append((node.module, node.lineno))
    return names


def test_every_layer_has_a_rank() -> None:
    layers = {layer for layer, _ in _modules()}
    assert layers <= set(RANK), f"give these layers a rank: {sorted(layers - set(RANK))}"


def test_imports_point_down() -> None:
    backward = []
    for layer, path in _modules():
        for name, line in _imports(path):
            if not name.startswith("mxsim."):
                continue
            target = name.split(".")[1]
            if target in RANK and RANK[target] > RANK[layer]:
                backward.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {name} ({layer} -> {target})")
    assert not backward, "imports pointing up the layers:\n" + "\n".join(backward)


def test_no_io_below_the_transport() -> None:
    offenders = []
    for layer, path in _modules():
        if layer in IO_LAYERS or layer == "clock":
            continue
        for name, line in _imports(path):
            if name in IO_MODULES or name.split(".")[0] in {"socket", "asyncio", "aiosmtplib", "time"}:
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}")
    assert not offenders, "I/O or wall-clock imports outside the transport:\n" + "\n".join(offenders)
