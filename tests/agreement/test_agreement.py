"""Every bundled scenario and case, for each real MTA: the model must agree field by field.

A real MTA that cannot be installed or run fails its tests with the reason (never a
skip). A difference fails with the comparison's readable diff and the MTA's log lines.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mxsim.agree import AgreeError, Case, agree, bundled_cases
from mxsim.agree.mtas import NAMES
from mxsim.agree.table import Cell, cell_of, save

pytestmark = pytest.mark.agreement

CASES = bundled_cases()


def _id(scenario: str, pins: tuple[str, ...]) -> str:
    return scenario + (f"[{','.join(pins)}]" if pins else "")


@pytest.mark.parametrize("mta", NAMES)
@pytest.mark.parametrize(("scenario", "pins"), CASES, ids=[_id(s, p) for s, p in CASES])
def test_real_mta_agrees(scenario: str, pins: tuple[str, ...], mta: str, results_dir: Path) -> None:
    label = _id(scenario, pins)
    try:
        comparison = agree(Case(scenario, pins, mta))
    except AgreeError as error:
        save(Cell(label, mta, "could not run", detail=str(error)), results_dir)
        pytest.fail(f"{label} {mta}: could not run the real MTA: {error}", pytrace=False)
    save(cell_of(label, mta, comparison), results_dir)
    if not comparison.agreed:
        pytest.fail(comparison.render(), pytrace=False)
