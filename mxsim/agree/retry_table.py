"""The retries table of docs/agreement.md: one row per retry case, one column per MTA."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mxsim.agree.errors import AgreeError
from mxsim.agree.retry import RetryComparison


def cell(result: RetryComparison | AgreeError) -> str:
    """`agreed (deferred, then delivered)`, `agreed (deferred, then bounced: retry timeout exceeded)`,
    `differs: queue run dns`, or `could not run`."""
    if isinstance(result, AgreeError):
        return "could not run"
    if not result.agreed:
        parts = [f"{phase} {f.name}" for phase, comparison in (("first", result.first), ("queue run", result.retry))
                 for f in comparison.differing()]
        return "differs: " + ", ".join(parts)
    told = result.retry.real.expired  # what an expired message's sender is told, compared too
    return f"agreed ({result.first.real.outcome}, then {result.retry.real.outcome}" + (f": {told})" if told else ")")


def markdown(results: Mapping[tuple[str, str], RetryComparison | AgreeError], cases: Sequence[str],
             mtas: Sequence[str]) -> str:
    versions = {mta: next((r.first.real.version for (c, m), r in results.items()
                           if m == mta and isinstance(r, RetryComparison)), "") for mta in mtas}
    head = "| Retry case | " + " | ".join(f"{m} {versions[m]}".strip() for m in mtas) + " |"
    lines = [head, "|---|" + "---|" * len(mtas)]
    for case in cases:
        row = [cell(results[(case, mta)]) if (case, mta) in results else "-" for mta in mtas]
        lines.append(f"| `{case}` | " + " | ".join(row) + " |")
    agreed = sum(1 for r in results.values() if isinstance(r, RetryComparison) and r.agreed)
    lines += ["", f"{agreed} of {len(results)} agreed."]
    return "\n".join(lines) + "\n"
