"""Replay speed and memory: the 2017 scenario, N messages x all five profiles, on one core.

    python benchmarks/replay_bench.py            # N = 2000 and 10000
    python benchmarks/replay_bench.py 10000      # one size

Prints wall time, messages/second (message lifetimes: every retry included) and the
peak resident memory of a fresh process per size, so sizes do not share a heap.
Messages arrive at a constant rate (one every 8.64 s: 10,000 a day), so the queue
holds as many messages at once at every size and memory shows what grows with N.
Target: 10,000 messages x 5 profiles under 10 s, memory flat in N.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

SPACING = 8.64  # seconds between arrivals: 10,000 messages a day


def one(messages: int) -> dict[str, float]:
    from mxsim.commands.replay import ReplayConfig, run_replay
    from mxsim.scenario import load_scenario

    spec = load_scenario("wa-students-2017")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    result = run_replay(ReplayConfig(specs=(spec,), messages=messages, arrival=messages * SPACING, seed=1))
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    attempts = sum(m.attempts for m in result.scenarios[0].results)
    lifetimes = messages * len(result.scenarios[0].results)
    return {"messages": messages, "profiles": len(result.scenarios[0].results), "wall_s": wall,
            "lifetimes_per_s": lifetimes / wall, "attempts": attempts, "attempts_per_s": attempts / wall,
            "peak_rss_mib": peak / 1024, "rss_before_mib": before / 1024}


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        print(json.dumps(one(int(sys.argv[2]))))
        return
    sizes = [int(a) for a in sys.argv[1:]] or [2000, 10000]
    print(f"arrivals every {SPACING} s; 2017 scenario; all five profiles; one process per size")
    print(f"{'messages':>8} {'profiles':>8} {'wall s':>8} {'msg/s':>9} {'attempts':>9} {'att/s':>8} {'peak MiB':>9}")
    for size in sizes:
        out = subprocess.run([sys.executable, __file__, "--child", str(size)], capture_output=True, text=True,
                             check=True, timeout=3600)
        r = json.loads(out.stdout)
        print(f"{int(r['messages']):>8} {int(r['profiles']):>8} {r['wall_s']:>8.1f} {r['lifetimes_per_s']:>9.0f} "
              f"{int(r['attempts']):>9} {r['attempts_per_s']:>8.0f} {r['peak_rss_mib']:>9.1f}")


if __name__ == "__main__":
    main()
