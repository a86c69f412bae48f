"""`mxsim check` over many domains against a detached lab: the domain list's errors, one
JSON line per domain that validates, the worst exit code, and --resume after a torn line."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from mxsim.cli import app
from mxsim.commands.check_batch import parse_domain_list
from mxsim.errors import UsageError
from mxsim.schemas import schema
from tests.lab.tools import lab

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
FAST = ["--smtp-timeout", "0.5s", "--rate", "0", "--no-progress", "--samples", "8"]


def test_the_domain_list_reports_the_first_bad_line_with_its_number() -> None:
    assert parse_domain_list("# farm\nA.example.\n\nb.example  # second\na.example\n", "f") == ["a.example",
                                                                                              "b.example"]
    with pytest.raises(UsageError, match=r"^list.txt:3: .*not a domain name.*\(and 1 more bad lines\)"):
        parse_domain_list("ok.example\n\nbad_-\nx y\n", "list.txt")


def test_a_bad_domain_file_is_exit_3_before_any_work(tmp_path: Path) -> None:
    listing = tmp_path / "domains.txt"
    listing.write_text("good.example\nnot a domain\n", encoding="utf-8")
    done = runner.invoke(app, ["check", "--domains", str(listing), "--root-hints", str(tmp_path / "absent")])
    assert done.exit_code == 3 and f"{listing}:2:" in done.stderr


@pytest.fixture(scope="module")
def incident_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    state = tmp_path_factory.mktemp("lab") / "state"
    with lab("wa-students-2017", state, seed=2):
        yield state


@pytest.mark.lab
def test_jsonl_lines_validate_and_the_exit_is_the_worst(incident_lab: Path, tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    done = runner.invoke(app, ["check", "wa-students.org", "nowhere.org", "--lab", str(incident_lab),
                               "-f", "jsonl", "--output", str(out), *FAST])
    assert done.exit_code == 1, done.output  # the worst: wa-students.org's findings
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    validator = jsonschema.Draft202012Validator(schema("check-line"))
    for line in lines:
        assert not list(validator.iter_errors(line))
    by_domain = {line["domain"]: line for line in lines}
    assert by_domain["wa-students.org"]["status"] == "measured"
    assert "APEX01_CNAME" in {f["id"] for f in by_domain["wa-students.org"]["findings"]}
    assert "NXDOMAIN" in by_domain["nowhere.org"]["summary"] and by_domain["nowhere.org"]["why"] is None

    # A run killed mid-write leaves a torn line: resume cuts it and checks only what is missing.
    first = out.read_text(encoding="utf-8").splitlines()[0]
    out.write_text(first + "\n" + first[:40], encoding="utf-8")
    again = runner.invoke(app, ["check", "wa-students.org", "nowhere.org", "--lab", str(incident_lab),
                                "-f", "jsonl", "--resume", str(out), *FAST])
    assert again.exit_code == 1, again.output
    domains = [json.loads(line)["domain"] for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(domains) == ["nowhere.org", "wa-students.org"]


@pytest.mark.lab
def test_text_over_many_domains_ends_with_the_table(incident_lab: Path) -> None:
    done = runner.invoke(app, ["check", "wa-students.org", "nowhere.org", "--lab", str(incident_lab), *FAST])
    assert done.exit_code == 1, done.output
    out = done.stdout
    assert out.startswith("mail to ") and "\n2 domains: " in out
    assert "APEX01_CNAME (ERROR)" in out and "hover01.dns.bra.prod.tucows.net" in out
    # Only the backend whose own replies break the zone is blamed, not those it disagrees with.
    breaking = out.split("backends breaking the most zones")[1]
    assert "hover01" in breaking and "hover05" not in breaking and "hover03" not in breaking


@pytest.mark.lab
def test_sigkill_mid_run_then_resume_leaves_each_domain_once(incident_lab: Path, tmp_path: Path) -> None:
    listing = tmp_path / "domains.txt"
    names = [f"absent{i}.org" for i in range(40)] + ["wa-students.org"] + [f"gone{i}.org" for i in range(40)]
    listing.write_text("# the farm\n" + "\n".join(names) + "\n", encoding="utf-8")
    out = tmp_path / "results.jsonl"
    command = [sys.executable, "-c", "from mxsim.cli import main; main()", "check", "--domains", str(listing),
               "--lab", str(incident_lab), "-f", "jsonl", "--output", str(out), *FAST]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as process:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None and _lines(out) < 5:
            time.sleep(0.005)
        running = process.poll() is None
        process.kill()
        process.wait(timeout=10)
    assert running, "the run ended before it could be killed"
    assert 5 <= _lines(out) < len(names)
    again = subprocess.run([*command[:-len(FAST) - 2], "--resume", str(out), *FAST], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 1, again.stderr
    domains = [json.loads(line)["domain"] for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(domains) == sorted(names)


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


@pytest.mark.lab
def test_the_bar_on_a_terminal_shows_rate_and_verdicts(incident_lab: Path, tmp_path: Path) -> None:
    import os
    import pty

    primary, secondary = pty.openpty()
    names = [f"absent{i}.org" for i in range(5)]
    command = [sys.executable, "-c", "from mxsim.cli import main; main()", "check", *names,
               "--lab", str(incident_lab), *[o for o in FAST if o != "--no-progress"]]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=secondary,
                          env={**os.environ, "COLUMNS": "160", "TERM": "xterm"}) as process:
        os.close(secondary)
        seen = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                chunk = os.read(primary, 4096)
            except OSError:  # the terminal closed: the run ended
                break
            if not chunk:
                break
            seen += chunk
        process.wait(timeout=10)
    os.close(primary)
    assert b"domains/s" in seen and b"findings" in seen and b"/5" in seen


@pytest.mark.lab
def test_sarif_over_many_domains_is_one_run_with_results_per_domain(incident_lab: Path, tmp_path: Path) -> None:
    out = tmp_path / "batch.sarif"
    done = runner.invoke(app, ["check", "wa-students.org", "nowhere.org", "--lab", str(incident_lab),
                               "-f", "sarif", "--output", str(out), *FAST])
    assert done.exit_code == 1, done.output
    # The summaries and the closing table on stdout; the report in the file.
    assert done.stdout.startswith("mail to ") and "\n2 domains: " in done.stdout
    sarif = json.loads(out.read_text(encoding="utf-8"))
    (run,) = sarif["runs"]
    assert run["invocations"] == [{"executionSuccessful": True, "exitCode": 1}]
    assert [d["domain"] for d in run["properties"]["domains"]] == ["wa-students.org", "nowhere.org"]
    located = {r["locations"][0]["logicalLocations"][0]["name"] for r in run["results"]}
    assert located == {"wa-students.org", "nowhere.org"}
    assert {r["ruleId"] for r in run["results"] if r["locations"][0]["logicalLocations"][0]["name"]
            == "wa-students.org"} >= {"APEX01_CNAME"}
    rules = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    assert all(rules[r["ruleIndex"]] == r["ruleId"] for r in run["results"])


def _ctrl_c_as_in_a_terminal() -> None:
    """Ctrl-C's default action in the child: a test run started in the background by a
    shell without job control inherits SIGINT ignored, and Python then keeps ignoring it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.lab
