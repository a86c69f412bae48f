"""Agreement tests run real MTAs (root, chroots, minutes): only when asked for.

(The tests of the comparison rules and log readers, unmarked, run with the others.)

They are selected by `-m agreement` (as .ci/run does) or MXSIM_AGREEMENT=1; otherwise
pytest reports them as deselected, never as passed or skipped. Each result is also
saved as JSON (MXSIM_AGREE_RESULTS, default /var/cache/mxsim-agree/results) for
`mxsim agree --table --from DIR`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _asked(config: pytest.Config) -> bool:
    markexpr = str(config.getoption("markexpr") or "")
    return ("agreement" in markexpr and "not agreement" not in markexpr) or os.environ.get(
        "MXSIM_AGREEMENT"
    ) == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _asked(config):
        return
    ours = [item for item in items if item.get_closest_marker("agreement") is not None]
    if ours:
        config.hook.pytest_deselected(items=ours)
        items[:] = [item for item in items if item not in ours]


@pytest.fixture(scope="session")
def results_dir() -> Path:
    folder = Path(os.environ.get("MXSIM_AGREE_RESULTS", "/var/cache/mxsim-agree/results"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
