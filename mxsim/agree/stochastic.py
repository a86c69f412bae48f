"""A weighted farm held against a real MTA over time: `mxsim agree --replay SCENARIO`.

`python -m mxsim.agree.stochastic REQUEST RESULT` runs inside `unshare --mount --uts` as
the agreement worker does: the lab serves the scenario (its backends drawn by weight on
every question), Debian's unbound caches the answers for their TTLs, and the real MTA is
handed one message every `interval` seconds. The lab's mail hosts record which host took
each message; the MTA's retries come minutes later, so whatever took a message within
the run took it on the first attempt.

The parent (`observe_stream`) returns each message's hand-over time (seconds after the
first) and host. A stream is several such runs, each with its own lab seed and its share
of the messages (mxsim/agree/pooling.py says why and how they are pooled);
`compare_stream` replays the same file with the same arrivals and MTA profile, first
attempts only, as the same runs over several model seeds, and holds the real shares to
the model's within two standard errors clustered by (lab seed, draw): messages handed
over while one fetched answer is served (from its fetch's second through that second
plus the TTL) share it, and messages an MTA sends over one kept session (OpenSMTPD's
relay and its idle session: mxsim/mta/profiles/opensmtpd_sessions.py) share one MX
answer, so either is one draw, not many.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from mxsim.agree.chroots import ensure_chroot
from mxsim.agree.errors import AgreeError
from mxsim.agree.isolation import leftover_cleanup, require_root
from mxsim.agree.migration import DELIVERY_WAIT, hand_over
from mxsim.agree.mtas import driver
from mxsim.agree.pooling import lab_seeds, pooled_draws, pooled_model, split
from mxsim.agree.run import _namespace_name, run_worker
from mxsim.agree.worker import worker_main
from mxsim.commands.replay import ReplayConfig, run_replay
from mxsim.engine import profiles_for, recipient_of
from mxsim.scenario import ScenarioSpec, load_scenario

_MODEL = threading.Lock()
SEEDS = 40  # the model's shares: mean and spread over this many replications of the runs
LAB_SEEDS = 8  # runs per stream, each with its own lab seed, unless told
TTL = re.compile(r"(?:\$TTL\s+|\.\s+)(\d+)\s")

# What each MTA is told so that it does what its profile models. Postfix would reuse a
# cached session for a backlog without asking DNS, which the model does not follow; OpenSMTPD
# keeps its relay and an idle session for the next message to the same domain, and the
# model does (mxsim/mta/profiles/opensmtpd_sessions.py), so it runs with its defaults.
SETTINGS: Mapping[str, Mapping[str, str]] = {
    "postfix": {"smtp_connection_cache_on_demand": "no"},
}

SUCCESS, ELSEWHERE, NONE = "first attempt delivered as expected", "delivered elsewhere", "not delivered"
OUTCOMES = (SUCCESS, ELSEWHERE, NONE)


@dataclass(frozen=True, slots=True)
class Handed:
    at: float  # seconds after the first message was handed over
    host: str | None  # the mail host that took it within the run, None if none did


@dataclass(frozen=True, slots=True)
class Share:
    outcome: str
    real: float
    model: float
    error: float  # the clustered standard error of real - model

    @property
    def agreed(self) -> bool:
        return abs(self.real - self.model) <= 2 * self.error


@dataclass(slots=True)
class StreamComparison:
    scenario: str
    mta: str
    messages: int
    draws: int  # groups of messages that shared one answer: cache epochs joined by kept sessions
    interval: float = 0.5  # seconds between messages handed over
    seeds: int = 1  # runs pooled, each with its own lab seed
    shares: list[Share] = field(default_factory=list)
    model_paths: list[tuple[str, float]] = field(default_factory=list)
    real_hosts: list[tuple[str, float]] = field(default_factory=list)
    hosts: list[list[str | None]] = field(default_factory=list)  # per run, each message's host in order

    @property
    def agreed(self) -> bool:
        return all(share.agreed for share in self.shares)

    def render(self) -> str:
        lines = [f"{self.scenario} {self.mta}: {self.messages} messages {self.interval:g} s apart over "
                 f"{self.seeds} lab seeds in {self.draws} draws: " + ("agreed" if self.agreed else "differs")]
        for share in self.shares:
            mark = "ok" if share.agreed else "DIFFERS"
            lines.append(f"  {share.outcome:<36} real {share.real:6.1%}  model {share.model:6.1%}  "
                         f"2 SE {2 * share.error:6.1%}  {mark}")
        lines += [f"  real host   {share:6.1%}  {host}" for host, share in self.real_hosts]
        lines += [f"  model path  {share:6.1%}  {path}" for path, share in self.model_paths]
        return "\n".join(lines)


def observe_stream(scenario: Path, mta_name: str, recipient: str, *, messages: int, interval: float,
                   seed: int, settings: Mapping[str, str] | None = None) -> list[Handed]:
    """One run, the lab drawing from `seed`, in a fresh namespace; AgreeError if it cannot run."""
    mta = driver(mta_name)
    require_root()
    root, version = ensure_chroot(mta.chroot)
    with tempfile.TemporaryDirectory(prefix="mxsim-stream-") as tmp:
        folder = Path(tmp).absolute()
        request: dict[str, object] = {
            "scenario": str(scenario.resolve()), "pins": [], "mta": mta.name, "recipient": recipient,
            "settings": dict(settings if settings is not None else SETTINGS.get(mta.name, {})),
            "mta_config": None, "folder": str(folder / "work"), "chroot": str(root), "version": version,
            "netns": _namespace_name(), "messages": messages, "interval": interval, "seed": seed}
        (folder / "request.json").write_text(json.dumps(request, indent=2) + "\n")
        limit = messages * (interval + mta.wait_limit / 10) + DELIVERY_WAIT + 90
        try:
            run_worker("mxsim.agree.stochastic", folder, limit)
        except subprocess.TimeoutExpired as error:
            raise AgreeError(f"the stream of {messages} messages ran over {limit:g} s") from error
        finally:
            leftover_cleanup(str(request["netns"]), folder)
        try:
            result = json.loads((folder / "result.json").read_text())
        except (OSError, ValueError) as error:
            tail = (folder / "worker.log").read_text(errors="replace")[-800:]
            raise AgreeError(f"the stream worker left no result: {tail}") from error
        if "error" in result:
            raise AgreeError(str(result["error"]))
        return [Handed(float(row["at"]), row["host"]) for row in result["sent"]]


def _stream(data: dict[str, object]) -> list[dict[str, object]]:
    handed, reached, _lab_log = hand_over(data)
    first = min(handed.values(), default=0.0)
    return [{"at": at - first, "host": reached.get(token)} for token, at in sorted(handed.items(),
                                                                               key=lambda kv: kv[1])]


def epoch_seconds(spec: ScenarioSpec) -> float:
    """The longest TTL the scenario's zones and answers give: a cached answer lives at most this long."""
    text = Path(spec.source).read_text() if spec.source and Path(spec.source).is_file() else ""
    ttls = [int(t) for t in TTL.findall(text)]
    return float(max(ttls, default=1))


