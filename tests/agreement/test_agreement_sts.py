"""MTA-STS against real software: Postfix 3.7 with Debian's postfix-mta-sts-resolver, trusting the lab CA.

Three cases (docs/agreement.md#mta-sts): an enforce policy that matches the MX (delivered over
verified TLS), the bundled stale enforce policy after an MX move (deferred, Postfix's words),
and a testing policy that does not match (delivered). The model must agree field by field,
and on the policy fetches: the HTTPS requests the lab's endpoint saw are the model's.
"""

from __future__ import annotations

import os
from concurrent.futures import Future
from pathlib import Path

import pytest

from mxsim.agree import AgreeError, Comparison
from mxsim.agree.run import Key, run_matrix
from mxsim.mta.profiles.postfix_sts import FETCH_PREFIX

pytestmark = pytest.mark.agreement

HERE = Path(__file__).parent / "sts"
URL = "https://mta-sts.shop.example/.well-known/mta-sts.txt"
CASES = {
    "sts-enforce-match": ("delivered", "Verified TLS connection established to mx1.newmail.example.com"),
    "mta-sts-stale-policy": ("deferred", "status=deferred (Server certificate not verified)"),
    "sts-testing-mismatch": ("delivered", "status=sent"),
}


def _scenario(name: str) -> str:
    local = HERE / f"{name}.yaml"
    return str(local) if local.is_file() else name


@pytest.fixture(scope="module")
def matrix() -> dict[Key, Future[Comparison | AgreeError]]:
    keys: list[Key] = [(_scenario(name), (), "postfix-sts") for name in CASES]
    return run_matrix(keys, int(os.environ.get("MXSIM_AGREE_JOBS", "3")))


@pytest.mark.parametrize("name", list(CASES))
def test_real_postfix_with_the_sts_resolver_agrees(
    name: str, matrix: dict[Key, Future[Comparison | AgreeError]],
) -> None:
    result = matrix[(_scenario(name), (), "postfix-sts")].result()
    if isinstance(result, AgreeError):
        pytest.fail(f"{name} postfix-sts: could not run the real MTA: {result}", pytrace=False)
    assert result.agreed, result.render()
    outcome, words = CASES[name]
    assert result.real.outcome == outcome
    assert any(words in line for line in result.real.evidence), "\n".join(result.real.evidence)
    fetched = {side: [line for line in obs.evidence if line.startswith(FETCH_PREFIX)]
               for side, obs in (("model", result.model), ("real", result.real))}
    assert fetched["model"] == fetched["real"] == [FETCH_PREFIX + URL], fetched
