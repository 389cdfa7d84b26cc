"""One question, one answer (part of :mod:`tarsim.api`, which re-exports it): a point
of an experiment run as its sweep runs it, so that ``tarsim run --experiment``, the
notebooks and the sweep agree; experiments narrowed to some tiers; variants compared
on common random numbers; the sweep's decision table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tarsim.config import ConfigError, Model, Problem, load_model
from tarsim.sweep import select as _select
from tarsim.sweep.loader import Experiment
from tarsim.sweep.loader import load_experiment as _load_experiment
from tarsim.sweep.points import Point

if TYPE_CHECKING:
    from tarsim.replications import RunResult
    from tarsim.sweep.runner import SweepResult

DEFAULT_DURATION_S = 300.0


def narrowed_experiment(path: str | Path, *, tiers: Sequence[str] | None = None,
                        changes: Mapping[str, Any] | None = None) -> Experiment:
    """An experiment file with only some *tiers* and top-level keys replaced by
    *changes* (``{"horizon": "40s"}``); its ``set:`` block kept as the file says."""
    return _select.narrowed(path, tiers=tiers, changes=changes)


def point(experiment: Experiment | str | Path, tier: str | None = None,
          number: int | None = None) -> Point:
    """Point *number* of an experiment (as its tables number them), or *tier*'s
    first configuration at the tier's highest load."""
    if not isinstance(experiment, Experiment):
        experiment = _load_experiment(experiment)
    return _select.find_point(experiment, tier, number)


def run_point(experiment: Experiment | str | Path, tier: str | None = None,
              number: int | None = None, *, replications: int | None = None,
              rate: float | None = None, agents: int | None = None,
              overrides: Mapping[str, Any] | None = None, duration: float | None = None,
              warmup: float | None = None, seed: int | None = None,
              keep_records: bool = True, force: bool = False,
              workers: int | None = None) -> RunResult:
    """A point of an experiment run as its sweep runs it (its ``set:``, horizon,
    warm-up, seed and replications), unless changed by ``--set`` *overrides*, a
    *rate*, an *agents* count or the run settings given (*workers*: a local pool)."""
    from tarsim.replications import run

    if not isinstance(experiment, Experiment):
        experiment = _load_experiment(experiment)
    from tarsim.sweep.screen import Screener, drained_model
    from tarsim.sweep.timing import point_timing

    model = adjusted(_select.find_point(experiment, tier, number).model, rate=rate,
                     agents=agents, overrides=overrides)
    spec = experiment.spec
    # as the sweep prepares a point: limits demanded past their rate start drained, and
    # the point runs for its own timing (sweep.timing)
    found = Screener(experiment.slo.limits()).screen(model)
    timing = point_timing(spec, found, model)
    model = drained_model(model, found)
    if warmup is None and duration in (None, spec.horizon, timing.horizon):
        warmup = timing.warmup
    return run(model, duration=timing.horizon if duration is None else duration, warmup=warmup,
               seed=spec.seed if seed is None else seed, keep_records=keep_records,
               replications=replications or _select.replications_of(experiment), force=force,
               executor="local" if workers else "serial", workers=workers)


def adjusted(model: Model, *, rate: float | None = None, agents: int | None = None,
             overrides: Mapping[str, Any] | None = None) -> Model:
    """*model* with ``--set`` *overrides*, an open-loop *rate* and an *agents* count."""
    return _select.adjusted(model, rate=rate, agents=agents, overrides=overrides)


def compare(model: Model | str | Path, variants: Mapping[str, Mapping[str, Any]], *,
            duration: float = DEFAULT_DURATION_S, warmup: float | None = None,
            seed: int = 1, replications: int = 5) -> dict[str, Any]:
    """Each variant (name -> ``--set`` overrides on *model*) run on the same seeds:
    per metric, each variant's mean and its paired difference from the first
    variant with a 95 % CI (common random numbers make the pairs)."""
    from tarsim.config import with_overrides
    from tarsim.replications import run

    model = model if isinstance(model, Model) else load_model(model)
    if len(variants) < 2:
        raise ConfigError([Problem("--variant", "needs at least two variants to compare",
                                   list(variants))])
    per_variant = {
        name: run(with_overrides(model, changes) if changes else model, duration=duration,
                  warmup=warmup, seed=seed, replications=replications,
                  keep_records=False).replications
        for name, changes in variants.items()}
    return _select.paired(per_variant)


def decision_table(result: SweepResult) -> str:
    """The decision table ``tarsim sweep`` prints, for a sweep's result."""
    from tarsim.report.decision import decide
    from tarsim.report.table import decision_table as _table

    limits = result.experiment.slo.limits()
    return _table(decide(result.summary, result.recommendations, limits,
                         calibrated_up_to=result.experiment.spec.calibrated_up_to), limits)
