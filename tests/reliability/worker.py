"""The child that runs hostile inputs: `python -c "from tests.reliability.worker import serve; serve()"`.

It reads one job a line (JSON) on stdin and writes one verdict a line on stdout. Running
many inputs in one process keeps a long campaign cheap (no interpreter start per input);
running them in a child lets the parent bound each one in time (it kills the child and
starts another on a hang) and in memory (RLIMIT_AS, set here), and read its peak memory.

Jobs:
- `scenario`: a scenario file (and files beside it) is loaded with the scenario loader,
  then `mxsim trace FILE` runs in this process through the command line's entry;
- `cli`: `mxsim ARGS...` in this process (`trace` of a bundled scenario: the model, no network);
- `check`: `mxsim check ARGS...` with --no-smtp and root hints that name one address of
  127.0.0.0/8 where this process holds a UDP socket that never answers. Every root hints
  text is checked to name only loopback addresses before it is used;
- `hostile-dns`, `hostile-smtp`: a hostile DNS world or SMTP host on 127.0.0.0/8, started
  in this process, against `check` or its SMTP probe (tests/reliability/hostile.py).
"""

from __future__ import annotations

import base64
import faulthandler
import ipaddress
import json
import resource
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from mxsim.cli import app_for
from mxsim.errors import MxsimError
from tests.reliability.hostile import run_hostile_dns, run_hostile_smtp
from tests.reliability.mutations import CANARY, OUTSIDE, SCENARIO_FILE
from tests.reliability.verdict import Verdict, judge_cli, traceback_symptom

CHECK_DEFAULTS = ("--no-smtp", "--no-progress", "--dns-timeout", "0.05s", "--samples", "1", "--budget", "40")
# Options a generated `check` line may not carry: they would point it somewhere else.
CHECK_RESERVED = frozenset({"--root-hints", "--lab", "--dns-port", "--smtp-port", "--output"})
BLACK_HOLE = "127.0.0.1"


def loopback_only(hints_text: str) -> bool:
    """Whether every root server address the check would use is in 127.0.0.0/8 (or ::1)."""
    from mxsim.commands.check import parse_root_hints

    try:
        hints = parse_root_hints(hints_text)
    except MxsimError:
        return True  # refused before any query
    except Exception:
        return True  # a traceback, before any query: a finding, not traffic
    return all(ipaddress.ip_address(address).is_loopback for _name, address in hints)


class Child:
    def __init__(self) -> None:
        self.runner = CliRunner()
        self.hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.hole.bind((BLACK_HOLE, 0))
        self.port = self.hole.getsockname()[1]
        self.base = Path(tempfile.mkdtemp(prefix="mxsim-reliability-"))
        outside = self.base / "outside"
        outside.mkdir()
        (outside / "secret.txt").write_text(f"root:{CANARY}:0:0\n{CANARY}=1\n")

    def close(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)
        self.hole.close()

    def case_folder(self) -> Path:
        folder = self.base / "case"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        return folder

    def cli(self, argv: list[str]) -> Verdict:
        result = self.runner.invoke(app_for(argv), argv)
        tb = result.exc_info[2] if result.exc_info else None
        return judge_cli(result.exit_code, result.stdout, result.stderr, result.exception, tb)

    def scenario(self, job: dict[str, Any]) -> Verdict:
        from mxsim.scenario import load_scenario

        folder = self.case_folder()
        path = folder / SCENARIO_FILE
        path.write_bytes(base64.b64decode(job["file"]))
        for name, content in job.get("extra", {}).items():
            (folder / name).write_bytes(base64.b64decode(content))
        assert (folder / OUTSIDE).resolve().is_file()
        try:
            load_scenario(str(path))
        except MxsimError:
            pass
        except Exception as error:
            symptom, detail = traceback_symptom(error, error.__traceback__)
            return Verdict("traceback", symptom, detail)
        return self.cli(["trace", str(path), *job.get("args", [])])

    def check(self, job: dict[str, Any]) -> Verdict:
        argv: list[str] = job["argv"]
        if CHECK_RESERVED & set(argv):
            raise ValueError(f"a check job may not carry {sorted(CHECK_RESERVED & set(argv))}")
        hints = job.get("root_hints")
        text = (base64.b64decode(hints) if hints is not None
                else f". 3600 NS a.root.\na.root. 3600 A {BLACK_HOLE}\n".encode())
        if not loopback_only(text.decode("utf-8", "replace")):
            return Verdict("ran", "not run: the root hints name an address outside 127.0.0.0/8")
        hints_file = self.case_folder() / "root.hints"
        hints_file.write_bytes(text)
        return self.cli(["check", *argv[:1], *CHECK_DEFAULTS, *argv[1:],
                         "--root-hints", str(hints_file), "--dns-port", str(self.port)])

    def run(self, job: dict[str, Any]) -> Verdict:
        started = time.monotonic()
        kind = job["kind"]
        if kind == "scenario":
            verdict = self.scenario(job)
        elif kind == "cli":
            verdict = self.cli(list(job["argv"]))
        elif kind == "check":
            verdict = self.check(job)
        elif kind == "hostile-dns":
            verdict = run_hostile_dns(job)
        elif kind == "hostile-smtp":
            verdict = run_hostile_smtp(job)
        else:
            raise ValueError(f"unknown job kind {kind!r}")
        verdict.seconds = time.monotonic() - started
        return verdict


def serve() -> None:
    memory = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    if len(sys.argv) > 2:  # where the parent reads this process's stack when an input hangs
        stacks = open(sys.argv[2], "w")  # noqa: SIM115  (open until the process ends)
        faulthandler.register(signal.SIGUSR1, file=stacks, all_threads=False)
    sys.setrecursionlimit(1000)  # the interpreter's default, whatever the parent's
    child = Child()
    out = sys.stdout
    sys.stdout = sys.stderr  # whatever the code under test prints must not break the protocol
    try:
        for line in sys.stdin:
            try:
                verdict = child.run(json.loads(line))
            except MemoryError:
                verdict = Verdict("traceback", "MemoryError (past the worker's memory limit)", "")
            out.write(json.dumps(verdict.to_json()) + "\n")
            out.flush()
    finally:
        child.close()
