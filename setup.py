"""The package is described in pyproject.toml; this adds, with MXSIM_COMPILE=1, replay's
hot modules compiled by mypyc (the list: [tool.mxsim] compiled). The compiled modules
sit beside their sources and are imported in their place; without the variable, or for
an editable install (whose sources must stay the code that runs), nothing is compiled."""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).resolve().parent


def compiled_modules() -> list[str]:
    with open(HERE / "pyproject.toml", "rb") as project:
        return list(tomllib.load(project)["tool"]["mxsim"]["compiled"])


def extensions() -> list[object]:
    # Only a wheel or an install compiles: asked for its requirements first (egg_info),
    # the build has no mypy yet.
    building = {"bdist_wheel", "build_ext", "install"} & set(sys.argv)
    if os.environ.get("MXSIM_COMPILE", "") != "1" or not building:
        return []
    from mypyc.build import mypycify

    # The build environment holds mypy, not mxsim's dependencies: their types are unknown
    # there (Any), which costs a little speed, not correctness.
    options = ["--ignore-missing-imports", "--follow-imports=silent", "--python-version=3.11"]
    return list(mypycify([*options, *compiled_modules()], opt_level="3", group_name="mxsim"))


setup(ext_modules=extensions())
