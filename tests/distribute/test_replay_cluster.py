"""`mxsim replay` fanned out over seeds and settings: the same bytes from one process, from
`--workers N` and from `--dask ADDRESS`, in every format, a worker killed or not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from referencing import Registry, Resource
from typer.testing import CliRunner

from mxsim.cli import app
from mxsim.commands.replay import ReplayConfig
from mxsim.commands.replay_fanout import Run, parse_seeds, parse_sweep, plan, run_config
from mxsim.errors import UsageError
from mxsim.scenario import load_scenario
from mxsim.schemas import schema
from tests.distribute.conftest import ROOT, Scheduler, kill_when_busy

runner = CliRunner()
GRID = ["wa-students-2017", "nxdomain", "-m", "postfix", "-m", "exim", "--seeds", "1..2",
        "--sweep", "smtp_mx_address_limit=2,5", "-n", "20", "--bucket", "15m", "--no-progress"]
RUN_WAIT = 180.0


def _replay(*args: str) -> str:
    done = runner.invoke(app, ["replay", *args])
    assert done.exit_code in (0, 1), done.output
    return done.stdout


def test_seeds_and_sweeps_are_read_or_refused_in_one_line() -> None:
    assert parse_seeds("3..5") == (3, 4, 5) and parse_seeds("7") == (7,)
    assert parse_sweep(["a=1,2", "exim:b=x"]) == (("a", ("1", "2")), ("exim:b", ("x",)))
    for bad in ("5..1", "1..x", ".."):
        with pytest.raises(UsageError, match="--seeds"):
            parse_seeds(bad)
    for sweep in (["novalue"], ["a=1,,2"], ["a=1", "a=2"]):
        with pytest.raises(UsageError, match="--sweep"):
            parse_sweep(sweep)
    done = runner.invoke(app, ["replay", "wa-students-2017", "--sweep", "no_such_parameter=1,2", "--no-progress"])
    assert done.exit_code == 3 and done.stderr.count("\n") == 1 and "no_such_parameter" in done.stderr


def test_a_run_alone_names_its_parameters_for_its_own_mta() -> None:
    spec = load_scenario("wa-students-2017")
    config = ReplayConfig(specs=(spec,), overrides={"smtp_mx_address_limit": "3"})
    chosen = plan(config, (1, 2), parse_sweep(["hosts_max_try=3,5"]))
    first = spec.mta[0]
    # Scenario, then MTA, then seed, then setting: the order of the merged report.
    assert chosen.runs[:3] == (Run(0, first, 1, (("hosts_max_try", "3"),)), Run(0, first, 1, (("hosts_max_try", "5"),)),
                               Run(0, first, 2, (("hosts_max_try", "3"),)))
    assert len(chosen.runs) == len(spec.mta) * 2 * 2
    postfix = run_config(chosen, next(r for r in chosen.runs if r.mta == "postfix"))
    assert postfix.mtas == ("postfix",) and postfix.overrides == {"postfix:smtp_mx_address_limit": "3"}
    exim = run_config(chosen, next(r for r in chosen.runs if r.mta == "exim" and r.seed == 2))
    assert exim.seed == 2 and exim.overrides == {"exim:hosts_max_try": "3"}


@pytest.mark.lab
def test_the_cluster_writes_the_single_process_report_in_every_format(workers: Scheduler) -> None:
    alone = {f: _replay(*GRID, "-f", f) for f in ("text", "json", "junit", "markdown")}
    for output_format, report in alone.items():
        assert _replay(*GRID, "-f", output_format, "--dask", workers.address) == report, output_format
    # Without --seeds or --sweep the runs merge into the report `replay` writes in one process.
    plain = ["wa-students-2017", "nxdomain", "-n", "30", "--no-progress", "-f", "json"]
    assert _replay(*plain, "--dask", workers.address) == _replay(*plain)
    report = json.loads(alone["json"])
    registry = Registry().with_resources(
        [(s["$id"], Resource.from_contents(s)) for s in (schema("replay"), schema("replay-runs"))])
    errors = list(jsonschema.Draft202012Validator(schema("replay-runs"), registry=registry).iter_errors(report))
    assert not errors, errors[0].message
    keys = [(r["scenario"], r["mta"], r["seed"], r["setting"]["smtp_mx_address_limit"]) for r in report["runs"]]
    assert keys == sorted(keys, key=lambda k: (k[0] != "wa-students-2017", k[1] != "postfix", k[2], int(k[3])))
    assert len(keys) == 16


def test_a_local_cluster_writes_the_same_report() -> None:
    done = subprocess.run([sys.executable, "-c", "from mxsim.cli import main; main()", "replay", *GRID,
                           "-f", "json", "--workers", "2"], cwd=ROOT, capture_output=True, text=True,
                          timeout=RUN_WAIT)
    assert done.returncode in (0, 1), done.stderr
    assert done.stdout == _replay(*GRID, "-f", "json")


@pytest.mark.lab
def test_a_worker_killed_mid_replay_changes_no_byte(workers: Scheduler, tmp_path: Path) -> None:
    # Sixteen tasks of a few tenths of a second each: the kill lands while most of them are still to run.
    long = ["wa-students-2017", "-m", "postfix", "--seeds", "1..16", "-n", "2000", "--no-progress", "-f", "json"]
    out = tmp_path / "runs.json"
    command = [sys.executable, "-c", "from mxsim.cli import main; main()", "replay", *long,
               "--output", str(out), "--dask", workers.address]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as run:
        try:
            kill_when_busy(workers, "w1", run, lambda: workers.state()["finished"] >= 1)
            _, stderr = run.communicate(timeout=RUN_WAIT)
        finally:
            run.kill()
    assert run.returncode in (0, 1), stderr.decode()
    assert out.read_text(encoding="utf-8") == _replay(*long)
