"""`mxsim replay --seeds A..B` / `--sweep NAME=V1,V2`: every run, in one report.

Each seed and setting is one replay (a `Point`), reported as `replay` reports it; the
formats put them side by side: JSON as a list of runs keyed by scenario, MTA, seed and
setting (schema `replay-runs`), text and Markdown as one section per seed and setting,
JUnit as one test suite per scenario, seed and setting.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

from mxsim.commands.replay import NO_GATES
from mxsim.commands.replay_fanout import Plan, Point
from mxsim.report import replay_json, replay_junit, replay_markdown, replay_text

SCHEMA_VERSION = 1


def label(point: Point) -> str:
    return ", ".join([f"seed {point.seed}", *(f"{name}={value}" for name, value in point.setting)])


def status(points: tuple[Point, ...]) -> str:
    seen = {p.result.status for p in points}
    return "fail" if "fail" in seen else "pass" if "pass" in seen else NO_GATES


def render_json(plan: Plan, points: tuple[Point, ...]) -> str:
    """Every run, scenario by scenario, then MTA, seed and setting; each as `replay -f json` reports it."""
    reported = {(p.seed, p.setting): json.loads(replay_json.render(p.result)) for p in points}
    first = points[0].result
    runs: list[dict[str, Any]] = []
    for run in plan.runs:
        scenario = reported[(run.seed, run.setting)]["scenarios"][run.scenario]
        mta = next(m for m in scenario["mtas"] if m["mta"] == run.mta)
        runs.append({"scenario": scenario["scenario"], "mta": run.mta, "seed": run.seed,
                     "setting": dict(run.setting), "deliver_to": scenario["deliver_to"], "result": mta})
    payload = {
        "schema_version": SCHEMA_VERSION,
        "kind": "replay-runs",
        "seeds": list(plan.seeds),
        "sweep": [{"name": name, "values": list(values)} for name, values in plan.axes],
        "messages": first.messages,
        "arrival": {"window_s": first.arrival, "process": first.process.value},
        "resolvers": first.resolvers,
        "passed": all(p.result.passed for p in points),
        "status": status(points),
        "runs": runs,
    }
    return json.dumps(payload, indent=2) + "\n"


def render_text(points: tuple[Point, ...], *, quiet: bool = False) -> str:
    sections = [f"-- {label(p)}\n{replay_text.render(p.result, quiet=quiet)}" for p in points]
    passed = sum(p.result.status == "pass" for p in points)
    failed = sum(p.result.status == "fail" for p in points)
    return "\n".join(sections) + f"\n{len(points)} seeds and settings: {passed} pass, {failed} fail\n"


def _deeper(markdown: str) -> Iterator[str]:
    """A replay's Markdown one heading level down, its title left out (fenced blocks untouched)."""
    fenced = False
    for line in markdown.splitlines()[1:]:
        if line.startswith("```"):
            fenced = not fenced
        yield "#" + line if line.startswith("#") and not fenced else line


def render_markdown(points: tuple[Point, ...]) -> str:
    lines = ["# mxsim replay", ""]
    for point in points:
        lines += [f"## {label(point)}", *_deeper(replay_markdown.render(point.result)), ""]
    return "\n".join(lines).rstrip() + "\n"


def render_junit(points: tuple[Point, ...]) -> str:
    """One suite per scenario, seed and setting; the setting also as properties."""
    suites = ET.Element("testsuites", name="mxsim replay")
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for point in points:
        for suite in ET.fromstring(replay_junit.render(point.result)).iter("testsuite"):
            suite.set("name", f"{suite.get('name', '')} [{label(point)}]")
            properties = suite.find("properties")
            if properties is not None:
                for name, value in point.setting:
                    ET.SubElement(properties, "property", name=f"sweep.{name}", value=value)
            for key in totals:
                totals[key] += int(suite.get(key, "0"))
            suites.append(suite)
    for key, count in totals.items():
        suites.set(key, str(count))
    suites.set("errors", "0")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
