"""Replay speed and memory: the 2017 scenario (or another: --scenario), N messages x all five profiles, on one core.

    python benchmarks/replay_bench.py                 # 1,000 and 10,000 messages, the extra rows
    python benchmarks/replay_bench.py 10000           # one size (and the extra rows at that size)
    python benchmarks/replay_bench.py --repeat 3 1000 10000 100000
    python benchmarks/replay_bench.py --extra-size 1000 1000 10000   # the extra rows at 1,000
    python benchmarks/replay_bench.py --against /tmp/old 1000        # each row also under another checkout
    python benchmarks/replay_bench.py --compiled 10000      # each row also under the compiled build
    python benchmarks/replay_bench.py --scenario equal-preference-three 2000   # another bundled scenario
    python benchmarks/replay_bench.py --seeds 8 10000   # also seeds 1 to 8 at 10,000: mean and slowest

Prints wall time, lifetimes/second (one message under one profile to the end of its life,
every retry included) and the peak resident memory of a fresh process per row, so rows
do not share a heap. With --repeat, each row runs that many times and the median is shown.
Messages arrive at a constant rate (one every 8.64 s: 10,000 a day), so the queue holds
as many messages at once at every size and memory shows what grows with N.

Beside the plain rows: the same scenario with the resolver's cache off
(`resolver: {cache: false}`), and with 1,000 senders (`--resolvers 1000`), each with its
own cache; and, as the ceiling of in-memory DNS work in Python on this machine,
dnspython parsing a query and making its response (`from_wire` + `make_response` +
`to_wire`) per second, measured in the same run.
Target: 10,000 messages x 5 profiles in 2 s (25,000 lifetimes/s), memory flat in N.
`MXSIM_NO_MEMO=1` measures replay without its shortcuts. `--against DIR` runs each row
right after under the mxsim of another checkout (say, `git archive` of an older commit
unpacked in DIR), so both are measured in the same minutes of a shared machine.
`--compiled` builds this checkout as `MXSIM_COMPILE=1 pip install .` does (mypyc, about
two minutes; tools/compiled_build.py) and runs each row under it too.
The rows use seed 1. How much work a seed makes varies: the messages share a resolver,
so one cached broken answer sends many of them to the retry queue at once (at 10,000 x 5,
from 90,000 to 126,000 attempts over seeds 1 to 8). `--seeds N` runs the largest size up
to 10,000 once with each of seeds 1 to N and prints the mean and the slowest.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

SPACING = 8.64  # seconds between arrivals: 10,000 messages a day
ROOT = Path(__file__).resolve().parent.parent  # this checkout's mxsim, not an installed one
SCENARIO = "wa-students-2017"


def one(messages: int, variant: str, root: Path = ROOT, scenario: str = SCENARIO) -> dict[str, float | str]:
    sys.path.insert(0, str(root))
    from mxsim.commands.replay import ReplayConfig, run_replay
    from mxsim.scenario import load_scenario

    spec = load_scenario(scenario)
    resolvers = 1
    seed = 1
    if variant.startswith("seed "):
        seed = int(variant.removeprefix("seed "))
    elif variant == "no cache":
        spec = replace(spec, resolver=replace(spec.resolver, cache=False))
    elif variant == "1000 resolvers":
        resolvers = 1000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    result = run_replay(ReplayConfig(specs=(spec,), messages=messages, arrival=messages * SPACING, seed=seed,
                                     resolvers=resolvers))
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    attempts = sum(m.attempts for m in result.scenarios[0].results)
    lifetimes = messages * len(result.scenarios[0].results)
    return {"variant": variant, "messages": messages, "profiles": len(result.scenarios[0].results),
            "wall_s": wall, "lifetimes_per_s": lifetimes / wall, "attempts": attempts,
            "attempts_per_s": attempts / wall, "peak_rss_mib": peak / 1024, "rss_before_mib": before / 1024}


def dnspython_ceiling(seconds: float = 2.0) -> float:
    """Queries parsed and answered per second by dnspython, in memory: the peer figure."""
    import dns.message
    import dns.rrset

    wire = dns.message.make_query("example.org.", "MX").to_wire()
    answer = dns.rrset.from_text("example.org.", 300, "IN", "MX", "10 mx.example.org.")
    done = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(200):
            query = dns.message.from_wire(wire)
            response = dns.message.make_response(query)
            response.answer.append(answer)
            response.to_wire()
        done += 200
    return done / (time.perf_counter() - started)


def child(messages: int, variant: str, root: Path = ROOT, scenario: str = SCENARIO) -> dict[str, float | str]:
    out = subprocess.run([sys.executable, __file__, "--child", str(messages), variant, str(root), scenario],
                         capture_output=True, text=True, check=True, timeout=3600)
    row: dict[str, float | str] = json.loads(out.stdout)
    return row


def _label(tree: Path, compiled: bool) -> str:
    if not compiled:
        return str(tree)
    return "plain Python" if tree == ROOT else "compiled (mypyc)"


def median_row(rows: list[dict[str, float | str]]) -> dict[str, float | str]:
    """The run of median wall time (its other figures with it)."""
    ordered = sorted(rows, key=lambda r: float(r["wall_s"]))
    return ordered[len(ordered) // 2]


def main() -> None:
    if len(sys.argv) > 5 and sys.argv[1] == "--child":
        print(json.dumps(one(int(sys.argv[2]), sys.argv[3], Path(sys.argv[4]), sys.argv[5])))
        return
    args = sys.argv[1:]
    if args[:1] in (["--help"], ["-h"]):
        print(__doc__)
        return
    repeat = 1
    extra_size: int | None = None
    against: Path | None = None
    scenario = SCENARIO
    seeds = 0
    compiled = tempfile.TemporaryDirectory(prefix="mxsim-compiled-") if "--compiled" in args else None
    args = [arg for arg in args if arg != "--compiled"]
    while args[:1] in (["--repeat"], ["--extra-size"], ["--against"], ["--scenario"], ["--seeds"]):
        if args[0] == "--repeat":
            repeat = int(args[1])
        elif args[0] == "--seeds":
            seeds = int(args[1])
        elif args[0] == "--scenario":
            scenario = args[1]
        elif args[0] == "--against":
            against = Path(args[1]).resolve()
        else:
            extra_size = int(args[1])
        args = args[2:]
    if compiled is not None:
        sys.path.insert(0, str(ROOT))
        from tools.compiled_build import build_compiled

        print("building the compiled build (mypyc)...", flush=True)
        against = build_compiled(Path(compiled.name))
    sizes = [int(a) for a in args] or [1000, 10000]
    # The extra rows at the largest size up to 10,000, unless told: they are the slow ones.
    extra = extra_size if extra_size is not None else min(sizes[-1], 10000)
    rows = [(size, "plain") for size in sizes] + [(extra, "no cache"), (extra, "1000 resolvers")]
    print(f"arrivals every {SPACING} s; scenario {scenario}; all five profiles; one process per row; "
          f"median of {repeat}")
    print(f"{'variant':>15} {'messages':>8} {'wall s':>7} {'lifetimes/s':>11} {'attempts':>9} {'att/s':>8} "
          f"{'peak MiB':>9}{'  checkout' if against else ''}")
    trees = [ROOT] if against is None else [ROOT, against]
    for size, variant in rows:
        for tree in trees:
            r = median_row([child(size, variant, tree, scenario) for _ in range(repeat)])
            print(f"{variant:>15} {int(r['messages']):>8} {float(r['wall_s']):>7.2f} "
                  f"{float(r['lifetimes_per_s']):>11.0f} {int(r['attempts']):>9} {float(r['attempts_per_s']):>8.0f} "
                  f"{float(r['peak_rss_mib']):>9.1f}{'  ' + _label(tree, compiled is not None) if against else ''}",
                  flush=True)
    if seeds:
        size = min(sizes[-1], 10000)
        for tree in trees:
            runs = [child(size, f"seed {seed}", tree, scenario) for seed in range(1, seeds + 1)]
            walls = [float(r["wall_s"]) for r in runs]
            slowest = max(runs, key=lambda r: float(r["wall_s"]))
            lifetimes = sum(int(r["messages"]) * int(r["profiles"]) for r in runs)
            print(f"seeds 1-{seeds} at {size:,}: mean {statistics.mean(walls):.2f} s "
                  f"({lifetimes / sum(walls):,.0f} lifetimes/s), slowest {max(walls):.2f} s "
                  f"({slowest['variant']}, {int(slowest['attempts']):,} attempts), "
                  f"attempts {min(int(r['attempts']) for r in runs):,} to {max(int(r['attempts']) for r in runs):,}"
                  f"{'  ' + _label(tree, compiled is not None) if against else ''}", flush=True)
    ceilings = [dnspython_ceiling() for _ in range(repeat)]
    print(f"dnspython from_wire + make_response + to_wire: {statistics.median(ceilings):,.0f}/s "
          "(in memory, same run)")


if __name__ == "__main__":
    main()
