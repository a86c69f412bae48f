"""A profile draws and reads the sender's memory only through the doors replay can watch.

Replay follows remembered attempts without running a profile's rules
(mxsim/mta/attempt_memo.py): that is exact only while every random choice goes through
`Context.decide` and every read of the sender's memory through `deliver`'s tap or
`Context.policies`. A step that drew from `ctx.rng` or read `ctx.sender` itself would be
invisible to the walk, and a replay would quietly differ from the rules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import mxsim.mta.profiles

PROFILES = Path(mxsim.mta.profiles.__file__).parent


def _reaches(path: Path) -> list[str]:
    """Each `ctx.rng` or `ctx.sender` in a module, by line, outside a pass-through to a new Context."""
    found = []
    tree = ast.parse(path.read_text(), filename=str(path))
    handed_on = {id(arg) for node in ast.walk(tree) if isinstance(node, ast.Call)
                 and isinstance(node.func, ast.Name) and node.func.id == "Context"
                 for arg in (*node.args, *(k.value for k in node.keywords))}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr in ("rng", "sender")
                and isinstance(node.value, ast.Name) and node.value.id == "ctx" and id(node) not in handed_on):
            found.append(f"{path.name}:{node.lineno}: ctx.{node.attr}")
    return found


def test_no_profile_step_draws_or_reads_the_sender_behind_the_doors() -> None:
    modules = sorted(PROFILES.glob("*.py"))
    assert len(modules) >= 6
    reaches = [reach for module in modules for reach in _reaches(module)]
    assert reaches == [], "draw through ctx.decide, read the sender through the tap: " + ", ".join(reaches)


def test_the_check_sees_a_step_that_draws_behind_the_doors(tmp_path: Path) -> None:
    module = tmp_path / "rogue.py"
    module.write_text("def sort_mx(self, ctx, mxs):\n    ctx.rng.shuffle(mxs)\n    return ctx.sender.hosts\n")
    assert sorted(_reaches(module)) == ["rogue.py:2: ctx.rng", "rogue.py:3: ctx.sender"]
