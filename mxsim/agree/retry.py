"""Retry cases: a first attempt in one world, then the MTA's own queue run in another.

The parent side, like `mxsim.agree.run` for first attempts: check the case, make sure
the chroot is built, run `mxsim.agree.retry_worker` in private mount and UTS namespaces,
and read back what both phases saw.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from mxsim.agree.chroots import ensure_chroot
from mxsim.agree.compare import Comparison, compare, sending_host
from mxsim.agree.errors import AgreeError
from mxsim.agree.expiry import DEFAULT_PAUSE, PAUSE, bounce_status, compare_expiry
from mxsim.agree.expiry import SETTINGS as LIFETIMES
from mxsim.agree.isolation import leftover_cleanup, require_root
from mxsim.agree.mtas import driver
from mxsim.agree.mtas.base import check_recipient
from mxsim.agree.observation import Observation
from mxsim.agree.retry_model import expired_notice, model_retry, observation_of
from mxsim.agree.run import WORKER_SLACK, _namespace_name, run_worker, worker_result
from mxsim.engine import recipient_of
from mxsim.scenario import load_scenario

WORLDS = Path(__file__).resolve().parent / "retry_worlds"


@dataclass(frozen=True, slots=True)
class RetryCase:
    """First attempt in (scenario, pins), the queue run in (retry_scenario, retry_pins)."""

    name: str
    scenario: str
    pins: tuple[str, ...]
    retry_scenario: str
    retry_pins: tuple[str, ...]
    mta: str = "postfix"
    overrides: Mapping[str, str] = field(default_factory=dict)  # the MTA's own names
    pause: float = 0.0  # seconds between the world's change and the queue run

    @property
    def label(self) -> str:
        return f"retry {self.name} {self.mta}"


@dataclass(slots=True)
class RetryObservation:
    first: Observation
    retry: Observation
    queue: dict[str, str]  # queue file path -> text, after each phase


def observe_retry(case: RetryCase, keep: Path | None = None) -> RetryObservation:
    """Run the real MTA through both phases in a fresh namespace; AgreeError if it cannot run."""
    mta = driver(case.mta)
    spec = load_scenario(case.scenario)
    retry_spec = load_scenario(case.retry_scenario)
    recipient = check_recipient(recipient_of(spec, None))
    require_root()
    root, version = ensure_chroot(mta.chroot)
    settings = mta.model_overrides(case.overrides)
    with tempfile.TemporaryDirectory(prefix="mxsim-agree-retry-") as tmp:
        folder = (keep or Path(tmp)).absolute()
        folder.mkdir(parents=True, exist_ok=True)
        request = {
            "scenario": str(Path(spec.source).resolve()), "pins": list(case.pins), "mta": mta.name,
            "recipient": recipient, "settings": settings, "mta_config": None,
            "folder": str(folder / "work"), "chroot": str(root), "version": version,
            "netns": _namespace_name(),
            "retry_scenario": str(Path(retry_spec.source).resolve()), "retry_pins": list(case.retry_pins),
            "pause": case.pause,
        }
        (folder / "request.json").write_text(json.dumps(request, indent=2) + "\n")
        limit = 2 * mta.wait_limit + case.pause + WORKER_SLACK
        started = time.monotonic()
        try:
            run_worker("mxsim.agree.retry_worker", folder, limit)
        except subprocess.TimeoutExpired as error:
            raise AgreeError(f"{case.label}: the worker ran over {limit:g} s") from error
        finally:
            leftover_cleanup(str(request["netns"]), folder)
        elapsed = time.monotonic() - started
        result = worker_result(case.label, folder)
        retry = Observation.from_json(result["retry"])
        retry.notes.append(f"worker wall time {elapsed:.1f} s")
        return RetryObservation(Observation.from_json(result["first"]), retry,
                                {str(k): str(v) for k, v in result.get("queue", {}).items()})


def _world(name: str) -> str:
    return str(WORLDS / f"{name}.yaml")


# The retry cases every MTA runs (docs/agreement.md#retries). OpenSMTPD disables a route
# for 15 s after a failure and keeps that in memory (smtpd/mta.c `mta_route_disable`);
# the 5 s pause puts the queue run after it, so the case asks whether the host is
# tried again, not how long a penalty lasts.
RETRY_CASES = (
    ("cname-then-healthy", "wa-students-2017", ("broken",), "wa-students-2017", ("healthy",), 0.0),
    ("refused-then-accepts", _world("mx-refuses"), (), _world("mx-accepts"), (), 5.0),
    ("mx-moved", _world("mx-refuses"), (), _world("mx-moved"), (), 0.0),
    # The world stays broken; the queue lifetime (5 s, mxsim.agree.expiry) runs out first.
    ("expires", _world("mx-refuses"), (), _world("mx-refuses"), (), DEFAULT_PAUSE),
)
CASE_NAMES = tuple(row[0] for row in RETRY_CASES)
# What the queue run does in each case, on both sides: the checks that it was a retry.
QUEUE_RUN_OUTCOME = {name: "bounced" if name == "expires" else "delivered" for name in CASE_NAMES}


def retry_case(name: str, mta: str, overrides: Mapping[str, str] | None = None) -> RetryCase:
    for label, scenario, pins, later, later_pins, pause in RETRY_CASES:
        if label == name:
            expiring = label == "expires"
            chosen = {**(LIFETIMES.get(mta, {}) if expiring else {}), **(overrides or {})}
            wait = PAUSE.get(mta, pause) if expiring else pause
            return RetryCase(label, scenario, pins, later, later_pins, mta, chosen, wait)
    raise AgreeError(f"no retry case {name!r} (have: {', '.join(CASE_NAMES)})")


@dataclass(slots=True)
class RetryComparison:
    """Both phases compared: the first attempt, and the forced queue run after the change."""

    first: Comparison
    retry: Comparison
    queue: dict[str, str]

    @property
    def agreed(self) -> bool:
        return self.first.agreed and self.retry.agreed

    def render(self) -> str:
        return self.first.render() + "\n" + self.retry.render()


def agree_retry(case: RetryCase, keep: Path | None = None) -> RetryComparison:
    """Real MTA and model through both phases, each phase compared field by field."""
    real = observe_retry(case, keep)
    settings = driver(case.mta).model_overrides(case.overrides)
    first, retry = model_retry(case.scenario, case.pins, case.retry_scenario, case.retry_pins, case.mta,
                               settings, case.pause, host=sending_host(real.first))
    model1, levels1 = observation_of(first, case.mta, load_scenario(case.scenario))
    model2, levels2 = observation_of(retry, case.mta, load_scenario(case.retry_scenario))
    queue_run = compare(f"{case.label}: queue run", model2, real.retry, levels2)
    if case.name == "expires" or real.retry.expired is not None:
        # What the sender is told of an expired message (docs/agreement.md#retries).
        status, model2.expired = expired_notice(retry, case.mta, settings)
        queue_run.fields.append(compare_expiry((status, model2.expired), real.retry.expired,
                                               bounce_status(real.queue)))
    return RetryComparison(compare(f"{case.label}: first attempt", model1, real.first, levels1), queue_run,
                           real.queue)


def run_retries(
    keys: Sequence[tuple[str, str]], jobs: int = 4, overrides: Mapping[str, str] | None = None,
) -> dict[tuple[str, str], Future[RetryComparison | AgreeError]]:
    """Start every (case, mta) on `jobs` threads, chroots first, the slowest MTAs first."""
    pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="agree-retry")
    for build in [pool.submit(ensure_chroot, driver(mta).chroot) for mta in sorted({k[1] for k in keys})]:
        build.exception()  # a failed build fails each of that MTA's cases, with the reason

    def one(key: tuple[str, str]) -> RetryComparison | AgreeError:
        try:
            return agree_retry(retry_case(key[0], key[1], overrides))
        except AgreeError as error:
            return error

    ordered = sorted(keys, key=lambda k: -driver(k[1]).wait_limit)
    futures = {key: pool.submit(one, key) for key in ordered}
    pool.shutdown(wait=False)
    return futures
