"""`mxsim replay` over seeds, settings or a cluster: plan the runs, run them, write one report."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from mxsim.cli.cluster_options import cluster_option
from mxsim.errors import UsageError
from mxsim.exits import ReplayExit

if TYPE_CHECKING:
    from mxsim.commands.replay import Progress, ReplayConfig, ReplayResult
    from mxsim.commands.replay_fanout import Plan, Point, Run

MessagesBar = Callable[[bool], AbstractContextManager["Progress | None"]]


def replay_runs(config: ReplayConfig, seeds: str | None, sweep: list[str], workers: int | None, dask: str | None,
                output_format: str, output: Path | None, quiet: bool, progress: bool,
                render_one: Callable[[ReplayResult], str], progress_bar: MessagesBar, plot: Path | None) -> None:
    """Every run of the plan, here or on the cluster; exits (1 when a gate failed).

    `render_one` writes the report of one seed and setting as `replay` does; `progress_bar`
    is `replay`'s bar of messages, shown when the runs go through this process; `plot`
    (one seed and setting only) is where `--plot` draws the merged replay.
    """
    from mxsim.commands.replay_fanout import merge, parse_seeds, parse_sweep, plan, run_here

    chosen = plan(config, parse_seeds(seeds) if seeds is not None else None, parse_sweep(sweep))
    cluster = cluster_option(workers, dask)
    if cluster is None:
        with progress_bar(progress) as tick:
            results = run_here(chosen, tick)
    else:
        from mxsim.distribute.replay import run_on

        with runs_bar(progress, len(chosen.runs)) as done:
            results = run_on(cluster, chosen, done)
    points = merge(chosen, results)
    report = _render(chosen, points, output_format, quiet, render_one)
    if plot is not None:
        from mxsim.report.replay_series import plot_svg

        (point,) = points
        plot_svg(point.result, plot)
    if output is not None:
        try:
            output.write_text(report)
        except OSError as error:
            raise UsageError(f"--output {output}: {error.strerror}") from None
    else:
        sys.stdout.write(report)
    passed = all(p.result.passed for p in points)
    raise typer.Exit(0 if passed else int(ReplayExit.GATE_FAILED))


def _render(chosen: Plan, points: tuple[Point, ...], output_format: str, quiet: bool,
            render_one: Callable[[ReplayResult], str]) -> str:
    if not chosen.grid:  # one seed, no sweep: the report `replay` always writes, whoever ran it
        (point,) = points
        return render_one(point.result)
    from mxsim.report import replay_runs

    return {"text": lambda: replay_runs.render_text(points, quiet=quiet),
            "json": lambda: replay_runs.render_json(chosen, points),
            "junit": lambda: replay_runs.render_junit(points),
            "markdown": lambda: replay_runs.render_markdown(points)}[output_format]()


@contextmanager
def runs_bar(enabled: bool, total: int) -> Iterator[Callable[[Run], None] | None]:
    """Runs done of all on stderr, only on a terminal: a cluster reports runs, not messages."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("runs"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  transient=True) as bar:
        task = bar.add_task("runs", total=total)
        yield lambda _run: bar.advance(task, 1)
