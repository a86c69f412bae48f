"""`mxsim check --dask ADDRESS` over a registrar farm served on loopback, with a worker
SIGKILLed mid-run: every domain once, with the verdict a single process gives it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mxsim.cli import app
from mxsim.commands.check_batch import parse_domain_list
from mxsim.distribute.check import Chunks
from mxsim.distribute.server_groups import server_groups
from tests.distribute.conftest import ROOT, Scheduler, kill_when_busy
from tests.lab.tools import lab

ZONES = 20
# The farm draws a backend per query, so a run whose queries interleave otherwise draws
# otherwise: enough samples that no backend goes unseen for a zone (a backend answering
# 19 % of queries is missed by 48 MX queries with probability 0.81^48, about 4e-5).
FAST = ["--smtp-timeout", "2s", "--rate", "0", "--no-progress", "--samples", "12"]
RUN_WAIT = 180.0  # seconds for the whole distributed run, a worker lost on the way
runner = CliRunner()


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, set[str]]]:
    """The registrar farm's lab state, its list of zones, and the zones its bad backend breaks."""
    folder = tmp_path_factory.mktemp("farm")
    scenario, domains, broken = folder / "registrar.yaml", folder / "domains.txt", folder / "broken.txt"
    with scenario.open("w", encoding="utf-8") as file:
        subprocess.run([sys.executable, str(ROOT / "scenarios" / "make_registrar.py"), str(ZONES), "--domains",
                        str(domains), "--broken", str(broken)], stdout=file, check=True, timeout=60)
    with lab(scenario, folder / "lab", seed=1):
        yield folder / "lab", domains, set(broken.read_text(encoding="utf-8").split())


def _verdicts(path: Path) -> dict[str, Any]:
    """Each domain's verdict: its status, exit code and error-level findings (shares vary with the draws)."""
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    found = {line["domain"]: (line["status"], line["exit_code"],
                              sorted(f["id"] for f in line["findings"] if f["level"] == "ERROR")) for line in lines}
    assert len(found) == len(lines), "a domain was written twice"
    return found


@pytest.mark.lab
def test_domains_sharing_name_servers_form_one_group(farm: tuple[Path, Path, set[str]]) -> None:
    from mxsim.cli.check import FailOn, _config

    state, domains, _ = farm
    names = parse_domain_list(domains.read_text(encoding="utf-8"), "zones")
    config = _config(names[0], None, state, 4, None, True, "0.5s", "2s", 0.0, 5000, 0, FailOn.warning, 53, 25)
    # Every zone hangs from the farm's two servers; a name the parent denies stands alone.
    assert server_groups(config, [*names[:5], "nowhere.org", *names[5:]]) == [names, ["nowhere.org"]]


@pytest.mark.lab
def test_a_worker_killed_mid_run_loses_no_domain_and_writes_none_twice(
        farm: tuple[Path, Path, set[str]], workers: Scheduler, tmp_path: Path) -> None:
    state, domains, broken = farm
    alone = tmp_path / "one-process.jsonl"
    done = runner.invoke(app, ["check", "--domains", str(domains), "--lab", str(state), "-f", "jsonl",
                               "--output", str(alone), *FAST])
    assert done.exit_code == 1, done.output
    expected = _verdicts(alone)
    assert {d for d, (_, _, errors) in expected.items() if errors} == broken

    spread = tmp_path / "cluster.jsonl"
    command = [sys.executable, "-c", "from mxsim.cli import main; main()", "check", "--domains", str(domains),
               "--lab", str(state), "-f", "jsonl", "--output", str(spread), "--dask", workers.address, *FAST]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as run:
        try:
            kill_when_busy(workers, "w1", run, lambda: spread.exists() and spread.read_bytes().count(b"\n") >= 1)
            _, stderr = run.communicate(timeout=RUN_WAIT)
        finally:
            run.kill()
    unmeasured = [(line["domain"], line["why"]) for line in map(json.loads, spread.read_text().splitlines())
                  if line["status"] != "measured"]
    assert run.returncode == 1, f"{stderr.decode()} {unmeasured}"
    assert _verdicts(spread) == expected


def test_workers_and_dask_together_are_one_line_exit_3() -> None:
    done = runner.invoke(app, ["check", "a.example", "--workers", "2", "--dask", "tcp://127.0.0.1:1"])
    assert done.exit_code == 3 and done.stderr.count("\n") == 1 and "not both" in done.stderr


def test_without_dask_installed_the_options_say_how_to_get_it() -> None:
    # The interpreter is told that `distributed` cannot be imported, as on a machine without it.
    hide = "import sys; sys.modules['distributed'] = None; from mxsim.cli import main; main()"
    for args in (["check", "a.example", "--workers", "2"], ["replay", "wa-students-2017", "--dask", "tcp://h:1"]):
        done = subprocess.run([sys.executable, "-c", hide, *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 3 and done.stdout == "", done.stderr
        assert done.stderr.splitlines() == [done.stderr.strip()] and "pip install 'mxsim[dask]'" in done.stderr


def test_with_pacing_a_server_group_has_one_chunk_in_flight() -> None:
    groups = [[f"a{i}.example" for i in range(5)], ["b0.example"]]
    paced = Chunks(groups, 2, paced=True)
    assert paced.first() == [(0, ["a0.example", "a1.example"]), (1, ["b0.example"])]
    assert paced.after(1) == []
    assert paced.after(0) == [(0, ["a2.example", "a3.example"])]
    assert paced.after(0) == [(0, ["a4.example"])] and paced.after(0) == []
    # Without pacing (a lab's own servers), every chunk may start at once.
    assert [index for index, _ in Chunks(groups, 2, paced=False).first()] == [0, 0, 0, 1]
