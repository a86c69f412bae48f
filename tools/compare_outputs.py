"""Capture what `mxsim trace` and `mxsim replay` print, and compare two captures byte for byte.

A refactoring that must not change behaviour is checked in three steps:

    python3 tools/compare_outputs.py capture /tmp/before     # on the unchanged code
    ... change the code ...
    python3 tools/compare_outputs.py capture /tmp/after
    python3 tools/compare_outputs.py compare /tmp/before /tmp/after

`capture` runs the command line in this process (about two minutes), over every bundled
scenario x every MTA profile:

- `trace` in every format (text, verbose text, json), unpinned and with each case the
  scenario defines pinned; in json with a second seed; and in json once per parameter
  variant below, which reaches the branches the profiles' defaults leave alone (other
  address families, a 5xx greeting that bounces, Exim without TCP Fast Open, Sendmail
  without canonicalisation ...);
- `replay` in every format (text, json, markdown, junit) with a few messages and a fixed
  seed, over the first hours of the queue; and in json with fewer messages, each to the
  end of its life (a Sendmail message deferred for five days is 720 queue runs).

Each run leaves one file holding its exit code, its standard output and its standard
error. `compare` lists the files only one side has and a diff of each file that differs,
and exits 1 if there is any difference (0 when there is none).

The script imports `mxsim` from the checkout it lives in, not from wherever the package
is installed.
"""

from __future__ import annotations

import argparse
import difflib
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TRACE_FORMATS = {"text": ("-f", "text"), "verbose": ("-f", "text", "-v"), "json": ("-f", "json")}
REPLAY_FORMATS = ("text", "json", "markdown", "junit")
TRACE_SEEDS = (0, 7)  # every format with the first, json with the others
REPLAY_SEED = 3
REPLAY_MESSAGES = 30
REPLAY_HORIZON = "6h"  # the first hours: every retry schedule has run a few times
LIFETIME_MESSAGES = 4  # to the end of each message's life: expiry, bounce texts, warnings
# Parameters, per profile, whose other values take the profile down another path.
VARIANTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "postfix": (
        ("smtp_skip_5xx_greeting=no",),
        ("smtp_cname_overrides_servername=yes",),
        ("inet_protocols=ipv4",),
        ("smtp_address_preference=ipv6", "smtp_randomize_addresses=no"),
        ("ignore_mx_lookup_error=yes", "smtp_mx_address_limit=1"),
    ),
    "exim": (
        ("hosts_try_fastopen=:",),
        ("allow_mx_to_ip=yes", "dns_cname_loops=2"),
        ("disable_ipv6=yes",),
        ("ipv4_prefer=yes", "hosts_max_try=1"),
    ),
    "opensmtpd": (
        ("mta_family=inet4",),
        ("mta_family=inet6",),
        ("ipv6_configured=no",),
    ),
    "sendmail": (
        ("nocanonify=yes",),
        ("DontExpandCnames=yes",),
        ("Timeout.iconnect=0", "Timeout.connect=10s"),
    ),
    "rfc5321": (
        ("address_limit=1",),
        ("inet_protocols=ipv6",),
    ),
}


@dataclass(frozen=True, slots=True)
class Run:
    """One command line and the file its result goes to."""

    file: str
    args: tuple[str, ...]


def _variant_label(options: tuple[str, ...]) -> str:
    return "+".join(option.replace("=", "-").replace(":", "colon") for option in options)


