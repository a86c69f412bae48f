"""setuptools' build backend, asking for mypy (whose mypyc compiles) only when
MXSIM_COMPILE=1 asks for a compiled build (setup.py): a plain `pip install .` fetches
nothing more than setuptools."""

from __future__ import annotations

import os
from typing import Any

from setuptools import build_meta
from setuptools.build_meta import *  # noqa: F403  (the backend's hooks, unchanged)

COMPILE = "MXSIM_COMPILE"
MYPYC = "mypy>=1.10"


def _compiling() -> bool:
    return os.environ.get(COMPILE, "") == "1"


def get_requires_for_build_wheel(config_settings: dict[str, Any] | None = None) -> list[str]:
    extra = [MYPYC] if _compiling() else []
    return [*build_meta.get_requires_for_build_wheel(config_settings), *extra]

