"""The rules a module of the compiled build ([tool.mxsim] compiled in pyproject.toml) must
keep, checked on the sources: building takes minutes (tests/model/test_compiled_identity.py
does), these take milliseconds and name the line to change."""

from __future__ import annotations

import ast

from tools.compiled_build import ROOT, listed, module_name


def _bases(tree: ast.Module, module: str) -> list[tuple[str, int, str, str]]:
    """(class, line, base's module, base's name) for each base named by an import from mxsim."""
    imported: dict[str, tuple[str, str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mxsim"):
            for alias in node.names:
                imported[alias.asname or alias.name] = (node.module, alias.name)
    local = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for base in node.bases:
                if isinstance(base, ast.Name) and base.id in imported:
                    found.append((node.name, node.lineno, *imported[base.id]))
                elif isinstance(base, ast.Name) and base.id in local:
                    found.append((node.name, node.lineno, module, base.id))
    return found


def test_no_class_of_plain_python_derives_from_a_compiled_one() -> None:
    compiled = set(listed())
    compiled_modules = {module_name(path) for path in compiled}
    offending = []
    for path in sorted((ROOT / "mxsim").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative in compiled:
            continue
        for name, line, module, base in _bases(ast.parse(path.read_text()), module_name(relative)):
            if module in compiled_modules:
                offending.append(f"{relative}:{line} {name}({base}) derives from {module}: compile it too")
    assert not offending, "\n".join(offending)


def test_every_compiled_module_with_frozen_dataclasses_pickles_them_by_fields() -> None:
    missing = []
    for relative in sorted(set(listed())):
        text = (ROOT / relative).read_text()
        if "frozen=True" in text and "by_fields(globals())" not in text:
            missing.append(relative)
    assert not missing, f"add `by_fields(globals())` (mxsim/pickling.py) at the end of: {missing}"


def _unfinal_constants(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, name) of each module-level constant (an upper-case name) not marked Final."""
    found = []
    for node in tree.body:
        if isinstance(node, ast.Assign):
            names = [t for target in node.targets for t in (target.elts if isinstance(target, ast.Tuple) else [target])]
            annotation = None
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            names, annotation = [node.target], node.annotation
        else:
            continue
        called = node.value.func if isinstance(node.value, ast.Call) else None
        if isinstance(called, ast.Name) and called.id == "TypeVar":
            continue
        final = annotation is not None and "Final" in ast.unparse(annotation)
        found += [(node.lineno, n.id) for n in names if isinstance(n, ast.Name) and n.id.lstrip("_").isupper()
                  and not final]
    return found


def test_the_constants_of_compiled_modules_are_final() -> None:
    """A compiled module reads a Final from C (a literal is inlined); any other module
    global is looked up in the module's dictionary at every use."""
    missing = [f"{relative}:{line} {name}" for relative in sorted(set(listed()))
               for line, name in _unfinal_constants(ast.parse((ROOT / relative).read_text()))]
    assert not missing, "mark these `Final` (from typing):\n" + "\n".join(missing)


def test_the_check_sees_a_constant_not_final() -> None:
    tree = ast.parse("from typing import Final, TypeVar\nA, B = 1, 2\nC: Final = 3\nD: int = 4\nT = TypeVar('T')\n")
    assert _unfinal_constants(tree) == [(2, "A"), (2, "B"), (4, "D")]


def test_the_listed_modules_exist() -> None:
    assert all((ROOT / path).is_file() for path in set(listed()))


def test_the_check_sees_a_class_derived_from_a_compiled_one() -> None:
    tree = ast.parse("from mxsim.resolver.cache import Cache\n\nclass Mine(Cache):\n    pass\n")
    assert _bases(tree, "mxsim.elsewhere") == [("Mine", 3, "mxsim.resolver.cache", "Cache")]
