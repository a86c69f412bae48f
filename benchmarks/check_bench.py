"""Wall time of `mxsim check` against the lab's 2017 world, beside zonemaster-cli and dnsviz.

    python benchmarks/check_bench.py [--runs 7] [--smtp-timeout 0.25s]

The lab serves wa-students-2017 (the Tucows farm with hover01 at weight 1/3) inside a
network namespace of its own with the scenario's real addresses (`lab up --netns`): the
namespace has only `lo`, so no tool can reach the internet whatever it tries, and every
tool is pointed at the lab's root (a.root-servers.net, 198.41.0.4 inside the namespace):
- mxsim: `mxsim check wa-students.org --lab STATE` (2 name servers x 20 samples x 6 types
  x 2 RD settings, TCP once, then the model paths and SMTP probes of every path address;
  the Fastly addresses drop SYNs, so each probe there waits --smtp-timeout), as it runs
  against a lab by default (no pacing: the lab's servers are the user's own), with the
  live default politeness (--rate 100: 100 queries a second per address), and with
  --no-smtp: the DNS audit and the paths alone, the same kind of work as the other two
  tools, which probe no mail host;
- zonemaster-cli --hints root.hints wa-students.org (Debian's package, default suite);
- dnsviz probe -A -x .:a.root-servers.net=198.41.0.4 wa-students.org (PyPI).
Fair start-up for all: each tool runs once untimed first (page cache warm), every Python
tool may write its bytecode cache (PYTHONDONTWRITEBYTECODE is lifted and caches go to a
temporary PYTHONPYCACHEPREFIX; pip installs dnsviz with its bytecode compiled, mxsim runs
from this tree), and each is started by its real path (not a pyenv shim). The runs are
interleaved, one of each tool per round, so a slow moment of the machine falls on all
alike. The median and the minimum of `--runs` rounds are printed, with whether the tool's
output names the broken backend (hover01) at all. A tool that is missing is reported with
the reason, and the rest still run. Needs root and iproute2 (the namespace); without them
only mxsim runs, against a loopback lab on unprivileged ports.

A host that drops SYNs can only be found out by waiting: with SMTP probes, mxsim's wall
time is at least --smtp-timeout, whatever the rest costs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mxsim.lab.runner import lab_down, lab_up  # noqa: E402

DOMAIN = "wa-students.org"
SCENARIO = "wa-students-2017"
TOOL_TIMEOUT = 300.0
NETNS = f"mxsim-chkbench-{os.getpid()}"


@dataclass
class Timing:
    tool: str
    times: list[float]
    codes: list[int]
    names_backend: bool
    note: str = ""

    def row(self) -> str:
        if not self.times:
            return f"{self.tool:<40} {'-':>8} {'-':>8}  not run: {self.note}"
        median, best = statistics.median(self.times), min(self.times)
        backend = "yes" if self.names_backend else "no"
        return (f"{self.tool:<40} {median:>7.2f}s {best:>7.2f}s  exit {sorted(set(self.codes))}, "
                f"names hover01: {backend}{'; ' + self.note if self.note else ''}")


@dataclass
class Tool:
    timing: Timing
    command: list[str]


def _once(tool: Tool, prefix: list[str], env: dict[str, str], timed: bool = True) -> None:
    timing = tool.timing
    started = time.monotonic()
    try:
        done = subprocess.run([*prefix, *tool.command], capture_output=True, text=True, timeout=TOOL_TIMEOUT,
                              env=env, check=False)
    except subprocess.TimeoutExpired:
        timing.note = f"timed out after {TOOL_TIMEOUT:.0f} s"
        return
    if not timed:
        return
    timing.times.append(time.monotonic() - started)
    timing.codes.append(done.returncode)
    timing.names_backend = timing.names_backend or "hover01" in (done.stdout + done.stderr)
    if done.returncode not in (0, 1) and timing.tool.startswith("mxsim"):
        timing.note = (done.stderr or done.stdout).strip().splitlines()[-1:][0] if (done.stderr or done.stdout) \
            else "no output"


def _rounds(tools: list[Tool], runs: int, prefix: list[str], env: dict[str, str]) -> None:
    """One untimed warm-up of each, then `runs` rounds of one run of each, interleaved."""
    for tool in tools:
        _once(tool, prefix, env, timed=False)
    for _ in range(runs):
        for tool in tools:
            _once(tool, prefix, env)


def _real(program: str) -> str | None:
    """A program's real path: pip puts scripts beside the interpreter; a pyenv shim is a shell script."""
    beside = Path(sys.executable).parent / program
    if beside.exists():
        return str(beside)
    return shutil.which(program)


