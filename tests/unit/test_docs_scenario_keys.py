"""docs/scenario-format.md keeps up with the loader: every key and every word it accepts is
described there, and the worked example loads and uses every key.

The keys are read from the loader's own source (`mxsim/scenario/load.py`): every module-level
tuple named `*_KEYS`, and every mapping it checks must be checked against one of those tuples,
so a key list written anywhere else makes this test fail instead of slipping past it.
"""

from __future__ import annotations

import ast
import re
from enum import StrEnum
from pathlib import Path

import pytest

import mxsim.scenario.load as load
from mxsim.scenario.server_choice import ServerChoice
from mxsim.scenario.spec import AuthorityMode, SmtpKind, TlsMode, TtlMode

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "scenario-format.md"
LOADER = Path(load.__file__)
# Calls through which the loader restricts a mapping's keys, and the argument holding the list.
KEY_CHECKS = {"mapping": 1, "check_keys": 0}


def _key_lists() -> dict[str, tuple[str, ...]]:
    tree = ast.parse(LOADER.read_text())
    found: dict[str, tuple[str, ...]] = {}
    for node in tree.body:
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        target = node.targets[0]
        if isinstance(target, ast.Name) and target.id.endswith("_KEYS"):
            value = ast.literal_eval(node.value)
            assert isinstance(value, tuple) and all(isinstance(key, str) for key in value), target.id
            found[target.id] = value
    return found


def _key_list_arguments() -> list[tuple[int, ast.expr]]:
    """The key-list argument of every `.mapping(what, KEYS)` / `.check_keys(KEYS, what)` call."""
    arguments = []
    for node in ast.walk(ast.parse(LOADER.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            position = KEY_CHECKS.get(node.func.attr)
            if position is not None and len(node.args) > position:
                arguments.append((node.lineno, node.args[position]))
    return arguments


def _all_keys() -> list[str]:
    return sorted({key for keys in _key_lists().values() for key in keys})


def _doc() -> str:
    return DOC.read_text(encoding="utf-8")


def _example() -> str:
    match = re.search(r"## A worked example\n.*?```yaml\n(.*?)```", _doc(), re.DOTALL)
    assert match is not None, "docs/scenario-format.md has no ```yaml block under '## A worked example'"
    return match.group(1)


def test_the_loader_keeps_its_keys_in_named_lists() -> None:
    lists = _key_lists()
    assert {"_TOP_KEYS", "_BACKEND_KEYS", "_HOST_KEYS"} <= set(lists)
    assert lists["_TOP_KEYS"][0] == "mxsim"
    elsewhere = [
        f"{LOADER.name}:{line}: {ast.unparse(argument)}"
        for line, argument in _key_list_arguments()
        if not (isinstance(argument, ast.Name) and argument.id in lists)
    ]
    assert not elsewhere, "keys checked against a list this test cannot see:\n" + "\n".join(elsewhere)


@pytest.mark.parametrize("key", _all_keys())
def test_every_key_the_loader_accepts_is_documented(key: str) -> None:
    assert f"`{key}`" in _doc(), f"docs/scenario-format.md does not describe the scenario key `{key}`"


@pytest.mark.parametrize(
    "word",
    sorted(
        {member.value for kind in (SmtpKind, AuthorityMode, TtlMode, TlsMode, ServerChoice) for member in kind}
        | set(load.MTA_PROFILES)
    ),
)
def test_every_word_a_key_accepts_is_documented(word: str) -> None:
    assert f"`{word}`" in _doc(), f"docs/scenario-format.md does not describe the value `{word}`"


def test_the_worked_example_loads_and_uses_every_key(tmp_path: Path) -> None:
    (tmp_path / "zones").mkdir()
    (tmp_path / "zones" / "example.com.zone").write_text("$TTL 300\n@ A 192.0.2.99\n")
    path = tmp_path / "example-farm.yaml"
    path.write_text(_example())
    spec = load.load_scenario(path)
    assert set(spec.lines) == set(_key_lists()["_TOP_KEYS"])
    unused = [key for key in _all_keys() if not re.search(rf"(?<![\w-]){re.escape(key)}:", _example())]
    assert not unused, f"the worked example does not show: {unused}"
    kinds: set[StrEnum] = {host.smtp for host in spec.hosts}
    assert len(kinds) > 1  # the example shows more than one SMTP behaviour