def runs() -> Iterator[Run]:
    sys.path.insert(0, str(ROOT))
    from mxsim.mta import PROFILE_NAMES
    from mxsim.scenario import bundled_scenarios, load_scenario

    for scenario in bundled_scenarios():
        spec = load_scenario(scenario)
        pins = (None, *(case.name for case in spec.cases))
        for mta in PROFILE_NAMES:
            for pin in pins:
                pinned = ("--pin", pin) if pin else ()
                where = f"trace/{scenario}/{mta}/{pin or 'unpinned'}"
                for seed in TRACE_SEEDS:
                    formats = TRACE_FORMATS if seed == TRACE_SEEDS[0] else {"json": TRACE_FORMATS["json"]}
                    for label, fmt in formats.items():
                        yield Run(f"{where}/default-seed{seed}.{label}",
                                  ("trace", scenario, "-m", mta, "--seed", str(seed), *pinned, *fmt))
                for options in VARIANTS[mta]:
                    settings = tuple(arg for option in options for arg in ("-o", f"{mta}:{option}"))
                    yield Run(f"{where}/{_variant_label(options)}.json",
                              ("trace", scenario, "-m", mta, "--seed", str(TRACE_SEEDS[0]), *pinned,
                               *settings, *TRACE_FORMATS["json"]))
            replay = ("replay", scenario, "-m", mta, "--seed", str(REPLAY_SEED), "--no-progress")
            for form in REPLAY_FORMATS:
                yield Run(f"replay/{scenario}/{mta}-{REPLAY_HORIZON}.{form}",
                          (*replay, "-n", str(REPLAY_MESSAGES), "--horizon", REPLAY_HORIZON, "-f", form))
            yield Run(f"replay/{scenario}/{mta}-lifetime.json", (*replay, "-n", str(LIFETIME_MESSAGES), "-f", "json"))


def capture(folder: Path) -> int:
    if folder.exists() and any(folder.iterdir()):
        print(f"{folder}: not empty; capture into a new folder", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT))
    from typer.testing import CliRunner

    import mxsim
    from mxsim.cli import app

    print(f"mxsim from {Path(mxsim.__file__).parent}", file=sys.stderr)
    runner = CliRunner()
    started = time.monotonic()
    count = 0
    for run in runs():
        result = runner.invoke(app, list(run.args))
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            print(f"{run.file}: {' '.join(run.args)} raised {result.exception!r}", file=sys.stderr)
        path = folder / run.file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"$ mxsim {' '.join(run.args)}\nexit {result.exit_code}\n"
                        f"--- stdout\n{result.stdout}--- stderr\n{result.stderr}")
        count += 1
    print(f"{count} runs in {time.monotonic() - started:.0f} s into {folder}", file=sys.stderr)
    return 0


def compare(before: Path, after: Path, shown: int) -> int:
    old = {p.relative_to(before) for p in before.rglob("*") if p.is_file()}
    new = {p.relative_to(after) for p in after.rglob("*") if p.is_file()}
    differing = 0
    for missing in sorted(old - new):
        print(f"only in {before}: {missing}")
    for extra in sorted(new - old):
        print(f"only in {after}: {extra}")
    for common in sorted(old & new):
        a, b = (before / common).read_bytes(), (after / common).read_bytes()
        if a == b:
            continue
        differing += 1
        print(f"differs: {common}")
        if differing <= shown:
            diff = difflib.unified_diff(a.decode(errors="replace").splitlines(),
                                        b.decode(errors="replace").splitlines(),
                                        str(before / common), str(after / common), lineterm="", n=1)
            for line in list(diff)[:40]:
                print(f"    {line}")
    total = len(old | new)
    problems = differing + len(old ^ new)
    print(f"{total} files: {differing} differ, {len(old - new)} only before, {len(new - old)} only after")
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    modes = parser.add_subparsers(dest="mode", required=True)
    take = modes.add_parser("capture", help="run every case and write the outputs into FOLDER")
    take.add_argument("folder", type=Path)
    check = modes.add_parser("compare", help="compare two captures byte for byte; exit 1 on any difference")
    check.add_argument("before", type=Path)
    check.add_argument("after", type=Path)
    check.add_argument("--diffs", type=int, default=10, help="show the diff of at most this many files")
    args = parser.parse_args()
    if args.mode == "capture":
        return capture(args.folder)
    return compare(args.before, args.after, args.diffs)


if __name__ == "__main__":
    sys.exit(main())
