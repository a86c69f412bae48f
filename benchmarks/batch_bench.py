"""`mxsim check --domains` over a registrar farm of N zones, beside `dnsviz probe` on the same list.

    python benchmarks/batch_bench.py [--zones 1000] [--samples auto] [--smtp-timeout 0.25s]

The lab serves `scenarios/make_registrar.py N` (two name-server addresses, four backends
with NSIDs, one answering the apex of 3 % of the zones with a CNAME to a web host) inside
a network namespace with the scenario's real addresses, so no tool can reach the internet.
Printed for each tool: wall time, domains a second, CPU seconds (user and system: steadier
than wall time on a shared machine), peak memory (the tool's resident set), and for mxsim
the recall and precision of the broken zones (a zone is reported broken when a finding of
level error names it). Each mxsim row of `MXSIM_ROWS` runs the same list; the first fifth
of the list runs once more alone, to show the peak memory flat in the number of domains. dnsviz probes
the same list (`-A -t 16 -f FILE`, from the lab's root); it reports raw answers, not a
verdict, so only its speed is compared. Needs root and iproute2; a missing dnsviz is
reported, and mxsim still runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mxsim.lab.runner import lab_down, lab_up  # noqa: E402

NETNS = f"mxsim-batchbench-{os.getpid()}"
LAB_UP_TIMEOUT = 180.0  # seconds: a farm of 1,000 zones loads slowly on a busy machine
# Runs a command and prints its peak resident set (KiB) and CPU seconds (its children's too) last on stderr.
PEAK = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode;"
        " use = resource.getrusage(resource.RUSAGE_CHILDREN);"
        " print(use.ru_maxrss, f'{use.ru_utime + use.ru_stime:.1f}', file=sys.stderr); sys.exit(code)")
# mxsim's rows: a label and the options that make it. Further rows (a run on several
# worker processes) are added here and printed the same way.
MXSIM_ROWS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("one process", ()),
    # A local Dask cluster of two processes; its peak is the largest process's, not their sum.
    ("--workers 2", ("--workers", "2")),
)


@dataclass(frozen=True)
class Timed:
    wall: float
    code: int
    peak_kib: int
    cpu: float
    tail: str


def timed(command: list[str], prefix: list[str], env: dict[str, str]) -> Timed:
    started = time.monotonic()
    done = subprocess.run([*prefix, sys.executable, "-c", PEAK, *command], capture_output=True, text=True, env=env,
                          timeout=3600)
    wall = time.monotonic() - started
    lines = done.stderr.strip().splitlines()
    last = lines[-1].split() if lines else []
    ok = len(last) == 2 and last[0].isdigit()
    return Timed(wall, done.returncode, int(last[0]) if ok else -1, float(last[1]) if ok else -1.0,
                 "\n".join(lines[-3:-1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zones", type=int, default=1000)
    parser.add_argument("--samples", default="auto")
    parser.add_argument("--smtp-timeout", default="0.25s")
    args = parser.parse_args()
    if os.geteuid() != 0 or shutil.which("ip") is None:
        print("needs root and iproute2 (the lab's network namespace)", file=sys.stderr)
        return 3
    with tempfile.TemporaryDirectory(prefix="mxsim-batch-bench-") as folder:
        work = Path(folder)
        scenario, domains, broken = work / "registrar.yaml", work / "domains.txt", work / "broken.txt"
        with scenario.open("w", encoding="utf-8") as file:
            subprocess.run([sys.executable, str(ROOT / "scenarios" / "make_registrar.py"), str(args.zones),
                            "--domains", str(domains), "--broken", str(broken)], stdout=file, check=True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
        state = work / "lab"
        lab_up(str(scenario), state, netns_name=NETNS, seed=1, timeout=LAB_UP_TIMEOUT)
        prefix = ["ip", "netns", "exec", NETNS]
        try:
            truth = set(broken.read_text(encoding="utf-8").split())
            print(f"zones: {args.zones}, broken: {len(truth)}, samples: {args.samples}")
            # Memory flat in the number of domains: the first fifth of the list, then the whole of it.
            fifth = work / "fifth.txt"
            names = domains.read_text(encoding="utf-8").split()
            fifth.write_text("".join(f"{n}\n" for n in names[: max(1, len(names) // 5)]), encoding="utf-8")
            check = [sys.executable, "-c", "from mxsim.cli import main; main()", "check", "--lab", str(state),
                     "-f", "jsonl", "--no-progress", "--samples", args.samples, "--smtp-timeout", args.smtp_timeout]
            small = timed([*check, "--domains", str(fifth), "--output", str(work / "fifth.jsonl")], prefix, env)
            print(f"mxsim check --domains, one process, first {len(names) // 5} zones: {small.wall:.1f}s, "
                  f"peak {small.peak_kib / 1024:.0f} MiB")
            for label, options in MXSIM_ROWS:
                results = work / f"results-{len(options)}.jsonl"
                run = timed([*check, "--domains", str(domains), "--output", str(results), *options], prefix, env)
                lines = [json.loads(line) for line in results.read_text(encoding="utf-8").splitlines()]
                found = {line["domain"] for line in lines if any(f["level"] == "ERROR" for f in line["findings"])}
                hit = len(found & truth)
                queries = sum(line["queries"] for line in lines)
                print(f"mxsim check --domains, {label}: {run.wall:.1f}s, {len(lines) / run.wall:.1f} domains/s, "
                      f"CPU {run.cpu:.1f}s, exit {run.code}, peak {run.peak_kib / 1024:.0f} MiB, "
                      f"recall {hit / len(truth):.1%}, precision {hit / len(found) if found else 0:.1%} "
                      f"({len(lines)} lines, {queries / max(len(lines), 1):.0f} queries a domain)")
            dnsviz = shutil.which("dnsviz")
            if dnsviz is None:
                print("dnsviz: not run (apt-get install dnsviz)")
            else:
                command = [dnsviz, "probe", "-A", "-t", "16", "-x", ".:a.root-servers.net=198.41.0.4",
                           "-f", str(domains)]
                run = timed(command, prefix, env)
                print(f"dnsviz probe -A -t 16: {run.wall:.1f}s, {args.zones / run.wall:.1f} domains/s, "
                      f"CPU {run.cpu:.1f}s, exit {run.code}, peak {run.peak_kib / 1024:.0f} MiB"
                      f"{'; ' + run.tail if run.code else ''}")
        finally:
            lab_down(state)
    return 0


if __name__ == "__main__":
    sys.exit(main())
