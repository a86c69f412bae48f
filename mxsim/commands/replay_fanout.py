"""`mxsim replay` fanned out: scenarios x MTAs x seeds x settings, one run each, then merged.

A run is one scenario under one MTA, at one seed, with one setting of the swept
parameters (`--sweep NAME=V1,V2`; repeated, a grid). A run draws only from its seed, its
scenario and its MTA (`commands/replay.py` seeds each MTA run so), so runs done apart, in
any order and on any machine, merge into the report one process writes: the merge
places each run by the plan, never by when it finished.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from mxsim.commands.replay import MtaReplay, Progress, ReplayConfig, ReplayResult, ScenarioReplay, run_replay
from mxsim.engine import overrides_for, profiles_for, recipient_of
from mxsim.errors import UsageError

MAX_RUNS = 100_000  # a grid past this is a typo (a seed range with an extra digit), not a plan
Setting = tuple[tuple[str, str], ...]  # (NAME, VALUE) for each swept parameter, in --sweep order
Axes = tuple[tuple[str, tuple[str, ...]], ...]  # each swept NAME with its values


@dataclass(frozen=True, slots=True)
class Run:
    """One unit of work: which scenario (its place in the command line), MTA, seed and setting."""

    scenario: int
    mta: str
    seed: int
    setting: Setting


@dataclass(frozen=True, slots=True)
class Point:
    """One seed and setting: every scenario under every MTA, as one `replay` would report it."""

    seed: int
    setting: Setting
    result: ReplayResult


@dataclass(frozen=True, slots=True)
class Plan:
    config: ReplayConfig
    seeds: tuple[int, ...]
    axes: Axes
    runs: tuple[Run, ...]  # scenario, then MTA, then seed, then setting: the order of the merged report
    grid: bool  # --seeds or --sweep given: the report is one of runs, not one replay

    @property
    def settings(self) -> tuple[Setting, ...]:
        return settings_of(self.axes)


def parse_seeds(text: str) -> tuple[int, ...]:
    """`A..B` (both included) or one seed."""
    first, sep, last = text.partition("..")
    try:
        low = int(first)
        high = int(last) if sep else low
    except ValueError:
        raise UsageError(f"--seeds {text!r}: expected A..B, e.g. 1..20") from None
    if high < low:
        raise UsageError(f"--seeds {text!r}: the last seed is below the first")
    if high - low >= MAX_RUNS:
        raise UsageError(f"--seeds {text!r}: more than {MAX_RUNS} seeds")
    return tuple(range(low, high + 1))


def parse_sweep(options: Sequence[str]) -> Axes:
    """`NAME=V1,V2,…` per option, NAME as for `-o` (`smtp_mx_address_limit`, `exim:retry`)."""
    axes: dict[str, tuple[str, ...]] = {}
    for option in options:
        name, sep, values = option.partition("=")
        name = name.strip()
        choices = tuple(v.strip() for v in values.split(","))
        if not sep or not name or not all(choices):
            raise UsageError(f"--sweep {option!r}: expected NAME=V1,V2,…, e.g. smtp_mx_address_limit=2,5,10")
        if name in axes:
            raise UsageError(f"--sweep {name}: given twice; list every value in one --sweep")
        axes[name] = tuple(dict.fromkeys(choices))
    return tuple(axes.items())


def settings_of(axes: Axes) -> tuple[Setting, ...]:
    names = [name for name, _ in axes]
    return tuple(tuple(zip(names, values, strict=True)) for values in itertools.product(*(v for _, v in axes)))


def plan(config: ReplayConfig, seeds: tuple[int, ...] | None, axes: Axes) -> Plan:
    """Every run, each scenario's recipient and every setting's parameters checked before any runs."""
    if config.messages < 1:
        raise UsageError("--messages must be at least 1")
    if config.resolvers < 1:
        raise UsageError("--resolvers must be at least 1")
    chosen = seeds or (config.seed,)
    settings = settings_of(axes)
    count = len(chosen) * len(settings) * sum(len(config.mtas or s.mta) for s in config.specs)
    if count > MAX_RUNS:
        raise UsageError(f"{count} runs planned, more than {MAX_RUNS}: fewer seeds or swept values")
    runs = []
    for index, spec in enumerate(config.specs):
        recipient_of(spec, config.recipient)
        mtas = config.mtas or spec.mta
        for setting in settings:
            profiles_for(mtas, _with(config.overrides, setting))
        runs += [Run(index, mta, seed, setting) for mta in mtas for seed in chosen for setting in settings]
    return Plan(config, chosen, axes, tuple(runs), grid=seeds is not None or bool(axes))


def _with(overrides: Mapping[str, str], setting: Setting) -> dict[str, str]:
    return {**overrides, **dict(setting)}


def run_config(plan: Plan, run: Run) -> ReplayConfig:
    """The replay of one run alone: its scenario, its MTA, its seed, its parameters named for its MTA.

    An unprefixed `-o NAME=V` goes to whichever of the scenario's MTAs has NAME; with one MTA
    left, each parameter is given as `MTA:NAME`, so it reaches the same profile as before.
    """
    config = plan.config
    spec = config.specs[run.scenario]
    mtas = config.mtas or spec.mta
    chosen = overrides_for(run.mta, _with(config.overrides, run.setting), mtas)
    return dataclasses.replace(config, specs=(spec,), mtas=(run.mta,), seed=run.seed,
                               overrides={f"{run.mta}:{name}": value for name, value in chosen.items()})


def run_one(config: ReplayConfig, progress: Progress | None = None) -> MtaReplay:
    """A run's replay (from `run_config`), anywhere: in this process or on a worker."""
    (scenario,) = run_replay(config, progress).scenarios
    (result,) = scenario.results
    return result


def run_here(plan: Plan, progress: Progress | None = None) -> dict[Run, MtaReplay]:
    """Every run in this process, in the plan's order."""
    return {run: run_one(run_config(plan, run), progress) for run in plan.runs}


def merge(plan: Plan, results: Mapping[Run, MtaReplay]) -> tuple[Point, ...]:
    """The runs as one replay per seed and setting, in the plan's order whatever the finishing order."""
    config = plan.config
    points = []
    for seed in plan.seeds:
        for setting in plan.settings:
            scenarios = []
            for index, spec in enumerate(config.specs):
                mtas = config.mtas or spec.mta
                scenarios.append(ScenarioReplay(spec.name, spec.description, spec.expect.deliver_to,
                                                tuple(results[Run(index, m, seed, setting)] for m in mtas)))
            points.append(Point(seed, setting, ReplayResult(seed, config.messages, config.arrival, config.process,
                                                            config.resolvers, tuple(scenarios))))
    return tuple(points)


Runner = Callable[[Plan], Mapping[Run, MtaReplay]]