def draws(times: Sequence[float], ttl: float, session: float) -> list[int]:
    """Each message's draw: a message shares the one before it's when it comes while the
    answer fetched for that draw is still served, or within `session` seconds of the one
    before (a session kept open took it, with the MX answer its relay holds). `times` in
    hand-over order.

    A draw is fetched in the second of its first message and served through that second
    plus the TTL (unbound counts whole seconds: mxsim/resolver/cache.py), so a 2 s TTL
    makes epochs of three seconds, each starting at the first message after the last.
    """
    out: list[int] = []
    served_through = -math.inf
    for i, at in enumerate(times):
        if i and (math.floor(at) <= served_through or at - times[i - 1] < session):
            out.append(out[-1])
            continue
        out.append(out[-1] + 1 if out else 0)
        served_through = math.floor(at) + ttl
    return out


def classify(host: str | None, patterns: Sequence[str]) -> str:
    if host is None:
        return NONE
    name = host.lower().rstrip(".")
    return SUCCESS if any(fnmatchcase(name, p.lower().rstrip(".")) for p in patterns) else ELSEWHERE


def clustered_error(values: Sequence[float], clusters: Sequence[int], centre: float) -> float:
    """Standard error of a mean of 0/1 values, clustered (CR1 with a small-sample factor).

    Floored at the binomial error of one message in n, so a run where every message
    agreed still allows the model a little room.
    """
    n = len(values)
    if n == 0:
        return 1.0
    sums: dict[int, float] = {}
    for value, cluster in zip(values, clusters, strict=True):
        sums[cluster] = sums.get(cluster, 0.0) + value - centre
    count = len(sums)
    factor = count / (count - 1) if count > 1 else 1.0
    variance = factor * sum(s * s for s in sums.values()) / (n * n)
    floor = max(centre * (1 - centre), 1 / n) / n
    return math.sqrt(max(variance, floor))


