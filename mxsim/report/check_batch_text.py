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
    breaking: Counter[str] = field(default_factory=Counter)  # backend -> zones where it raised an error

    def add(self, line: dict[str, object]) -> None:
        self.verdicts[verdict(line)] += 1
        findings = line.get("findings")
        assert isinstance(findings, list)
        self.findings.update({str(f["id"]) for f in findings})
        # A backend breaks a zone when an error-level finding rests on its replies.
        self.breaking.update({b for f in findings if f["level"] == Level.ERROR.label for b in f["backends"]})

    def render(self) -> str:
        total = sum(self.verdicts.values())
        rows = [f"{total} domains: " + ", ".join(f"{n} {v}" for v, n in sorted(self.verdicts.items()))]
        if self.findings:
            rows.append("most frequent findings (domains):")
            rows += [f"  {n:>6}  {id_}" for id_, n in self.findings.most_common(TOP)]
        if self.breaking:
            rows.append("backends behind error findings (zones):")
            rows += [f"  {n:>6}  {backend}" for backend, n in self.breaking.most_common(TOP)]
        return "\n".join(rows) + "\n"


def verdict(line: dict[str, object]) -> str:
    return {0: "clean", 1: "findings", 2: "unknown"}.get(int(str(line["exit_code"])), "unknown")


__all__ = ["BatchTally", "verdict"]
