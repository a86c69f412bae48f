"""`mxsim check --domains` over a registrar farm of N zones, beside `dnsviz probe` on the same list.

    python benchmarks/batch_bench.py [--zones 1000] [--samples 8] [--smtp-timeout 0.25s]

The lab serves `scenarios/make_registrar.py N` (two name-server addresses, four backends
with NSIDs, one answering the apex of 3 % of the zones with a CNAME to a web host) inside
a network namespace with the scenario's real addresses, so no tool can reach the internet.
Printed for each tool: wall time, domains a second, peak memory (the tool's resident set),
and for mxsim the recall and precision of the broken zones (a zone is reported broken when
a finding of level error names it). dnsviz probes the same list (`-A -t 16 -f FILE`, from the
lab's root); it reports raw answers, not a verdict, so only its speed is compared. Needs
root and iproute2; a missing dnsviz is reported, and mxsim still runs.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mxsim.lab.runner import lab_down, lab_up  # noqa: E402

NETNS = f"mxsim-batchbench-{os.getpid()}"
# Runs a command and prints its peak resident set (KiB) last on stderr.
PEAK = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode;"
        " print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)")


def timed(command: list[str], prefix: list[str], env: dict[str, str]) -> tuple[float, int, int, str]:
    started = time.monotonic()
    done = subprocess.run([*prefix, sys.executable, "-c", PEAK, *command], capture_output=True, text=True, env=env,
                          timeout=3600)
    wall = time.monotonic() - started
    lines = done.stderr.strip().splitlines()
    return wall, done.returncode, int(lines[-1]) if lines and lines[-1].isdigit() else -1, "\n".join(lines[-3:-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zones", type=int, default=1000)
    parser.add_argument("--samples", default="8")
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
        lab_up(str(scenario), state, netns_name=NETNS, seed=1)
        prefix = ["ip", "netns", "exec", NETNS]
        try:
            results = work / "results.jsonl"
            mxsim = [sys.executable, "-c", "from mxsim.cli import main; main()", "check", "--domains", str(domains),
                     "--lab", str(state), "-f", "jsonl", "--output", str(results), "--no-progress",
                     "--samples", args.samples, "--smtp-timeout", args.smtp_timeout]
            wall, code, peak, _ = timed(mxsim, prefix, env)
            lines = [json.loads(line) for line in results.read_text(encoding="utf-8").splitlines()]
            found = {line["domain"] for line in lines if any(f["level"] == "ERROR" for f in line["findings"])}
            truth = set(broken.read_text(encoding="utf-8").split())
            hit = len(found & truth)
            print(f"zones: {args.zones}, broken: {len(truth)}, samples: {args.samples}")
            print(f"mxsim check --domains: {wall:.1f}s, {len(lines) / wall:.1f} domains/s, exit {code}, "
                  f"peak {peak / 1024:.0f} MiB, recall {hit / len(truth):.1%}, "
                  f"precision {hit / len(found) if found else 0:.1%} ({len(lines)} lines)")
            workers_row(mxsim, results, broken, prefix, env)
            dnsviz = shutil.which("dnsviz")
            if dnsviz is None:
                print("dnsviz: not run (apt-get install dnsviz)")
            else:
                command = [dnsviz, "probe", "-A", "-t", "16", "-x", ".:a.root-servers.net=198.41.0.4",
                           "-f", str(domains)]
                wall, code, peak, tail = timed(command, prefix, env)
                print(f"dnsviz probe -A -t 16: {wall:.1f}s, {args.zones / wall:.1f} domains/s, exit {code}, "
                      f"peak {peak / 1024:.0f} MiB{'; ' + tail if code else ''}")
        finally:
            lab_down(state)
    return 0


def workers_row(single: list[str], results: Path, broken: Path, prefix: list[str], env: dict[str, str]) -> None:
    """The same check on a local Dask cluster of two processes (`--workers 2`), scored the same way.

    The peak is the largest process's (the client or a worker), not their sum.
    """
    results.unlink()
    wall, code, peak, tail = timed([*single, "--workers", "2"], prefix, env)
    lines = [json.loads(line) for line in results.read_text(encoding="utf-8").splitlines()]
    found = {line["domain"] for line in lines if any(f["level"] == "ERROR" for f in line["findings"])}
    truth = set(broken.read_text(encoding="utf-8").split())
    hit = len(found & truth)
    print(f"mxsim check --domains --workers 2: {wall:.1f}s, {len(lines) / wall:.1f} domains/s, exit {code}, "
          f"peak {peak / 1024:.0f} MiB (largest process), recall {hit / len(truth):.1%}, "
          f"precision {hit / len(found) if found else 0:.1%} ({len(lines)} lines, "
          f"{len({line['domain'] for line in lines})} domains){'; ' + tail if code > 2 else ''}")


if __name__ == "__main__":
    sys.exit(main())
