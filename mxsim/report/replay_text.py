"""`mxsim replay` as text: a table per scenario, then gates, paths and bounces per MTA."""

from __future__ import annotations

from mxsim.commands.replay import NO_GATES, MtaReplay, ReplayResult, ScenarioReplay
from mxsim.report.replay_series import text_lines, what_if_lines
from mxsim.units import format_duration


def pct(value: float) -> str:
    return f"{value:.1%}"


def dur(value: float | None) -> str:
    return "-" if value is None else format_duration(value)


def header(result: ReplayResult) -> str:
    resolvers = "1 resolver shared by all messages" if result.resolvers == 1 else f"{result.resolvers} resolvers"
    return (f"{result.messages} messages per MTA, arriving over {format_duration(result.arrival)} "
            f"({result.process.value}), {resolvers}, seed {result.seed}")


COLUMNS = ("MTA", "expected", "elsewhere", "bounced", "queued", "1st try", "p50", "p95", "max", "warned", "attempts")


def row(m: MtaReplay) -> tuple[str, ...]:
    return (m.mta, pct(m.share(m.delivered_expected)), pct(m.share(m.delivered_elsewhere)), pct(m.share(m.bounced)),
            pct(m.share(m.queued)), pct(m.share(m.first_attempt_success)), dur(m.delay_p50), dur(m.delay_p95),
            dur(m.delay_max), str(m.warned), str(m.attempts))


def table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) if i == 0 else cell.rjust(width) for i, (cell, width) in
                      enumerate(zip(r, widths, strict=True))).rstrip() for r in rows]


STATUS = {"pass": "PASS", "fail": "FAIL", NO_GATES: "no gates"}


def verdict_line(scenario: str, m: MtaReplay, *, width: int) -> str:
    """Delivered to expected hosts, first-attempt success, where first attempts failed, p95 delay."""
    failed = ", ".join(f"{host} {m.share(count):.1%}" for host, count in m.first_failures[:3])
    if len(m.first_failures) > 3:
        failed += ", …"
    first = f"1st try {pct(m.share(m.first_attempt_success))}" + (f" (failed: {failed})" if failed else "")
    return (f"{scenario:<{width}}  {m.mta:<9}  {STATUS[m.status]:<8}  {pct(m.share(m.delivered_expected))} "
            f"to expected hosts, {first}, p95 {dur(m.delay_p95)}")


def verdict_lines(result: ReplayResult) -> list[str]:
    width = max(len(s.scenario) for s in result.scenarios)
    return [verdict_line(s.scenario, m, width=width) for s in result.scenarios for m in s.results]


def scenario_lines(s: ScenarioReplay, *, top: int) -> list[str]:
    lines = [f"== {s.scenario}: {STATUS[s.status]}",
             f"expected hosts: {', '.join(s.deliver_to) or '(none)'}"]
    lines.extend(table([COLUMNS, *(row(m) for m in s.results)]))
    for m in s.results:
        lines.append("")
        gates = "; ".join(f"{g.message} {'PASS' if g.passed else 'FAIL'}" for g in m.gates) or "no gates"
        lines.append(f"{m.mta}: {gates}")
        lines.append("  paths:")
        lines.extend(f"    {m.share(count):>6.1%}  {path}" for path, count in m.paths[:top])
        if len(m.paths) > top:
            lines.append(f"    ({len(m.paths) - top} more paths)")
        if m.bounce_texts:
            lines.append("  bounces:")
            for text, count in m.bounce_texts[:top]:
                first, *more = text.splitlines()
                lines.append(f"    {count:>6}  {first}")
                lines.extend(f"            {line}" for line in more)
    return lines


def render(result: ReplayResult, *, top: int = 8, quiet: bool = False) -> str:
    if quiet:
        return "\n".join(verdict_lines(result)) + "\n"
    lines = [*verdict_lines(result), "", header(result), ""]
    for scenario in result.scenarios:
        lines.extend(scenario_lines(scenario, top=top))
        lines.extend(series_lines(scenario))
        lines.append("")
    compared = what_if_lines(result)
    lines.extend([*compared, ""] if compared else [])
    verdict = {"pass": "all gates pass", "fail": "a gate failed", NO_GATES: "no gates"}[result.status]
    lines.append(f"result: {verdict}")
    return "\n".join(lines) + "\n"


def series_lines(scenario: ScenarioReplay) -> list[str]:
    found = text_lines(scenario)
    return ["", *found] if found else []
