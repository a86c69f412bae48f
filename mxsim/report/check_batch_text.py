"""The closing table of `mxsim check` over many domains: verdicts, frequent findings, the
backends (by NSID) that break the most zones."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from mxsim.audit.catalog import Level

TOP = 10  # rows of each ranking


@dataclass
class BatchTally:
    """Kept from each line as it is written, so the table needs no result in memory."""

    verdicts: Counter[str] = field(default_factory=Counter)
    findings: Counter[str] = field(default_factory=Counter)
    levels: dict[str, Level] = field(default_factory=dict)  # finding ID -> its level, to rank ties
    breaking: Counter[str] = field(default_factory=Counter)  # backend -> zones where it raised an error

    def add(self, line: dict[str, object]) -> None:
        self.verdicts[verdict(line)] += 1
        findings = line.get("findings")
        assert isinstance(findings, list)
        self.findings.update({str(f["id"]) for f in findings})
        self.levels.update({str(f["id"]): Level[str(f["level"])] for f in findings})
        # A backend breaks a zone when an error (or worse) rests on its replies alone: a finding
        # that names several backends (answers that differ between them) blames none of them.
        self.breaking.update({f["backends"][0] for f in findings
                              if Level[str(f["level"])] >= Level.ERROR and len(f["backends"]) == 1})

    def render(self) -> str:
        total = sum(self.verdicts.values())
        rows = [f"{total} domains: " + ", ".join(f"{n} {v}" for v, n in sorted(self.verdicts.items()))]
        if self.findings:
            rows.append("most frequent findings (domains):")
            # Most domains first; among equals the gravest, then by ID: the same table for the same lines.
            ranked = sorted(self.findings.items(), key=lambda item: (-item[1], -self.levels[item[0]], item[0]))
            rows += [f"  {n:>6}  {id_} ({self.levels[id_].label})" for id_, n in ranked[:TOP]]
        if self.breaking:
            rows.append("backends breaking the most zones (an error on their replies alone; zones):")
            rows += [f"  {n:>6}  {backend}" for backend, n in sorted(self.breaking.items(),
                                                                     key=lambda item: (-item[1], item[0]))[:TOP]]
        return "\n".join(rows) + "\n"


def verdict(line: dict[str, object]) -> str:
    return {0: "clean", 1: "findings", 2: "unknown"}.get(int(str(line["exit_code"])), "unknown")


__all__ = ["BatchTally", "verdict"]