def compare_stream(scenario: str | Path, mta: str, runs: Sequence[Sequence[Handed]], interval: float,
                   overrides: Mapping[str, str] | None = None) -> StreamComparison:
    """The real shares, pooled over `runs` (one per lab seed), against the model's mean over
    SEEDS replications of the same runs with the same arrivals.

    The error allowed is the larger of two standard errors, both clustered by draw: the
    spread of the pooled share over the model's replications (each replay draws a backend
    per cache epoch, as unbound does, and keeps sessions as the MTA does, so it is the
    pooled share's sampling error under the model: `pooled_model`), and the real share's
    own error with the messages grouped by (run, draw) (`draws`, `pooled_draws`).
    """
    with _MODEL:  # the model's memo tables are not shared safely between threads
        return _compare(scenario, mta, runs, interval, overrides)


def _compare(scenario: str | Path, mta: str, runs: Sequence[Sequence[Handed]], interval: float,
             overrides: Mapping[str, str] | None) -> StreamComparison:
    spec = load_scenario(scenario)
    [profile] = profiles_for((mta,), dict(overrides or {}))
    ttl, session = epoch_seconds(spec), profile.session_seconds()
    clusters = pooled_draws([draws([s.at for s in run], ttl, session) for run in runs])
    sent = [s for run in runs for s in run]
    real = [classify(s.host, spec.expect.deliver_to) for s in sent]
    n = len(sent)
    counts: dict[str, list[list[int]]] = {outcome: [] for outcome in OUTCOMES}
    paths: dict[str, float] = {}
    for replication in range(SEEDS):
        row: dict[str, list[int]] = {outcome: [] for outcome in OUTCOMES}
        for k, run in enumerate(runs):
            size = len(run)
            result = run_replay(ReplayConfig(specs=(spec,), messages=size, mtas=(mta,),
                                             seed=replication * len(runs) + k, overrides=dict(overrides or {}),
                                             arrival=size * interval, first_attempt_only=True))
            one = result.scenarios[0].results[0]
            row[SUCCESS].append(one.first_attempt_success)
            row[ELSEWHERE].append(one.delivered_elsewhere)
            row[NONE].append(size - one.first_attempt_success - one.delivered_elsewhere)
            for path, count in one.paths:
                paths[path] = paths.get(path, 0.0) + count / (SEEDS * n)
        for outcome in OUTCOMES:
            counts[outcome].append(row[outcome])
    out = StreamComparison(str(scenario), mta, n, len(set(clusters)), interval, len(runs))
    for outcome in OUTCOMES:
        values = [1.0 if r == outcome else 0.0 for r in real]
        share = sum(values) / n if n else 0.0
        model, spread = pooled_model(counts[outcome], n)
        error = max(spread, clustered_error(values, clusters, share))
        out.shares.append(Share(outcome, share, model, error))
    out.model_paths = sorted(paths.items(), key=lambda pc: -pc[1])
    hosts: dict[str, int] = {}
    for s in sent:
        hosts[s.host or "(none)"] = hosts.get(s.host or "(none)", 0) + 1
    out.hosts = [[s.host for s in run] for run in runs]
    out.real_hosts = sorted(((h, c / n) for h, c in hosts.items()), key=lambda hc: -hc[1])
    return out


