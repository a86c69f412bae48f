"""The README table: scenario (and case) x MTA -> agreed or differs, with real versions.

Rows come from comparisons run now, or from result files an earlier run saved
(`mxsim agree --table --save DIR`, the agreement tests' MXSIM_AGREE_RESULTS).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mxsim.agree.compare import Comparison
from mxsim.agree.mtas import NAMES

TITLES = {"postfix": "Postfix", "exim": "Exim", "opensmtpd": "OpenSMTPD", "sendmail": "Sendmail"}


@dataclass(frozen=True, slots=True)
class Cell:
    scenario: str  # "name" or "name[case]"
    mta: str
    status: str  # agreed | differs | could not run
    version: str = ""
    fields: tuple[str, ...] = ()  # the fields that differ
    detail: str = ""
    comparison: dict[str, Any] | None = None  # both observations, for the record

    def text(self) -> str:
        if self.status == "differs":
            return "differs: " + ", ".join(self.fields)
        return self.status

    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "mta": self.mta, "status": self.status,
                "version": self.version, "fields": list(self.fields), "detail": self.detail,
                "comparison": self.comparison}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Cell:
        return cls(str(data["scenario"]), str(data["mta"]), str(data["status"]),
                   str(data.get("version", "")), tuple(data.get("fields", [])),
                   str(data.get("detail", "")), data.get("comparison"))


def cell_of(scenario: str, mta: str, comparison: Comparison) -> Cell:
    return Cell(scenario, mta, "agreed" if comparison.agreed else "differs",
                comparison.real.version, tuple(f.name for f in comparison.differing()),
                comparison.render(evidence=True), comparison.to_json())


def save(cell: Cell, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{cell.scenario}--{cell.mta}.json".replace("/", "_")
    (folder / name).write_text(json.dumps(cell.to_json(), indent=2) + "\n")


def load(folder: Path) -> list[Cell]:
    return [Cell.from_json(json.loads(p.read_text())) for p in sorted(folder.glob("*--*.json"))]


def markdown(cells: Iterable[Cell], mtas: Sequence[str] = NAMES) -> str:
    cells = list(cells)
    versions: dict[str, str] = {}
    for cell in cells:
        if cell.version:
            versions.setdefault(cell.mta, cell.version)
    columns = [m for m in mtas if any(c.mta == m for c in cells)]
    head = [f"{TITLES.get(m, m)} {versions.get(m, '')}".strip() for m in columns]
    lines = ["| Scenario | " + " | ".join(head) + " |", "|---" * (len(columns) + 1) + "|"]
    rows: dict[str, dict[str, Cell]] = {}
    for cell in cells:
        rows.setdefault(cell.scenario, {})[cell.mta] = cell
    for scenario in sorted(rows):
        row = rows[scenario]
        lines.append(
            f"| `{scenario}` | "
            + " | ".join(row[m].text() if m in row else "not run" for m in columns) + " |"
        )
    agreed = sum(c.status == "agreed" for c in cells)
    lines.append("")
    lines.append(f"{agreed} of {len(cells)} agreed.")
    return "\n".join(lines) + "\n"
