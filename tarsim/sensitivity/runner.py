"""Running a study: each design point is a model (the study's model with the point's
parameter values set, as ``tarsim run --set`` does), simulated on the sweep's
executors, each run stored the moment it finishes in the sweep's results store,
so an interrupted study resumes where it stopped.

Every design point uses the same seed and replication indices: common random
numbers, so that the differences between points are the parameters' and not the
noise's. A point's key hashes its whole model, the horizon, the warm-up and the
seed, so stored runs are reused only by the point that made them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tarsim.config import ConfigError, Model, Problem, with_overrides
from tarsim.executors import Executor, RunTask
from tarsim.sensitivity.design import Design
from tarsim.sensitivity.loader import Study
from tarsim.sensitivity.study import OUTPUTS, SLO
from tarsim.sweep.points import point_key, show_value
from tarsim.sweep.stats import column, meets
from tarsim.sweep.store import RunStore

Progress = Callable[[int, int], None]


@dataclass
class StudyResult:
    """A study's design with each point's outputs, and what its method makes of them."""

    study: Study
    design: Design
    table: pd.DataFrame
    """One row per design point: the parameters' values, then each output."""
    analysis: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    executed: int = 0
    reused: int = 0
    wall_s: float = 0.0
    files: list[Path] = field(default_factory=list)
    failed: int = 0
    """Runs that raised or whose worker died (stored as failed; see ``notes``)."""


def point_models(study: Study, design: Design, base: Model | None = None) -> list[Model]:
    """The model of every design point (from *base*, default the study's model); a
    ConfigError names each point the model refuses (such as a lognormal median
    above its p99)."""
    models, problems = [], []
    fixed = dict(study.spec.overrides) if base is not None else {}
    for k, row in enumerate(design.values):
        overrides: dict[str, Any] = dict(fixed)
        for p, value in zip(study.parameters, row, strict=True):
            overrides.update(p.overrides(float(value)))
        try:
            models.append(with_overrides(base or study.model, overrides))
        except ConfigError as exc:
            label = ", ".join(f"{path}={show_value(v)}" for path, v in overrides.items())
            problems += [Problem(f"design point {k} ({label})", f"{p.path}: {p.rule}",
                                 p.value, None, p.has_value, p.hint) for p in exc.problems]
    if problems:
        raise ConfigError(problems[:10] + ([Problem("", f"... and {len(problems) - 10} "
                                                    "more", has_value=False)]
                                           if len(problems) > 10 else []), study.source)
    return models


def run_models(models: list[Model], study: Study, runner: Executor, store: RunStore,
               progress: Progress | None = None) -> tuple[list[str], int, int]:
    """Simulate *models* (each ``replications`` times, on the study's seeds) on
    *runner* unless their runs are in *store* already (a run that fails is stored
    as failed); (their keys, runs executed, runs reused)."""
    keys = [point_key(m, study.horizon, study.warmup, study.spec.seed) for m in models]
    reps = study.spec.replications
    wanted = {(key, r): model for key, model in zip(keys, models, strict=True)
              for r in range(reps)}
    missing = [(key, r) for (key, r) in wanted if not store.has(key, r)]
    executed = 0
    for key, r in missing:
        runner.submit(RunTask.of(key, r, wanted[(key, r)], study.horizon, study.warmup,
                                 study.spec.seed))
    while runner.pending():
        store.keep(runner.next_done())
        executed += 1
        if progress is not None:
            progress(executed, len(missing))
    return keys, executed, len(wanted) - len(missing)


def failure_notes(store: RunStore) -> list[str]:
    """A note on the runs that failed (their design points' outputs are undefined)."""
    if not store.failures:
        return []
    (key, r), error = next(iter(sorted(store.failures.items())))
    return [f"{len(store.failures)} run(s) failed (their design points have no outputs); "
            f"first: point {key} replication {r}: {error}"]


def outputs_table(study: Study, design: Design, keys: list[str],
                  store: RunStore) -> pd.DataFrame:
    """One row per design point: its parameter values, then each output's mean over
    the point's replications (``slo``: 1 when those means meet every SLO)."""
    limits = study.slo.limits()
    rows = []
    for k, key in enumerate(keys):
        done = store.runs_of(key)
        runs = [done[r] for r in range(study.spec.replications) if r in done]
        row: dict[str, Any] = {"point": k % len(design)}
        if design.roles:
            row["role"] = design.roles[k]
        for p, value in zip(study.parameters, design.values[k], strict=True):
            row[p.path] = p.setting(float(value))
        means = {}
        for path in set(OUTPUTS.values()) | set(limits):
            values = np.array([_number(run.get(path)) for run in runs], dtype=float)
            means[path] = float(np.nanmean(values)) if np.isfinite(values).any() else math.nan
        for name in study.outputs:
            if name == SLO:
                flat = {column(p): means[p] for p in limits}
                row[SLO] = float(meets(flat, limits))
            else:
                row[name] = means[OUTPUTS[name]]
        rows.append(row)
    return pd.DataFrame(rows)


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def manifest(result: StudyResult, command: list[str] | None = None) -> dict[str, Any]:
    """What the study was and how it ran."""
    from tarsim.sweep.runner import versions

    study = result.study
    spec = study.spec
    return {
        "study": spec.name, "source": study.source, "model": study.model.name,
        "method": spec.method, "samples": spec.samples, "levels": spec.levels,
        "seed": spec.seed, "replications": spec.replications,
        "horizon_s": study.horizon, "warmup_s": study.warmup,
        "fixed": {k: show_value(v) for k, v in study.fixed.items()},
        "slo_metrics": study.slo.limits(),
        "parameters": [{"path": p.path, "label": p.label, "dist": p.dist,
                        "low": p.ends()[0], "high": p.ends()[1], "base": p.base,
                        "integer": p.integer} for p in study.parameters],
        "outputs": study.outputs, "design_points": len(result.design),
        "runs": len(result.design) * spec.replications,
        "executed": result.executed, "reused": result.reused,
        "wall_s": round(result.wall_s, 3), "notes": result.notes,
        "command": command, "versions": versions(),
    }


def write_tables(result: StudyResult, out: Path,
                 command: list[str] | None = None) -> list[Path]:
    """design.csv (every point's values and outputs), one CSV per analysis table
    (Sobol's decides.csv: the top three per output) and manifest.json."""
    import json

    from tarsim.config.outputs import atomic_write_text
    from tarsim.metrics import json_safe

    out.mkdir(parents=True, exist_ok=True)
    tables = {"design": result.table, **result.analysis}
    written = [atomic_write_text(out / f"{name}.csv", frame.to_csv(index=False))
               for name, frame in tables.items()]
    text = json.dumps(json_safe(manifest(result, command)), indent=2)
    written.append(atomic_write_text(out / "manifest.json", text + "\n"))
    return written
