"""A long hostile-input run against mxsim, with the figures a reliability section needs.

    python tools/campaign.py                          # a quick run (about a minute)
    python tools/campaign.py --scenarios 100000 --datagrams 1000000 --seed 1
    python tools/campaign.py --replay FINDINGS/scenario-0001.json

Inputs come from the generators the tests use (tests/reliability): mutated bundled
scenarios, odd recipients for `trace -r`, odd domains, options and root hints for `check`
(against a root on 127.0.0.1 that never answers), hostile DNS worlds for `check` and hostile
SMTP hosts for its probe (tests/hostile, on 127.0.0.0/8), and garbage datagrams and streams at a
lab started with `mxsim lab up`. Each input runs in a worker process bounded in time
(--time-bound) and memory (--memory); a finding is saved as JSON in --out for --replay.
Every loop is bounded in count and time (--max-seconds); all traffic stays in 127.0.0.0/8;
the worker and the lab are stopped on the way out, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the generators live in tests/reliability

from tests.reliability.choice import Chooser, RandomChooser
from tests.reliability.flood import (
    LOG_LIMIT,
    PLATEAU_DATAGRAMS,
    PLATEAU_KIB,
    Lab,
    flood_datagrams,
    flood_streams,
    hold_idle,
    start_lab,
)
from tests.reliability.harness import Worker
from tests.reliability.hostile import draw_hostile_dns, draw_hostile_smtp
from tests.reliability.jobs import Job, draw_check, draw_recipient, draw_scenario
from tests.reliability.known import KNOWN_CHECKS, KNOWN_SCENARIOS
from tests.reliability.verdict import Verdict

Draw = Callable[[Chooser], tuple[Job, str]]
KINDS: dict[str, Draw] = {"scenario": draw_scenario, "recipient": draw_recipient, "check": draw_check,
                          "hostile-dns": draw_hostile_dns, "hostile-smtp": draw_hostile_smtp}
EXAMPLES_PER_SYMPTOM = 3
MEMORY_NOTE_KIB = 50 * 1024  # a worker's peak that jumps this much on one input is worth naming
CHUNK = 10_000  # datagrams between two looks at the lab


@dataclass
class Tally:
    tried: Counter[str] = field(default_factory=Counter)
    statuses: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    symptoms: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)  # (kind, status, symptom)
    counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    memory_jumps: list[tuple[int, str]] = field(default_factory=list)
    slowest: list[tuple[float, str]] = field(default_factory=list)
    saved: int = 0


def _save(out: Path, kind: str, number: int, job: Job, described: str, verdict: Verdict) -> str:
    path = out / f"{kind}-{number:04d}.json"
    path.write_text(json.dumps({"kind": kind, "input": described, "job": job, "verdict": verdict.to_json()}, indent=1))
    return path.name


def _record(tally: Tally, out: Path, kind: str, job: Job, described: str, verdict: Verdict) -> None:
    tally.tried[kind] += 1
    tally.statuses[kind][verdict.status] += 1
    tally.slowest = sorted([*tally.slowest, (verdict.seconds, f"{kind}: {described[:160]}")], reverse=True)[:5]
    if verdict.passed:
        return
    key = (kind, verdict.status, verdict.symptom)
    tally.counts[key] += 1
    examples = tally.symptoms.setdefault(key, [])
    if len(examples) < EXAMPLES_PER_SYMPTOM:
        tally.saved += 1
        examples.append(f"{described[:240]}  [{_save(out, kind, tally.saved, job, described, verdict)}]")


def _run(worker: Worker, tally: Tally, out: Path, kind: str, job: Job, described: str, bound: float) -> None:
    worker.start()  # started before the input, so that its peak before the input is known
    before = worker.memory_kib()
    verdict = worker.run(job, bound)
    after = worker.memory_kib()
    if before and after - before > MEMORY_NOTE_KIB:
        tally.memory_jumps = sorted([*tally.memory_jumps, (after - before, f"{kind}: {described[:160]}")],
                                    reverse=True)[:5]
    _record(tally, out, kind, job, described, verdict)


def run_inputs(args: argparse.Namespace, tally: Tally, out: Path, stop_at: float, worker: Worker) -> None:
    """Known inputs first, then drawn ones, kind by kind."""
    chooser = RandomChooser(random.Random(args.seed))
    counts = {"scenario": args.scenarios, "recipient": args.recipients, "check": args.checks,
              "hostile-dns": args.hostile_dns, "hostile-smtp": args.hostile_smtp}
    started = time.monotonic()
    known = [("scenario", KNOWN_SCENARIOS), ("check", KNOWN_CHECKS)]
    for kind, table in known:
        for name, job in table.items():
            if time.monotonic() < stop_at:
                _run(worker, tally, out, kind, job, f"known: {name}", args.time_bound)
    print(f"  known inputs: {sum(tally.tried.values())} in {time.monotonic() - started:.0f} s", file=sys.stderr)
    for kind, draw in KINDS.items():
        started, before = time.monotonic(), tally.tried[kind]
        for _ in range(counts[kind]):
            if time.monotonic() > stop_at:
                break
            job, described = draw(chooser)
            _run(worker, tally, out, kind, job, described, args.time_bound)
        print(f"  {kind}: {tally.tried[kind] - before} drawn inputs in {time.monotonic() - started:.0f} s",
              file=sys.stderr)


@dataclass
class LabReport:
    sent: Counter[str] = field(default_factory=Counter)
    rss_kib: list[int] = field(default_factory=list)
    peak_kib: int = 0
    files_peak: int = 0
    log_bytes: int = 0
    log_lines: list[str] = field(default_factory=list)
    growth_kib: int | None = None  # per PLATEAU_DATAGRAMS datagrams over the second half of the flood
    failures: list[str] = field(default_factory=list)


def _look(lab: Lab, report: LabReport, when: str, tcp_may_fail: bool = False) -> None:
    report.rss_kib.append(lab.rss_kib())
    report.files_peak = max(report.files_peak, lab.open_files())
    report.log_bytes = lab.log_bytes()
    if not lab.alive():
        report.failures.append(f"{when}: the lab's process is gone")
        return
    answered = lab.answers(timeout=1.0)
    if answered is not None and not (tcp_may_fail and "udp" not in answered):
        report.failures.append(f"{when}: {answered}")
    greeted = None if tcp_may_fail else lab.smtp_greets()
    if greeted is not None:
        report.failures.append(f"{when}: {greeted}")


def _judge_growth(report: LabReport) -> None:
    """No plateau: the second half of the datagram flood still grew the lab's memory."""
    chunks = report.rss_kib[1:1 + report.sent["datagrams"] // CHUNK]  # one look after each chunk
    if len(chunks) < 4:
        return
    half = chunks[len(chunks) // 2:]
    per = (half[-1] - half[0]) / ((len(half) - 1) * CHUNK) * PLATEAU_DATAGRAMS
    report.growth_kib = int(per)
    if per > PLATEAU_KIB:
        report.failures.append(f"memory grew {per / 1024:.1f} MiB per {PLATEAU_DATAGRAMS} datagrams over the second "
                               f"half of the flood (no plateau; allowed {PLATEAU_KIB // 1024} MiB)")


def run_lab(args: argparse.Namespace, out: Path, stop_at: float, report: LabReport) -> None:
    """Fills `report` as it goes, so that an interrupted run still shows what the lab did."""
    if not (args.datagrams or args.streams or args.idle):
        return
    chooser = RandomChooser(random.Random(args.seed + 1))
    lab = start_lab("wa-students-2017", out / "lab", random.Random())
    try:
        _look(lab, report, "before the flood")
        for start in range(0, args.datagrams, CHUNK):
            if time.monotonic() > stop_at:
                break
            tally = flood_datagrams(lab, chooser, min(CHUNK, args.datagrams - start), stop_at)
            report.sent["datagrams"] += tally.sent
            _look(lab, report, f"after {report.sent['datagrams']} datagrams")
        if args.streams:
            tally = flood_streams(lab, chooser, args.streams, stop_at)
            report.sent["streams"] += tally.connections
            _look(lab, report, f"after {tally.connections} streams")
        if args.idle:
            held, tally = hold_idle(lab, args.idle, stop_at)
            report.sent["idle connections"] += tally.connections
            try:
                time.sleep(2)
                _look(lab, report, f"while {tally.connections} connections are idle", tcp_may_fail=True)
            finally:
                for conn in held:
                    conn.close()
            time.sleep(1)
            _look(lab, report, "after the idle connections closed")
    finally:
        report.peak_kib = lab.peak_kib()
        report.log_bytes = lab.log_bytes()
        report.log_lines = lab.log_lines()
        lab.stop()
        _judge_growth(report)
        if report.log_bytes > LOG_LIMIT:
            report.failures.append(f"serve.log grew to {report.log_bytes} bytes (more than {LOG_LIMIT})")


def _mib(kib: int) -> str:
    return f"{kib / 1024:.0f} MiB"


def print_report(tally: Tally, worker_peak: int, lab: LabReport, elapsed: float, out: Path) -> None:
    print("inputs            tried      ran    clean  traceback  bad-error   leak   hang  crash  wrong")
    for kind in KINDS:
        got = tally.statuses[kind]
        print(f"  {kind:<14} {tally.tried[kind]:>7} {got['ran']:>8} {got['clean']:>8} {got['traceback']:>10}"
              f" {got['bad-error']:>10} {got['leak']:>6} {got['hang']:>6} {got['crash']:>6} {got['wrong']:>6}")
    total = sum(tally.tried.values())
    findings = sum(tally.counts.values())
    print(f"  all            {total:>7}   findings {findings} (tracebacks "
          f"{sum(s['traceback'] for s in tally.statuses.values())}, hangs "
          f"{sum(s['hang'] for s in tally.statuses.values())})")
    if tally.counts:
        print("\nfindings by symptom (count, kind, status: symptom; first inputs [saved as]):")
        for (kind, status, symptom), count in tally.counts.most_common():
            print(f"  {count:>6}  {kind} {status}: {symptom}")
            for example in tally.symptoms[(kind, status, symptom)]:
                print(f"            - {example}")
    print(f"\npeak memory of the worker (VmHWM): {_mib(worker_peak)}")
    for grown, described in tally.memory_jumps:
        print(f"  +{_mib(grown)} on {described}")
    print("slowest inputs: " + "; ".join(f"{seconds:.1f} s {text[:100]}" for seconds, text in tally.slowest[:3]))
    if lab.sent:
        print(f"\nlab: sent {', '.join(f'{n} {what}' for what, n in lab.sent.items())}")
        print(f"  resident memory over the flood: {' '.join(str(k // 1024) for k in lab.rss_kib)} MiB; "
              f"peak (VmHWM) {_mib(lab.peak_kib)}; growth over the second half "
              f"{'-' if lab.growth_kib is None else _mib(lab.growth_kib)} per {PLATEAU_DATAGRAMS} datagrams; "
              f"open files peak {lab.files_peak}; serve.log {lab.log_bytes} bytes")
        for line in lab.log_lines:
            print(f"  serve.log: {line}")
        print("  kept answering: " + ("yes" if not lab.failures else "NO"))
        for failure in lab.failures[:10]:
            print(f"    - {failure}")
    print(f"\nelapsed {elapsed:.0f} s; findings saved in {out}")


def replay(path: Path, bound: float, memory: int) -> int:
    saved: dict[str, Any] = json.loads(path.read_text())
    with Worker(memory=memory << 20) as worker:
        verdict = worker.run(saved["job"], bound)
    print(f"{saved['input']}\n  then: {saved['verdict']['status']}: {saved['verdict']['symptom']}")
    print(f"  now:  {verdict.status}: {verdict.symptom} {verdict.detail}")
    return 0 if verdict.passed else 1


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", type=int, default=300, help="mutated scenarios to load and trace")
    parser.add_argument("--recipients", type=int, default=200, help="odd recipients for trace -r")
    parser.add_argument("--checks", type=int, default=100, help="odd domains, options and root hints for check")
    parser.add_argument("--hostile-dns", type=int, default=20, help="checks of a hostile DNS world (a few s each)")
    parser.add_argument("--hostile-smtp", type=int, default=50, help="probes of a hostile SMTP host")
    parser.add_argument("--datagrams", type=int, default=20_000, help="garbage datagrams at the lab's DNS")
    parser.add_argument("--streams", type=int, default=300, help="garbage TCP streams at the lab's DNS and SMTP")
    parser.add_argument("--idle", type=int, default=1100, help="idle connections held at the lab at once")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-bound", type=float, default=10.0, help="seconds one input may take")
    parser.add_argument("--memory", type=int, default=1024, help="MiB of address space for the worker")
    parser.add_argument("--max-seconds", type=float, default=6 * 3600, help="bound on the whole run")
    parser.add_argument("--out", type=Path, default=None, help="folder for findings (default: a new temp folder)")
    parser.add_argument("--replay", type=Path, default=None, help="run one saved finding again")
    args = parser.parse_args()
    if args.replay is not None:
        return replay(args.replay, args.time_bound, args.memory)
    out = args.out or Path(tempfile.mkdtemp(prefix=f"mxsim-campaign-{args.seed}-"))
    out.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # also when started in the background, where SIGINT is ignored
    started = time.monotonic()
    stop_at = started + args.max_seconds
    tally = Tally()
    lab = LabReport()
    interrupted = False
    worker = Worker(memory=args.memory << 20)
    try:
        try:
            run_inputs(args, tally, out, stop_at, worker)
        finally:
            worker.close()
        run_lab(args, out, stop_at, lab)
    except KeyboardInterrupt:
        interrupted = True
        print("interrupted: the figures below are what ran", file=sys.stderr)
    print_report(tally, worker.peak_kib, lab, time.monotonic() - started, out)
    findings = sum(tally.counts.values()) + len(lab.failures)
    return 130 if interrupted else (1 if findings else 0)


if __name__ == "__main__":
    sys.exit(main())