def test_ctrl_c_mid_run_exits_130_with_every_finished_domain_kept(incident_lab: Path, tmp_path: Path) -> None:
    listing = tmp_path / "domains.txt"
    names = [f"absent{i}.org" for i in range(40)] + ["wa-students.org"] + [f"gone{i}.org" for i in range(40)]
    listing.write_text("\n".join(names) + "\n", encoding="utf-8")
    out = tmp_path / "results.jsonl"
    command = [sys.executable, "-c", "from mxsim.cli import main; main()", "check", "--domains", str(listing),
               "--lab", str(incident_lab), "-f", "jsonl", "--output", str(out), *FAST]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          preexec_fn=_ctrl_c_as_in_a_terminal) as process:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None and _lines(out) < 5:
            time.sleep(0.005)
        running = process.poll() is None
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    assert running, "the run ended before it could be interrupted"
    assert process.returncode == 130, stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    domains = [json.loads(line)["domain"] for line in lines]  # every line whole
    assert len(set(domains)) == len(domains) and 5 <= len(domains) < len(names)
    # Each domain the run counted done is in the file, and its summary was printed.
    assert f"interrupted after {len(domains)} of {len(names)} domains; --resume {out}" in stderr
    assert stdout.count("mail to ") == len(domains) and f"{len(domains)} domains: " in stdout


@pytest.mark.lab
def test_ctrl_c_mid_sarif_run_still_writes_the_finished_domains(incident_lab: Path, tmp_path: Path) -> None:
    names = [f"absent{i}.org" for i in range(80)]
    out = tmp_path / "batch.sarif"
    command = [sys.executable, "-c", "from mxsim.cli import main; main()", "check", *names,
               "--lab", str(incident_lab), "-f", "sarif", "--output", str(out), *FAST]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          preexec_fn=_ctrl_c_as_in_a_terminal) as process:
        assert process.stdout is not None
        seen = [process.stdout.readline() for _ in range(3)]  # three summaries: three domains done
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert all(line.startswith("mail to ") for line in seen) and process.returncode == 130, stderr
    (run,) = json.loads(out.read_text(encoding="utf-8"))["runs"]
    done = [d["domain"] for d in run["properties"]["domains"]]
    assert run["invocations"] == [{"executionSuccessful": False, "exitCode": 130}]
    # In list order, each once; with domains in flight, one finished behind a slower one is kept too.
    assert len(done) >= 3 and done == [n for n in names if n in set(done)] and run["properties"]["listed"] == len(names)
    assert f"interrupted after {len(done)} of {len(names)} domains" in stderr
