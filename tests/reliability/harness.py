"""The parent's side of the worker: send a job, wait at most a time bound, read the verdict.

On a hang the worker is killed (its whole process group) and the next job starts a new
one; a worker that dies on a job (a crash, the kernel's OOM killer) is reported as such.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.reliability.verdict import Verdict, short_path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MEMORY = 1 << 30  # bytes of address space for one worker: 1 GiB
START = "from tests.reliability.worker import serve; serve()"


STACK_WAIT = 0.5  # seconds for a hung worker to write its stack
# faulthandler's lines: `  File "/path/x.py", line 12 in name`, the most recent call first.
_FRAME = re.compile(r'File "([^"]+)", line (\d+) in (\S+)')


def hang_symptom(stack: str) -> tuple[str, str]:
    """Where a hung worker was: mxsim's innermost function (the stable part of a sampled stack)."""
    frames = _FRAME.findall(stack)
    if not frames:
        return "no result in time", stack[:300]
    own = [f for f in frames if "/mxsim/" in f[0] and "/tests/" not in f[0]]
    where = own[0] if own else frames[0]
    sample = " <- ".join(f"{short_path(f[0])}:{f[1]} ({f[2]})" for f in frames[:8])
    return f"busy in {short_path(where[0])} ({where[2]})", sample


def peak_memory_kib(pid: int) -> int:
    """VmHWM of a process (its peak resident memory), in KiB; 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Worker:
    def __init__(self, memory: int = DEFAULT_MEMORY) -> None:
        self.memory = memory
        self.process: subprocess.Popen[bytes] | None = None
        self.buffer = b""
        self.peak_kib = 0  # the highest VmHWM of any worker so far
        self.restarts = 0
        handle, name = tempfile.mkstemp(prefix="mxsim-worker-stack-")
        os.close(handle)
        self.stacks = Path(name)

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def start(self) -> subprocess.Popen[bytes]:
        if self.process is None:
            self.process = subprocess.Popen(
                [sys.executable, "-c", START, str(self.memory), str(self.stacks)], cwd=ROOT, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
            )
            self.buffer = b""
        return self.process

    def close(self) -> None:
        self.stop()
        self.stacks.unlink(missing_ok=True)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        self.peak_kib = max(self.peak_kib, peak_memory_kib(process.pid))
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()

    def _stack(self, process: subprocess.Popen[bytes]) -> tuple[str, str]:
        size = self.stacks.stat().st_size
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGUSR1)
        wait_until = time.monotonic() + STACK_WAIT
        while self.stacks.stat().st_size == size and time.monotonic() < wait_until:
            time.sleep(0.02)
        time.sleep(0.05)  # the rest of the dump
        with self.stacks.open(errors="replace") as text:
            text.seek(size)
            return hang_symptom(text.read())

    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def memory_kib(self) -> int:
        pid = self.pid()
        return peak_memory_kib(pid) if pid is not None else 0

    def run(self, job: dict[str, Any], timeout: float) -> Verdict:
        process = self.start()
        assert process.stdin is not None and process.stdout is not None
        started = time.monotonic()
        try:
            process.stdin.write(json.dumps(job).encode() + b"\n")
            process.stdin.flush()
        except BrokenPipeError:
            self.stop()
            return Verdict("crash", "the worker was gone before the input was sent")
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while b"\n" not in self.buffer:
                left = started + timeout - time.monotonic()
                if left <= 0 or not selector.select(left):
                    symptom, where = self._stack(process)
                    self.stop()
                    self.restarts += 1
                    return Verdict("hang", symptom, f"no result within {timeout:g} s: {where}",
                                   seconds=time.monotonic() - started)
                chunk = os.read(process.stdout.fileno(), 1 << 16)
                if not chunk:
                    code = process.wait(10)
                    self.stop()
                    self.restarts += 1
                    return Verdict("crash", f"the worker died (exit status {code})",
                                   seconds=time.monotonic() - started)
                self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        self.peak_kib = max(self.peak_kib, self.memory_kib())
        return Verdict.from_json(json.loads(line))
