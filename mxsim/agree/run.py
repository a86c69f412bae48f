"""Parent side of one comparison: chroot ready, namespace made, worker run, model traced."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mxsim
from mxsim.agree.chroots import ensure_chroot
from mxsim.agree.compare import Comparison, compare, model_observation, sending_host
from mxsim.agree.errors import AgreeError
from mxsim.agree.isolation import leftover_cleanup, require_root
from mxsim.agree.mtas import driver
from mxsim.agree.mtas.base import check_recipient
from mxsim.agree.observation import Observation
from mxsim.engine import recipient_of
from mxsim.scenario import load_scenario

WORKER_SLACK = 90.0  # lab and unbound start, MTA start and stop, beyond the MTA's own wait


@dataclass(frozen=True, slots=True)
class Case:
    scenario: str  # a bundled name or a file
    pins: tuple[str, ...] = ()
    mta: str = "postfix"
    recipient: str | None = None
    overrides: Mapping[str, str] | None = None  # -o NAME=VALUE, the MTA's own names
    mta_config: Path | None = None  # a Postfix main.cf

    @property
    def label(self) -> str:
        pins = ",".join(self.pins)
        return f"{self.scenario}{'[' + pins + ']' if pins else ''} {self.mta}"


_runs = itertools.count()


def _namespace_name() -> str:
    """Unique per run on this machine, and short enough for `ip netns` (31 characters)."""
    return f"mxagree-{os.getpid()}-{next(_runs)}"


def real_version(mta: str) -> str:
    """The cached chroot's MTA package version (builds the chroot if needed)."""
    _root, version = ensure_chroot(driver(mta).chroot)
    return version


def observe_real(case: Case, keep: Path | None = None) -> Observation:
    """Run the real MTA for one case in a fresh namespace; AgreeError if it cannot run."""
    mta = driver(case.mta)
    spec = load_scenario(case.scenario)
    recipient = check_recipient(recipient_of(spec, case.recipient))
    require_root()
    root, version = ensure_chroot(mta.chroot)
    settings = mta.model_overrides(case.overrides or {})
    with tempfile.TemporaryDirectory(prefix="mxsim-agree-") as tmp:
        # Absolute: the worker runs in / and hands paths under it to mount(8) and chroot(8).
        folder = (keep or Path(tmp)).absolute()
        folder.mkdir(parents=True, exist_ok=True)
        request = {
            "scenario": str(Path(spec.source).resolve()), "pins": list(case.pins), "mta": mta.name,
            "recipient": recipient, "settings": settings,
            "mta_config": str(case.mta_config.resolve()) if case.mta_config else None,
            "folder": str(folder / "work"), "chroot": str(root), "version": version,
            "netns": _namespace_name(),
        }
        (folder / "request.json").write_text(json.dumps(request, indent=2) + "\n")
        started = time.monotonic()
        try:
            run_worker("mxsim.agree.worker", folder, mta.wait_limit + WORKER_SLACK)
        except subprocess.TimeoutExpired as error:
            raise AgreeError(
                f"{case.label}: the worker ran over {mta.wait_limit + WORKER_SLACK:g} s"
            ) from error
        finally:
            leftover_cleanup(str(request["netns"]), folder)
        elapsed = time.monotonic() - started
        result = worker_result(case.label, folder)
        observation = Observation.from_json(result["observation"])
        observation.notes.append(f"worker wall time {elapsed:.1f} s")
        return observation


def run_worker(module: str, folder: Path, timeout: float) -> None:
    """`python -m MODULE folder/request.json folder/result.json` in its own mount and UTS namespaces.

    Private mounts (the chroot's overlay never shows on the host) and its own host name,
    so no MTA asks the resolver about this machine's real name. Its output goes to
    folder/worker.log; subprocess.TimeoutExpired past `timeout`.
    """
    env = dict(os.environ)
    package_root = str(Path(mxsim.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    argv = ["unshare", "--mount", "--propagation", "private", "--uts", sys.executable,
            "-m", module, str(folder / "request.json"), str(folder / "result.json")]
    with (folder / "worker.log").open("wb") as out:
        subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                       env=env, timeout=timeout, check=False, cwd="/")


def worker_result(label: str, folder: Path) -> dict[str, Any]:
    """What the worker wrote to folder/result.json; AgreeError, with its log's tail, if nothing."""
    try:
        result: dict[str, Any] = json.loads((folder / "result.json").read_text())
    except (OSError, ValueError) as error:
        tail = (folder / "worker.log").read_text(errors="replace")[-800:]
        raise AgreeError(f"{label}: the worker left no result: {tail}") from error
    if "error" in result:
        raise AgreeError(f"{label}: {result['error']}")
    return result


def agree(case: Case, keep: Path | None = None) -> Comparison:
    """Real MTA and model for one case, compared field by field."""
    real = observe_real(case, keep)
    model, levels = model_observation(
        case.scenario, case.pins, case.mta, case.recipient,
        driver(case.mta).model_overrides(case.overrides or {}), case.mta_config, sending_host(real),
    )
    return compare(case.label, model, real, levels)


def bundled_cases(names: Sequence[str] | None = None) -> list[tuple[str, tuple[str, ...]]]:
    """(scenario, pins) for every bundled scenario, once per case it defines (or once)."""
    from mxsim.scenario import bundled_scenarios

    out: list[tuple[str, tuple[str, ...]]] = []
    for name in names or bundled_scenarios():
        spec = load_scenario(name)
        if spec.cases:
            out += [(name, (case.name,)) for case in spec.cases]
        else:
            out.append((name, ()))
    return out


Key = tuple[str, tuple[str, ...], str]  # scenario, pins, mta


def run_matrix(
    keys: Sequence[Key], jobs: int = 4, overrides: Mapping[str, str] | None = None,
    recipient: str | None = None, mta_config: Path | None = None,
) -> dict[Key, Future[Comparison | AgreeError]]:
    """Start every case on `jobs` threads (each case is its own namespace and processes).

    Chroots are built first, one per MTA at once; the slowest MTAs start first (OpenSMTPD
    waits out a fixed 300 s greeting timeout). The caller reads the futures, in any order;
    the pool shuts down once all are done.
    """
    pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="agree")
    builds = [pool.submit(ensure_chroot, driver(mta).chroot) for mta in sorted({key[2] for key in keys})]
    for build in builds:
        build.exception()  # a failed build fails each of that MTA's cases, with the reason

    def one(key: Key) -> Comparison | AgreeError:
        scenario, pins, mta = key
        try:
            return agree(Case(scenario, pins, mta, recipient, overrides, mta_config))
        except AgreeError as error:
            return error

    ordered = sorted(keys, key=lambda k: -driver(k[2]).wait_limit)
    futures = {key: pool.submit(one, key) for key in ordered}
    pool.shutdown(wait=False)  # the submitted cases still run to the end
    return futures
