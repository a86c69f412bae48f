"""Build this checkout as `MXSIM_COMPILE=1 pip install .` would (setup.py), into a folder
that can go first on sys.path: the benchmark and the identity test run replays under it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def listed(source: Path = ROOT) -> list[str]:
    """The files the compiled build compiles ([tool.mxsim] compiled in pyproject.toml)."""
    with open(source / "pyproject.toml", "rb") as project:
        return list(tomllib.load(project)["tool"]["mxsim"]["compiled"])


def module_name(path: str) -> str:
    """`mxsim/mta/profiles/__init__.py` -> `mxsim.mta.profiles`."""
    return path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


# What a wheel is built from; copied, so the build leaves nothing in the checkout.
SOURCES = ("mxsim", "tools", "pyproject.toml", "setup.py", "README.md")


def build_compiled(into: Path, source: Path = ROOT, timeout: float = 1200.0) -> Path:
    """The compiled wheel of `source`, unpacked in `into`; returns `into`."""
    with tempfile.TemporaryDirectory(prefix="mxsim-build-") as work:
        tree, wheels = Path(work) / "source", Path(work) / "wheels"
        for name in SOURCES:
            if (source / name).is_dir():
                shutil.copytree(source / name, tree / name, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
            else:
                tree.mkdir(exist_ok=True)
                shutil.copy2(source / name, tree / name)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels),
                        str(tree)], env={**os.environ, "MXSIM_COMPILE": "1"}, check=True, timeout=timeout)
        [wheel] = wheels.glob("mxsim-*.whl")
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(into)
    return into


if __name__ == "__main__":
    print(build_compiled(Path(sys.argv[1]).resolve()))
