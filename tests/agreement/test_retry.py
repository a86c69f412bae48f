"""Retry cases for each real MTA: the first attempt, a changed world, the MTA's own queue run.

Both phases must agree with the model field by field (docs/agreement.md#retries). A
real MTA that cannot be installed or run fails with the reason. The cases run once per
session on MXSIM_AGREE_JOBS threads; each test checks its own result.
"""

from __future__ import annotations

import os
from concurrent.futures import Future

import pytest

from mxsim.agree import AgreeError
from mxsim.agree.mtas import NAMES
from mxsim.agree.retry import CASE_NAMES, QUEUE_RUN_OUTCOME, RetryComparison, run_retries

pytestmark = pytest.mark.agreement


@pytest.fixture(scope="session")
def retries(request: pytest.FixtureRequest) -> dict[tuple[str, str], Future[RetryComparison | AgreeError]]:
    keys = []
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and item.name.startswith("test_real_mta_retries"):
            keys.append((str(callspec.params["case"]), str(callspec.params["mta"])))
    return run_retries(keys, int(os.environ.get("MXSIM_AGREE_JOBS", "4")))


@pytest.mark.parametrize("mta", NAMES)
@pytest.mark.parametrize("case", CASE_NAMES)
def test_real_mta_retries(
    case: str, mta: str, retries: dict[tuple[str, str], Future[RetryComparison | AgreeError]],
) -> None:
    result = retries[(case, mta)].result()
    if isinstance(result, AgreeError):
        pytest.fail(f"retry {case} {mta}: could not run the real MTA: {result}", pytrace=False)
    if not result.agreed:
        pytest.fail(result.render(), pytrace=False)
    # The case is a retry only if the first attempt failed and the queue run did what the case is for.
    assert (result.first.real.outcome, result.retry.real.outcome) == ("deferred", QUEUE_RUN_OUTCOME[case])
