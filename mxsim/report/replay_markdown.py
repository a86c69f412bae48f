"""`mxsim replay --format markdown`: a summary for a CI job page, with a Mermaid path diagram."""

from __future__ import annotations

import re

from mxsim.commands.replay import NO_GATES, MtaReplay, ReplayResult
from mxsim.report.replay_series import markdown_lines, what_if_lines
from mxsim.report.replay_text import COLUMNS, dur, header, pct, row

MERMAID_PATHS = 6  # the most common paths per MTA; the rest are summed as "other"


MARK = {"pass": "✅ pass", "fail": "❌ fail", NO_GATES: "no gates"}

def _label(text: str) -> str:
    """Mermaid labels in quotes cannot hold quotes, and # and ; have meanings."""
    return re.sub(r'["#;]', "'", text)


def mermaid(scenario: str, m: MtaReplay) -> list[str]:
    lines = ["```mermaid", "flowchart LR"]
    start = f"{m.mta}_start"
    lines.append(f'  {start}(["{_label(m.mta)}: {m.messages} messages to {_label(scenario)}"])')
    shown = m.paths[:MERMAID_PATHS]
    for index, (path, count) in enumerate(shown):
        node = f"{m.mta}_p{index}"
        end = "delivered" if not path.endswith(("bounced", "still queued")) else path.rsplit(" then ", 1)[-1]
        lines.append(f'  {start} -- "{pct(m.share(count))}" --> {node}["{_label(path)}"]')
        lines.append(f'  {node} --> {m.mta}_{end.replace(" ", "_")}(("{end}"))')
    rest = sum(count for _path, count in m.paths[MERMAID_PATHS:])
    if rest:
        lines.append(f'  {start} -- "{pct(m.share(rest))}" --> {m.mta}_other["other paths"]')
    lines.append("```")
    return lines


def render(result: ReplayResult) -> str:
    lines = ["# mxsim replay", "", header(result), ""]
    for s in result.scenarios:
        lines.append(f"## {s.scenario}: {MARK[s.status]}")
        lines.append("")
        lines.append(f"Expected hosts: {', '.join(f'`{p}`' for p in s.deliver_to) or '(none)'}")
        lines.append("")
        lines.append("| " + " | ".join(COLUMNS) + " |")
        lines.append("|" + "---|" * len(COLUMNS))
        lines.extend("| " + " | ".join(row(m)) + " |" for m in s.results)
        lines.append("")
        lines.extend(markdown_lines(s))
        for m in s.results:
            gates = ", ".join(f"{'✅' if g.passed else '❌'} {g.message}" for g in m.gates) or "no gates"
            lines.append(f"### {m.mta}")
            lines.append("")
            lines.append(f"Gates: {gates}. Delay p50 {dur(m.delay_p50)}, p95 {dur(m.delay_p95)}.")
            lines.append("")
            lines.extend(mermaid(s.scenario, m))
            lines.append("")
            if m.bounce_texts:
                lines.append("Bounces:")
                lines.append("")
                lines.extend(f"- {count} × `{text.splitlines()[0]}`" for text, count in m.bounce_texts[:5])
                lines.append("")
    compared = what_if_lines(result)
    if compared:
        lines.extend(["## What if", "", *(f"- {line}" for line in compared), ""])
    return "\n".join(lines).rstrip() + "\n"
