"""`mxsim record DOMAIN -o FILE`: what `check` measured, written as a scenario file.

The file is a version 1 scenario (docs/scenario-format.md): one backend per observed
behaviour with its observed share as its weight and its NSID, the domain's zone as most
replies gave it, every name the MTAs would ask about as it resolved, each probed mail
host address with what it did, and a case per behaviour group (`--pin zone`, `--pin
cname`). `replay`, `trace` and `lab up` read it back; it is loaded once here before it
is written, so a file that would not load is never left behind.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from mxsim.commands.check import CheckConfig, CheckResult, Progress, run_check
from mxsim.errors import UsageError
from mxsim.names import text as name_text
from mxsim.scenario import load_scenario_text
from mxsim.scenario.spec import ScenarioSpec
from mxsim.scenario.write import dump_scenario


@dataclass(frozen=True, slots=True)
class RecordConfig:
    check: CheckConfig
    output: Path


@dataclass(frozen=True, slots=True)
class RecordResult:
    check: CheckResult
    output: Path | None  # None: nothing measured, nothing written
    text: str
    spec: ScenarioSpec | None
    notes: tuple[str, ...]


def _header(result: CheckResult, config: CheckConfig, notes: list[str]) -> str:
    lines = [
        f"Recorded by `mxsim record {result.domain}` ({config.samples} samples of each query type, RD clear",
        "and set, from every name server address; SMTP probes: connect, banner, EHLO, STARTTLS, QUIT).",
        f"What it saw: {result.summary}",
        "Replay it: mxsim replay FILE; trace one behaviour: mxsim trace FILE --pin CASE; serve it: mxsim lab up FILE.",
    ]
    if notes:
        lines.append("Not expressible in the format, so approximated:")
        lines += [f"- {note}" for note in notes]
    return "\n".join(lines)


def render_recording(result: CheckResult, config: CheckConfig) -> tuple[str, ScenarioSpec, list[str]]:
    """The scenario text for a check's measurement, checked by loading it back."""
    recording = result.recording
    assert recording is not None
    notes = sorted(set(recording.notes))
    text = dump_scenario(recording.spec, header=_header(result, config, notes), comments=recording.comments)
    spec = load_scenario_text(text, file=f"<recording of {result.domain}>")
    return text, spec, notes


def run_record(config: RecordConfig, progress: Progress | None = None) -> RecordResult:
    if config.output.exists() and config.output.is_dir():
        raise UsageError(f"-o {config.output}: a folder, not a file")
    result = run_check(replace(config.check, record=True), progress)
    if result.recording is None:
        return RecordResult(result, None, "", None, ())
    text, spec, notes = render_recording(result, config.check)
    try:
        config.output.write_text(text, encoding="utf-8")
    except OSError as error:
        raise UsageError(f"-o {config.output}: {error.strerror or error}") from None
    return RecordResult(result, config.output, text, spec, tuple(notes))


def describe(result: RecordResult) -> list[str]:
    """What `record` prints after writing: what the file holds."""
    spec = result.spec
    if spec is None or result.output is None:
        return []
    backends = sum(len(s.backends) or 1 for s in spec.servers if s.zones and any(
        name_text(z) == result.check.zone for z in s.zones))
    lines = [f"wrote {result.output}: {len(spec.zones)} zones, {backends} backends on "
             f"{len([s for s in spec.servers if any(name_text(z) == result.check.zone for z in s.zones)])} "
             f"name servers, {len(spec.hosts) - 1} mail host addresses, cases: "
             f"{', '.join(c.name for c in spec.cases) or 'none'}"]
    lines += [f"  approximated: {note}" for note in result.notes]
    return lines
