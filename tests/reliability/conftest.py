"""Shared by the reliability tests: one worker per module, and CI-sized hypothesis settings.

Hypothesis runs derandomized with no example database, so a CI run tries the same inputs
every time and writes nothing. Failing inputs are not shrunk: every rerun of a hang costs
the whole time bound, and the report already names the input readably.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, Phase, settings

from tests.reliability.harness import Worker
from tests.reliability.jobs import Job
from tests.reliability.verdict import Verdict

TIME_BOUND = 10.0  # seconds for one input, load and trace together (the bundled ones take 0.2 s)

CI = settings(
    derandomize=True,
    database=None,
    deadline=timedelta(seconds=TIME_BOUND + 5),  # the worker's own bound fires first, with a clearer message
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    print_blob=False,
)


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    with Worker() as running:
        yield running


def assert_passes(worker: Worker, job: Job, described: str) -> None:
    """Run one input; fail with its verdict and a readable description of it."""
    assert_verdict(worker.run(job, TIME_BOUND), described)


def assert_verdict(verdict: Verdict, described: str) -> None:
    assert verdict.passed, f"{verdict.status}: {verdict.symptom}\n  input: {described}\n  {verdict.detail}"
