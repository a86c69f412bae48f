"""The architecture, checked: imports point one way, and no I/O happens below the transport.

docs/architecture.md#layers: cli -> report -> commands -> (audit | mta) -> resolver ->
transport -> world, scenario below world; errors, units and clock are leaves anyone may
import. A module may import its own layer and the layers below it, never one above.
"""

from __future__ import annotations

import ast
from pathlib import Path

import mxsim

PACKAGE = Path(mxsim.__file__).parent
RANK = {
    "errors": 0, "recipients": 0, "units": 0, "clock": 0, "names": 0, "wiresize": 0, "rrsets": 0, "memo": 0, "exits": 0,
    "pickling": 0,
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
    "distribute": 7,  # places the commands' work on a Dask cluster (optional dependency)
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


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _runtime_imports(path: Path, module: str) -> set[str]:
    """Modules of the package that `path` imports when it runs (typing-only imports left out)."""
    tree = ast.parse(path.read_text())
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only |= {id(inner) for inner in ast.walk(node)}
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("mxsim")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            if base.startswith("mxsim"):
                found.add(base)
                found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def test_no_import_cycle_between_modules() -> None:
    modules = {_module_name(path): path for _layer, path in _modules()}
    graph = {name: {m for m in _runtime_imports(path, name) if m in modules and m != name}
             for name, path in modules.items()}
    # A package's __init__ re-exporting its own modules is how a package presents itself, not a cycle.
    for name in graph:
        graph[name] = {m for m in graph[name] if not name.startswith(m + ".")}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)
