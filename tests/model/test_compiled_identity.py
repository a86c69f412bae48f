"""The compiled build (`MXSIM_COMPILE=1 pip install .`, setup.py) prints what plain Python
prints, byte for byte: mypyc compiles replay's hot modules ([tool.mxsim] compiled in
pyproject.toml), and a compiled module must behave as its source does.

The build is made as a user makes it (pip, from a copy of this checkout) and each command
runs in a fresh process, once with the sources first on the path and once with the build."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools.compiled_build import ROOT, build_compiled, listed, module_name


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_compiled(tmp_path_factory.mktemp("compiled"))


def _python(path: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # Run from a folder holding no mxsim, so the path decides which mxsim is imported.
    env = {**os.environ, "PYTHONPATH": str(path)}
    env.pop("MXSIM_NO_MEMO", None)
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=900, check=False)


def test_every_listed_module_is_compiled_in_the_build(compiled: Path, tmp_path: Path) -> None:
    modules = [module_name(path) for path in listed()]
    script = "import importlib, sys\nfor name in sys.argv[1:]:\n    print(importlib.import_module(name).__file__)"
    done = _python(compiled, ["-c", script, *modules], tmp_path)
    assert done.returncode == 0, done.stderr
    files = done.stdout.split()
    assert len(files) == len(modules)
    assert all(file.startswith(str(compiled)) and file.endswith(".so") for file in files), files


CASES = [
    ["replay", "wa-students-2017", "-n", "300", "--seed", "1", "-f", "json"],
    ["replay", "wa-students-2017", "-n", "300", "--seed", "2", "--resolvers", "3"],
    ["replay", "wa-students-2017", "-n", "200", "--seed", "3", "--resolvers", "2", "-f", "json", "--workers", "2"],
    ["replay", "equal-preference-three", "-n", "300", "-f", "markdown"],
    ["replay", "address-limit", "-n", "100", "-f", "junit"],
    ["replay", "migrate-to-m365", "-n", "300", "--arrival", "2h", "--resolvers", "20", "--bucket", "15m",
     "-f", "json"],
    ["replay", "mta-sts-migration-over-time", "-n", "200", "-f", "json"],
    ["replay", "cname-chain-to-address", "-n", "200", "--seed", "4", "-o", "maximal_backoff_time=1h"],
    ["trace", "wa-students-2017", "--pin", "broken"],
    ["trace", "dangling-cname", "-f", "json"],
]


@pytest.mark.parametrize("args", CASES, ids=[" ".join(case[:2]) + f" #{i}" for i, case in enumerate(CASES)])
def test_the_compiled_build_prints_the_same_bytes(compiled: Path, tmp_path: Path, args: list[str]) -> None:
    command = ["-m", "mxsim", *args, "--no-progress"] if args[0] == "replay" else ["-m", "mxsim", *args]
    plain = _python(ROOT, command, tmp_path)
    built = _python(compiled, command, tmp_path)
    assert plain.returncode in (0, 1, 2) and plain.stdout, plain.stderr  # delivered, deferred, bounced
    assert (built.returncode, built.stdout) == (plain.returncode, plain.stdout), built.stderr