def _missing(name: str, how: str) -> Timing:
    return Timing(name, [], [], False, f"`{name.split()[0]}` is not installed ({how})")


def _apt_candidate(package: str) -> str:
    try:
        out = subprocess.run(["apt-cache", "policy", package], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "apt-cache is not available"
    candidate = next((line.split(":", 1)[1].strip() for line in out.splitlines() if "Candidate:" in line), "none")
    return f"apt-get install {package}; apt candidate: {candidate}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    # On loopback a connect completes in microseconds or never: 0.25 s is thousands of round trips.
    parser.add_argument("--smtp-timeout", default="0.25s")
    args = parser.parse_args()
    namespace = os.geteuid() == 0 and shutil.which("ip") is not None
    with tempfile.TemporaryDirectory(prefix="mxsim-check-bench-") as folder:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(Path(folder) / "pycache")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
        mxsim = [sys.executable, "-c", "from mxsim.cli import main; main()", "check", DOMAIN, "--no-progress",
                 "--smtp-timeout", args.smtp_timeout, "-f", "json"]
        state = Path(folder) / "lab"
        if namespace:
            info = lab_up(SCENARIO, state, netns_name=NETNS, seed=1)
            prefix = ["ip", "netns", "exec", NETNS]
        else:
            info = lab_up(SCENARIO, state, dns_port=25353, smtp_port=25354, seed=1)
            prefix = []
        try:
            print(f"lab: {SCENARIO} {'in network namespace ' + NETNS if namespace else 'on loopback'}, "
                  f"DNS port {info.dns_port}; {args.runs} interleaved rounds; SMTP timeout {args.smtp_timeout}",
                  flush=True)
            tools = [
                Tool(Timing("mxsim check (lab default: no pacing)", [], [], False), [*mxsim, "--lab", str(state)]),
                Tool(Timing("mxsim check --rate 100 (live default)", [], [], False),
                     [*mxsim, "--lab", str(state), "--rate", "100"]),
                Tool(Timing("mxsim check --no-smtp", [], [], False), [*mxsim, "--lab", str(state), "--no-smtp"]),
            ]
            missing: list[Timing] = []
            if not namespace:
                reason = "needs root and iproute2: third-party tools run only inside the lab's namespace"
                missing += [Timing("zonemaster-cli", [], [], False, reason), Timing("dnsviz probe", [], [], False,
                                                                                    reason)]
            else:
                zonemaster = _real("zonemaster-cli")
                if zonemaster:
                    tools.append(Tool(Timing("zonemaster-cli --hints", [], [], False),
                                      [zonemaster, "--hints", str(info.root_hints), DOMAIN]))
                else:
                    missing.append(_missing("zonemaster-cli", _apt_candidate("zonemaster-cli")))
                dnsviz = _real("dnsviz")
                if dnsviz:
                    tools.append(Tool(Timing("dnsviz probe -A", [], [], False),
                                      [dnsviz, "probe", "-A", "-x", ".:a.root-servers.net=198.41.0.4", DOMAIN]))
                else:
                    missing.append(_missing("dnsviz probe", "pip install dnsviz"))
            _rounds(tools, args.runs, prefix, env)
        finally:
            lab_down(state)
    print(f"{'tool':<40} {'median':>8} {'min':>8}")
    for timing in [t.timing for t in tools] + missing:
        print(timing.row())
    return 0


if __name__ == "__main__":
    sys.exit(main())