def run_streams(keys: Sequence[tuple[str, str]], *, messages: int, interval: float, jobs: int = 4,
                overrides: Mapping[str, str] | None = None, seeds: int = LAB_SEEDS,
                ) -> dict[tuple[str, str], Future[StreamComparison | AgreeError]]:
    """(scenario, mta) streams, each `seeds` runs of its share of `messages` with the lab
    seeds `lab_seeds` fixes for it, pooled; the runs on `jobs` threads, each in its own
    namespace, chroots built first."""
    sizes = split(messages, seeds)
    pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="stream")
    for build in [pool.submit(ensure_chroot, driver(mta).chroot) for mta in sorted({k[1] for k in keys})]:
        build.exception()  # a failed build fails each of that MTA's streams, with the reason

    def observe(scenario: str, mta: str, seed: int, size: int) -> list[Handed]:
        spec = load_scenario(scenario)
        return observe_stream(Path(spec.source), mta, recipient_of(spec, None), messages=size,
                              interval=interval, seed=seed,
                              settings={**SETTINGS.get(mta, {}), **(overrides or {})})

    runs: dict[tuple[str, str], list[Future[list[Handed]]]] = {}
    for scenario, mta in keys:
        name = Path(load_scenario(scenario).source).name
        runs[(scenario, mta)] = [pool.submit(observe, scenario, mta, seed, size)
                                 for seed, size in zip(lab_seeds(name, mta, len(sizes)), sizes, strict=True)]

    def pooled(key: tuple[str, str]) -> StreamComparison | AgreeError:
        try:
            observed = [run.result() for run in runs[key]]
        except AgreeError as error:
            return error
        return compare_stream(key[0], key[1], observed, interval, overrides)

    joining = ThreadPoolExecutor(max_workers=max(1, len(keys)), thread_name_prefix="pooled")
    futures = {key: joining.submit(pooled, key) for key in keys}
    pool.shutdown(wait=False)
    joining.shutdown(wait=False)
    return futures


def markdown(results: Mapping[tuple[str, str], StreamComparison | AgreeError]) -> str:
    """One row per stream: first-attempt success and delivered-elsewhere shares, real and model."""
    rows = ["| scenario | MTA | spacing | messages (lab seeds, draws) | 1st-attempt success real / model | "
            "elsewhere real / model | 2 SE | verdict |", "|---|---|---|---|---|---|---|---|"]
    for (scenario, mta), result in results.items():
        name = Path(scenario).stem
        if isinstance(result, AgreeError):
            rows.append(f"| {name} | {mta} | | | | | | could not run |")
            continue
        success, elsewhere = result.shares[0], result.shares[1]
        rows.append(f"| {name} | {mta} | {result.interval:g} s | {result.messages} ({result.seeds}, "
                    f"{result.draws}) | {success.real:.0%} / "
                    f"{success.model:.0%} | {elsewhere.real:.0%} / {elsewhere.model:.0%} | "
                    f"{2 * success.error:.0%} | {'agreed' if result.agreed else 'differs'} |")
    return "\n".join(rows) + "\n"


def main(argv: list[str]) -> int:
    return worker_main("mxsim.agree.stochastic", argv, lambda data: {"sent": _stream(data)})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
