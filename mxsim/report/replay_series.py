"""Replay over time, in every format: the buckets of `--bucket`, the migration summary, and the deferrals.

Hosts are grouped by their last two labels (aspmx.l.google.com -> google.com), which is
how an admin names a provider; the JSON keeps every host name as attempted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mxsim.commands.replay import MtaReplay, ReplayResult, ScenarioReplay
from mxsim.commands.replay_series import Bucket, Deferrals, Migration
from mxsim.errors import UsageError
from mxsim.units import format_duration


def buckets_json(m: MtaReplay) -> list[dict[str, Any]]:
    return [{"start_s": b.start_s, "end_s": b.end_s, "messages": b.messages, "first_attempts": b.first_attempts,
             "first_attempt_hosts": dict(b.first_attempt_hosts), "delivered": b.delivered, "bounced": b.bounced,
             "deferred": b.deferred, "delivered_to": dict(b.delivered_to)} for b in m.buckets]


def migration_json(migration: Migration) -> dict[str, Any]:
    change = migration.change
    return {"change_at_s": change.at, "old_hosts": list(change.old_hosts), "new_hosts": list(change.new_hosts),
            "old_mx_ttl_s": change.old_ttl,
            "messages_after": migration.after, "reached_old": migration.reached_old,
            "share_reached_old": round(migration.share, 6), "last_old_attempt_s": migration.last_old_s,
            "fates": [{"fate": fate, "count": count} for fate, count in migration.fates]}


def deferrals_json(deferrals: Deferrals) -> dict[str, Any]:
    return {"messages": deferrals.messages, "delivered_later": deferrals.delivered,
            "still_queued": deferrals.still_queued, "wait_p50_s": deferrals.wait_p50_s,
            "wait_max_s": deferrals.wait_max_s, "last_drained_s": deferrals.last_drained_s}


def deferrals_line(m: MtaReplay) -> str | None:
    """How many messages waited, how long, and when the queue drained."""
    d = m.deferrals
    if d is None:
        return None
    line = f"{m.mta}: {d.messages} of {m.messages} messages deferred on their first attempt"
    if d.wait_p50_s is not None and d.wait_max_s is not None and d.last_drained_s is not None:
        line += (f"; {d.delivered} delivered later, after waiting p50 {format_duration(d.wait_p50_s)}, "
                 f"max {format_duration(d.wait_max_s)}; the last drained at {format_duration(d.last_drained_s)}")
    return line + (f"; {d.still_queued} still queued at the end" if d.still_queued else "")


def _clock(seconds: float) -> str:
    return format_duration(seconds) if seconds else "0s"


def group(host: str) -> str:
    labels = host.rstrip(".").split(".")
    return ".".join(labels[-2:]) if len(labels) >= 2 else host


def groups(buckets: tuple[Bucket, ...]) -> list[str]:
    found: dict[str, int] = {}
    for bucket in buckets:
        for host, count in bucket.first_attempt_hosts:
            found[group(host)] = found.get(group(host), 0) + count
    return sorted(found, key=lambda name: (-found[name], name))


def shares(bucket: Bucket, names: list[str]) -> list[float]:
    totals = dict.fromkeys(names, 0)
    for host, count in bucket.first_attempt_hosts:
        totals[group(host)] += count
    return [totals[name] / bucket.first_attempts if bucket.first_attempts else 0.0 for name in names]


def migration_line(m: MtaReplay) -> str | None:
    migration = m.migration
    if migration is None:
        return None
    change = migration.change
    last = _last(migration)
    fates = "; ".join(f"{fate} {count}" for fate, count in migration.fates) or "none"
    return (f"{m.mta}: MX changed at {format_duration(change.at)} ({', '.join(change.old_hosts)} -> "
            f"{', '.join(change.new_hosts)}): {migration.share:.1%} of {migration.after} messages after it still "
            f"reached the old hosts, the last attempt there at {last}; what became of them: {fates}")


WHAT_IF = " (what-if "


def what_if_lines(result: ReplayResult) -> list[str]:
    """Each --what-if variant beside its scenario, MTA by MTA, and the advice the numbers support."""
    by_name = {s.scenario: s for s in result.scenarios}
    lines: list[str] = []
    for variant in result.scenarios:
        base_name, sep, label = variant.scenario.partition(WHAT_IF)
        base = by_name.get(base_name)
        if not sep or base is None:
            continue
        label = label.rstrip(")")
        for before, after in zip(base.results, variant.results, strict=True):
            if before.migration is None or after.migration is None:
                continue
            lines.append(f"{base_name} · {before.mta}: {before.migration.share:.1%} of the mail after the MX change "
                         f"still reached the old hosts, the last at {_last(before.migration)}; with {label}: "
                         f"{after.migration.share:.1%}, the last at {_last(after.migration)}")
        change = next((m.migration.change for m in base.results if m.migration is not None), None)
        if change is not None and lines:
            old = format_duration(change.old_ttl)
            lines.append(f"advice: lower the MX TTL to {label.removeprefix('ttl=')} at least {old} (the old TTL) "
                         "before changing the MX, so that every cache holds the lower TTL by then")
    return lines


def _last(migration: Migration) -> str:
    return "none" if migration.last_old_s is None else format_duration(migration.last_old_s)


def text_lines(scenario: ScenarioReplay) -> list[str]:
    lines: list[str] = []
    for m in scenario.results:
        lines.extend(line for line in (migration_line(m), deferrals_line(m)) if line is not None)
        if not m.buckets:
            continue
        names = groups(m.buckets)
        lines.append(f"{m.mta} over time (first attempts by provider; attempts that ended in each bucket):")
        lines.append("  " + "  ".join([f"{'from':>9}", f"{'msgs':>5}", *(f"{n[:14]:>14}" for n in names),
                                       f"{'deliv':>6}", f"{'bounce':>6}", f"{'defer':>6}"]))
        for bucket in m.buckets:
            cells = [f"{_clock(bucket.start_s):>9}", f"{bucket.messages:>5}",
                     *(f"{share:>14.1%}" for share in shares(bucket, names)),
                     f"{bucket.delivered:>6}", f"{bucket.bounced:>6}", f"{bucket.deferred:>6}"]
            lines.append("  " + "  ".join(cells))
    return lines


def markdown_lines(scenario: ScenarioReplay) -> list[str]:
    lines: list[str] = []
    for m in scenario.results:
        for line in (migration_line(m), deferrals_line(m)):
            if line is not None:
                lines.extend([line, ""])
        if not m.buckets:
            continue
        names = groups(m.buckets)
        lines.append(f"Share of first attempts reaching each provider over time ({m.mta}); lines in order: "
                     + ", ".join(f"{index + 1}. `{name}`" for index, name in enumerate(names)) + ".")
        lines.append("")
        labels = ", ".join(f'"{_clock(b.start_s)}"' for b in m.buckets)
        lines.extend(["```mermaid", "xychart-beta", f'  title "{m.mta}: first attempts by provider"',
                      f"  x-axis [{labels}]", '  y-axis "share of first attempts (%)" 0 --> 100'])
        series = [shares(bucket, names) for bucket in m.buckets]
        for index in range(len(names)):
            lines.append("  line [" + ", ".join(f"{100 * row[index]:.1f}" for row in series) + "]")
        lines.extend(["```", ""])
    return lines


def plot_svg(result: ReplayResult, path: Path) -> None:
    """One panel per scenario x MTA: the share of first attempts per provider, per bucket."""
    try:
        import matplotlib

        matplotlib.use("svg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install 'mxsim[plot]'") from None
    panels = [(s.scenario, m) for s in result.scenarios for m in s.results if m.buckets]
    if not panels:
        raise UsageError("--plot needs --bucket (there is no series to draw)")
    figure, axes = plt.subplots(len(panels), 1, figsize=(8, 2.6 * len(panels)), squeeze=False)
    for (scenario, m), axis in zip(panels, axes[:, 0], strict=True):
        names = groups(m.buckets)
        hours = [b.start_s / 3600 for b in m.buckets]
        for index, name in enumerate(names):
            axis.step(hours, [100 * shares(b, names)[index] for b in m.buckets], where="post", label=name)
        if m.migration is not None:
            axis.axvline(m.migration.change.at / 3600, color="grey", linestyle=":", label="MX change")
        axis.set_title(f"{scenario} · {m.mta}", fontsize=9)
        axis.set_ylabel("first attempts (%)")
        axis.set_ylim(0, 100)
        axis.legend(fontsize=7, loc="center right")
    axes[-1, 0].set_xlabel("hours after the start")
    figure.tight_layout()
    # A fixed hash salt and no date: the same replay draws the same bytes.
    matplotlib.rcParams["svg.hashsalt"] = "mxsim"
    try:
        figure.savefig(path, format="svg", metadata={"Date": None})
    except OSError as error:
        raise UsageError(f"--plot {path}: {error.strerror}") from None
    finally:
        plt.close(figure)
