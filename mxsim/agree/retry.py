"""Retry cases: a first attempt in one world, then the MTA's own queue run in another.

The parent side, like `mxsim.agree.run` for first attempts: check the case, make sure
the chroot is built, run `mxsim.agree.retry_worker` in private mount and UTS namespaces,
and read back what both phases saw.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import mxsim
from mxsim.agree.chroots import ensure_chroot
from mxsim.agree.errors import AgreeError
from mxsim.agree.isolation import leftover_cleanup, require_root
from mxsim.agree.mtas import driver
from mxsim.agree.mtas.base import check_recipient
from mxsim.agree.observation import Observation
from mxsim.agree.run import WORKER_SLACK, _namespace_name
from mxsim.engine import recipient_of
from mxsim.scenario import load_scenario


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
        result_path = folder / "result.json"
        env = dict(os.environ)
        package_root = str(Path(mxsim.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
        argv = ["unshare", "--mount", "--propagation", "private", "--uts", sys.executable,
                "-m", "mxsim.agree.retry_worker", str(folder / "request.json"), str(result_path)]
        limit = 2 * mta.wait_limit + case.pause + WORKER_SLACK
        started = time.monotonic()
        try:
            with (folder / "worker.log").open("wb") as out:
                subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                               env=env, timeout=limit, check=False, cwd="/")
        except subprocess.TimeoutExpired as error:
            raise AgreeError(f"{case.label}: the worker ran over {limit:g} s") from error
        finally:
            leftover_cleanup(str(request["netns"]), folder)
        elapsed = time.monotonic() - started
        try:
            result = json.loads(result_path.read_text())
        except (OSError, ValueError) as error:
            tail = (folder / "worker.log").read_text(errors="replace")[-800:]
            raise AgreeError(f"{case.label}: the worker left no result: {tail}") from error
        if "error" in result:
            raise AgreeError(f"{case.label}: {result['error']}")
        retry = Observation.from_json(result["retry"])
        retry.notes.append(f"worker wall time {elapsed:.1f} s")
        return RetryObservation(Observation.from_json(result["first"]), retry,
                                {str(k): str(v) for k, v in result.get("queue", {}).items()})
