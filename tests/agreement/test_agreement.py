"""Every bundled scenario and case, for each real MTA: the model must agree field by field.

A real MTA that cannot be installed or run fails its tests with the reason (never a
skip). A difference fails with the comparison's readable diff and the MTA's log lines.

The real runs are slow (timeouts, chroot starts) and independent (each in its own
network namespace), so the whole matrix runs once per session on MXSIM_AGREE_JOBS
threads (default 4); each test then checks its own result.
"""

from __future__ import annotations

import os
from concurrent.futures import Future
from pathlib import Path

import pytest

from mxsim.agree import AgreeError, Comparison, bundled_cases
from mxsim.agree.mtas import NAMES
from mxsim.agree.run import Key, run_matrix
from mxsim.agree.table import Cell, cell_of, save

from .known import KNOWN, STRICT

pytestmark = pytest.mark.agreement

CASES = bundled_cases()


def _id(scenario: str, pins: tuple[str, ...]) -> str:
    return scenario + (f"[{','.join(pins)}]" if pins else "")


def _selected(session: pytest.Session) -> list[Key]:
    """The cases of the tests this session runs (all of them, or those -k picked)."""
    keys = []
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and item.name.startswith("test_real_mta_agrees"):
            params = callspec.params
            keys.append((str(params["scenario"]), tuple(params["pins"]), str(params["mta"])))
    return keys


@pytest.fixture(scope="session")
def matrix(request: pytest.FixtureRequest) -> dict[Key, Future[Comparison | AgreeError]]:
    return run_matrix(_selected(request.session), int(os.environ.get("MXSIM_AGREE_JOBS", "4")))


@pytest.mark.parametrize("mta", NAMES)
@pytest.mark.parametrize(("scenario", "pins"), CASES, ids=[_id(s, p) for s, p in CASES])
def test_real_mta_agrees(
    scenario: str, pins: tuple[str, ...], mta: str, matrix: dict[Key, Future[Comparison | AgreeError]],
    results_dir: Path,
) -> None:
    label = _id(scenario, pins)
    result = matrix[(scenario, pins, mta)].result()
    if isinstance(result, AgreeError):
        save(Cell(label, mta, "could not run", detail=str(result)), results_dir)
        pytest.fail(f"{label} {mta}: could not run the real MTA: {result}", pytrace=False)
    save(cell_of(label, mta, result), results_dir)
    # The whole question stream is compared: nothing the MTA asked may be set aside.
    left_out = [note for note in result.real.notes if note.startswith("left out")]
    assert not left_out, f"{label} {mta}: questions left out of the comparison: {left_out}"
    differing = {f.name for f in result.differing()}
    known = set() if STRICT else KNOWN.get((label, mta), set())
    if differing == known:
        return
    lines = [result.render()]
    if differing - known:
        lines.append(f"new differences: {', '.join(sorted(differing - known))}")
    if known - differing:
        lines.append(
            f"now agreeing, remove from tests/agreement/known.py: {', '.join(sorted(known - differing))}"
        )
    pytest.fail("\n".join(lines), pytrace=False)
