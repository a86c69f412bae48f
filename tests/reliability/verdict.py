"""What counts as a pass: it ran, or it failed the way a user should see a failure.

The property for every hostile input: the command exits 0, 1 or 2 (it ran), or exits 3
with exactly one line on stderr, `mxsim: error: ...`, short enough to read, with no
traceback; and nothing it prints quotes the file planted outside the scenario's folder.
Anything else is a finding, named by a `symptom` that groups findings of one cause
(the exception's type and the line of mxsim that let it through).
"""

from __future__ import annotations

import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.reliability.mutations import CANARY

MAX_ERROR_LINE = 1000  # characters: an error quoting a 100 KB value must cut it
OK_EXITS = (0, 1, 2)
BAD_INPUT = 3

# Statuses: a pass is `ran` or `clean`; every other status is a finding.
PASSES = ("ran", "clean")


@dataclass
class Verdict:
    status: str  # ran | clean | traceback | bad-error | leak | hang | crash | wrong (a false verdict)
    symptom: str = ""
    detail: str = ""
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.status in PASSES

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Verdict:
        return cls(**data)


def short_path(path: str) -> str:
    """A frame's file, from the package it belongs to (mxsim/..., yaml/..., dns/...)."""
    parts = Path(path).parts
    for anchor in ("mxsim", "site-packages", "dist-packages", "lib"):
        if anchor in parts:
            index = len(parts) - 1 - parts[::-1].index(anchor)
            rest = parts[index + (anchor != "mxsim"):]
            if anchor == "lib":
                rest = rest[1:]  # lib/python3.X/...
            return "/".join(rest)
    return path


def traceback_symptom(error: BaseException, tb: TracebackType | None) -> tuple[str, str]:
    """`Type raised at file:line (function), let through by mxsim/file:line (function)`."""
    frames = traceback.extract_tb(tb)
    if not frames:
        return type(error).__name__, str(error)[:300]
    last = frames[-1]
    own = [f for f in frames if "/mxsim/" in f.filename and "/tests/" not in f.filename]
    where = f"{short_path(last.filename)}:{last.lineno} ({last.name})"
    symptom = f"{type(error).__name__} raised at {where}"
    if own and own[-1] is not last:
        symptom += f", through {short_path(own[-1].filename)}:{own[-1].lineno} ({own[-1].name})"
    return symptom, f"{type(error).__name__}: {str(error)[:300]!r}"


def judge_cli(exit_code: int, stdout: str, stderr: str, exception: BaseException | None,
              tb: TracebackType | None) -> Verdict:
    if exception is not None and not isinstance(exception, SystemExit):
        symptom, detail = traceback_symptom(exception, tb)
        return Verdict("traceback", symptom, detail)
    if CANARY in stdout or CANARY in stderr:
        return Verdict("leak", "prints the content of a file outside the scenario's folder",
                       stderr[:300] or stdout[:300])
    if "Traceback (most recent call last)" in stderr:
        return Verdict("bad-error", f"exit {exit_code} with a traceback printed", stderr[-300:])
    if exit_code in OK_EXITS:
        return Verdict("ran")
    if exit_code != BAD_INPUT:
        return Verdict("bad-error", f"exit {exit_code}", stderr[:300])
    return judge_error_text(stderr)


def judge_error_text(stderr: str) -> Verdict:
    """Exit 3: one line, from mxsim, of a readable length."""
    text = stderr.removesuffix("\n")
    breaks = text.count("\n") + text.count("\r")
    if not text:
        return Verdict("bad-error", "exit 3 with nothing on stderr")
    if breaks:
        first = text.splitlines()[0]
        return Verdict("bad-error", f"error message spans lines ({_message_kind(first)})", repr(text[:300]))
    if not text.startswith("mxsim: error: "):
        return Verdict("bad-error", "exit 3 without `mxsim: error:`", text[:300])
    if len(text) > MAX_ERROR_LINE:
        return Verdict("bad-error", f"error line over {MAX_ERROR_LINE} characters ({_message_kind(text)})",
                       f"{len(text)} characters: {text[:200]!r}")
    return Verdict("clean")


def _message_kind(line: str) -> str:
    """The error's wording without the values it quotes, to group messages of one kind."""
    words = line.removeprefix("mxsim: error: ").split(": ")
    # drop the file:line part, keep the first words of what was expected
    tail = words[1] if len(words) > 1 and ("/" in words[0] or words[0].startswith("<")) else words[0]
    return " ".join(tail.split()[:5])[:60]
