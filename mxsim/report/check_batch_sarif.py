"""`mxsim check -f sarif` over many domains: one SARIF run, its results located at each domain.

Each domain adds its findings' results and one line of properties (verdict, exit code)
as it finishes; only those are kept, never the checks themselves. The run's properties
list the domains in the order they finished; an interrupted run is still written, with
`executionSuccessful` false and the domains not checked left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mxsim.commands.check import CheckResult
from mxsim.report.check_sarif import document, domain_properties, results, text


@dataclass
class BatchSarif:
    found: list[dict[str, Any]] = field(default_factory=list)
    domains: list[dict[str, Any]] = field(default_factory=list)

    def add(self, result: CheckResult) -> None:
        self.found += results(result)
        self.domains.append(domain_properties(result))

    def render(self, *, total: int, interrupted: bool = False) -> str:
        worst = max((d["exitCode"] for d in self.domains), default=0)
        invocation = {"executionSuccessful": not interrupted, "exitCode": 130 if interrupted else worst}
        properties = {"domains": self.domains, "checked": len(self.domains), "listed": total}
        return text(document(self.found, properties, invocation))


__all__ = ["BatchSarif"]
