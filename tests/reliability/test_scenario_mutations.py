"""Mutated bundled scenarios: each loads and traces, or fails with one line and exit 3, in time.

The worker loads the file with the scenario loader, then runs `mxsim trace FILE` through
the command line's entry in its own process, within TIME_BOUND seconds and 1 GiB.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.reliability.choice import DrawChooser
from tests.reliability.conftest import CI, assert_passes
from tests.reliability.harness import Worker
from tests.reliability.jobs import draw_scenario
from tests.reliability.known import KNOWN_SCENARIOS


@settings(CI, max_examples=120)
@given(st.data())
def test_a_mutated_scenario_runs_or_fails_with_one_line(worker: Worker, data: st.DataObject) -> None:
    assert_passes(worker, *draw_scenario(DrawChooser(data)))


@pytest.mark.parametrize("name", sorted(KNOWN_SCENARIOS))
def test_a_known_hostile_scenario_runs_or_fails_with_one_line(worker: Worker, name: str) -> None:
    assert_passes(worker, KNOWN_SCENARIOS[name], name)
