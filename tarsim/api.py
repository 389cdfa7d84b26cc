"""The Python API: what the CLI and the notebooks call.

Plain values and pandas frames in and out; nothing here prints or exits.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tarsim import executors
from tarsim.api_studies import hypotheses, load_study, sensitivity, study_charts  # noqa: F401
from tarsim.config import ConfigError, Model, Problem
from tarsim.config import load_model as _load_model
from tarsim.config import validate as _validate
from tarsim.config import with_overrides as _with_overrides
from tarsim.config.outputs import (
    check_output_folder,
    folder_lock,
    writing,
)

# one what-if (tarsim.replications, below the sweep): part of this API
from tarsim.replications import DEFAULT_DURATION_S, DEFAULT_WARMUP_FRACTION, check_run_args
from tarsim.replications import RunResult as RunResult
from tarsim.replications import check_timeline_path as check_timeline_path
from tarsim.replications import run as run
from tarsim.replications import timeline as timeline
from tarsim.replications import write_timeline as write_timeline
from tarsim.run import simulate
from tarsim.sweep.capacity import Capacity, Probe
from tarsim.sweep.capacity import search as _search
from tarsim.sweep.experiment import SLOSpec
from tarsim.sweep.loader import Experiment, experiment_from_data
from tarsim.sweep.loader import load_experiment as _load_experiment

if TYPE_CHECKING:
    import altair as alt
    import pandas as pd

    from tarsim.calibrate.baseline import Baseline
    from tarsim.calibrate.calibration import Calibration

    # Calibration, sweeps and reports need pandas (and more): they are imported inside the
    # functions that use them, so that `tarsim run` starts as fast as the engine allows.
    from tarsim.scenarios import Plan, ScenarioResult
    from tarsim.sweep.runner import Progress, SweepResult

def load_model(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Model:
    """Read and validate a model file, with optional ``{"agents.count": 10}`` overrides."""
    return _load_model(path, overrides)


def with_overrides(model: Model, overrides: Mapping[str, Any]) -> Model:
    """A copy of *model* with dotted paths set (values as YAML would give them)."""
    return _with_overrides(model, overrides)


def load_scenarios(path: str | Path) -> Plan:
    """Read and check a scenario file, its model, and every model its scenarios
    will simulate (a ConfigError lists every problem)."""
    from tarsim.scenarios import load_plan

    return load_plan(path)


def scenarios(path: str | Path | Plan, only: Sequence[str] = (), *,
              executor: str = executors.SERIAL, workers: int | None = None
              ) -> list[ScenarioResult]:
    """Run the scenarios of a scenario file (or only those named) on *executor*
    (``serial``, or ``local`` with *workers* processes) and return one result per
    scenario: its name, type, purpose, key result and the numbers behind it."""
    from tarsim.scenarios import Plan, run_plan

    plan = path if isinstance(path, Plan) else load_scenarios(path)
    with executors.make_executor(executor, workers=workers, run=executors.record_run) as runner:
        return run_plan(plan, only, runner)


def read_baseline(path: str | Path | Sequence[str | Path], **import_options: Any) -> Baseline:
    """A measured baseline from one or more files or glob patterns: the plain CSV,
    a Locust run's ``*_stats.csv`` / ``*_stats_history.csv`` / ``*_failures.csv``
    (read together), a raw per-request CSV, or a k6 summary JSON; *import_options*
    (``agents``, ``load``, ``load_kind``) label imported rows."""
    from tarsim.calibrate.sources import read_baselines

    paths = [path] if isinstance(path, str | Path) else list(path)
    return read_baselines(paths, **import_options)


def calibrate(
    model: Model | str | Path,
    baseline: Baseline | str | Path,
    *,
    fit: list[str] | None = None,
    holdout: list[int] | None = None,
    leave_one_out: bool = True,
    duration: float | None = None,
    warmup: float | None = None,
    replications: int | None = None,
    seed: int | None = None,
    max_iterations: int | None = None,
    progress: Callable[[str], None] | None = None,
    executor: str = executors.SERIAL,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
) -> Calibration:
    """Check a baseline, fit *fit* paths of *model* to it (when None: the usual
    unknowns the baseline measures, plus the rate of every limit that binds), and
    measure the prediction error on held-out rows (1-based *holdout*, or leave-one-out).
    Returns a ``Calibration``: ``.as_dict()`` is the ``tarsim calibrate`` JSON;
    ``.result.model`` the calibrated model.

    Runtime: each evaluation simulates every row for *duration* s (default 60) x
    *replications* (default 2), on *executor* (as :func:`sweep`; the result is the same
    on any); the fit scans 8 points per continuous parameter (at most 64), then runs at
    most *max_iterations* (default 20) least-squares evaluations plus their finite
    differences from each of 3 starts; each hold-out refit repeats the fit.
    """
    from tarsim.calibrate.baseline import Baseline
    from tarsim.calibrate.calibration import calibrate as _calibrate
    from tarsim.calibrate.fit import FitSettings, calibration_runner

    if not isinstance(model, Model):
        model = load_model(model)
    if not isinstance(baseline, Baseline):
        baseline = read_baseline(baseline)
    given: dict[str, Any] = {"duration_s": duration, "warmup_s": warmup, "seed": seed,
                             "replications": replications, "max_iterations": max_iterations}
    settings = replace(FitSettings(), **{k: v for k, v in given.items() if v is not None})
    if duration is not None and warmup is None:
        settings = replace(settings, warmup_s=duration * DEFAULT_WARMUP_FRACTION)
    check_run_args(settings.duration_s, settings.warmup_s, settings.seed,
                    settings.replications)
    with calibration_runner(executor, workers=workers, scheduler=scheduler,
                            client=client) as runner:
        return _calibrate(model, baseline, fit, holdout, leave_one_out, settings, progress,
                          runner)


# ---------------------------------------------------------------- sweeps
FILE_KINDS = ("model", "experiment", "scenario file")


def file_kind(path: str | Path) -> str:
    """Which kind of file *path* is - ``model``, ``experiment`` or ``scenario
    file`` - told by its top-level keys: the one kind that knows them all, or,
    when several do, the one whose required keys are all there. A file no kind
    knows entirely is taken for the kind that knows most of its keys (whose
    loader then names the unknown ones); a tie is a ConfigError naming the kinds."""
    from tarsim.config import load_data
    from tarsim.scenarios.spec import ScenarioFile
    from tarsim.sweep.experiment import ExperimentSpec

    data, _lines = load_data(path)
    if not isinstance(data, dict):
        return "model"  # its loader says what a file must hold
    keys = set(data)
    fields = {kind: schema.model_fields for kind, schema in
              (("model", Model), ("experiment", ExperimentSpec), ("scenario file", ScenarioFile))}
    known = {kind: {f.alias or name for name, f in found.items()}
             for kind, found in fields.items()}
    required = {kind: {f.alias or name for name, f in found.items() if f.is_required()}
                for kind, found in fields.items()}
    fitting = [kind for kind in FILE_KINDS if keys <= known[kind]]
    if len(fitting) > 1:
        fitting = [kind for kind in fitting if required[kind] <= keys] or fitting
    elif not fitting:
        most = max(len(keys & known[kind]) for kind in FILE_KINDS)
        fitting = [kind for kind in FILE_KINDS if len(keys & known[kind]) == most]
    if len(fitting) == 1:
        return fitting[0]
    kinds = " or ".join(_article(kind) for kind in fitting)
    needs = "; ".join(f"{_article(kind)} needs {', '.join(sorted(required[kind]))}"
                      for kind in fitting)
    raise ConfigError([Problem("", f"could be {kinds}: its top-level keys do not tell "
                               f"({needs})", sorted(keys))], source=str(path))


def _article(kind: str) -> str:
    return ("an " if kind[0] in "aeiou" else "a ") + kind


def load_experiment(path: str | Path, model: str | Path | None = None) -> Experiment:
    """Read and validate an experiment file, its model (or *model*, a model file in
    its place, relative to the current folder) and every point."""
    if model is not None:
        from tarsim.sweep.loader import experiment_with_model

        return experiment_with_model(path, model)
    return _load_experiment(path)


def experiment(data: Mapping[str, Any], base_dir: str | Path = ".") -> Experiment:
    """An experiment given as a mapping (what its YAML file would hold, units
    included: ``{"model": "models/tars.yaml", "horizon": "60s", ...}``), its
    ``model`` path relative to *base_dir*; validated like a file."""
    return experiment_from_data(dict(data), base_dir)


def sweep(
    experiment: Experiment | str | Path,
    *,
    out: str | Path | None = None,
    executor: str = executors.LOCAL,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    resume: bool = False,
    retry_failed: bool = False,
    progress: Progress | None = None,
    command: list[str] | None = None,
    write_report: bool = True,
    screen: bool = True,
    force: bool = False,
) -> SweepResult:
    """Run an experiment's points x replications on *executor* (``serial``,
    ``local`` with *workers* processes, or ``dask`` at *scheduler* or through a
    distributed *client*), and with *out* write its tables, manifest, report and
    charts there. *resume* keeps the runs already in *out* and does only the rest
    (and runs failed runs again with *retry_failed*). A folder holding files tarsim
    did not write is refused unless *force*, as is work far beyond the machine;
    a folder another sweep is writing is refused. *screen* False simulates the
    points screening would leave out."""
    from tarsim.sweep.budget import check_experiment_work
    from tarsim.sweep.runner import run_sweep, write_tables
    from tarsim.sweep.store import made_by_tarsim

    if not isinstance(experiment, Experiment):
        experiment = load_experiment(experiment)
    if not force:
        check_experiment_work(experiment, workers or os.cpu_count() or 1)
    folder = Path(out) if out is not None else None
    if folder is not None:
        check_output_folder(folder, "--out", ours=made_by_tarsim, reuse=resume or force)
    with folder_lock(folder) if folder is not None else contextlib.nullcontext():
        with executors.make_executor(executor, workers=workers, scheduler=scheduler,
                                     client=client) as engine:
            result = run_sweep(experiment, engine, out=folder, resume=resume,
                               retry_failed=retry_failed, progress=progress,
                               screen=screen)
        if folder is not None:
            with writing(folder, "--out"):
                result.files = write_tables(result, folder, command)
                result.files += report(folder, result) if write_report else []
    return result


def dry_run(experiment: Experiment | str | Path, *, workers: int = 1) -> pd.DataFrame:
    """The points of *experiment* with an estimate of their wall time on *workers*
    processes. Two pilot runs of the busiest point (about 1,000 and 10,000
    arrivals) fit wall time = start-up + cost per arrival x arrivals."""
    import time

    from tarsim.sweep.budget import offered_rate
    from tarsim.sweep.runner import estimate

    if not isinstance(experiment, Experiment):
        experiment = load_experiment(experiment)
    spec = experiment.spec
    busiest = max(experiment.points, key=lambda p: offered_rate(p.model))
    rate = max(offered_rate(busiest.model), 1e-9)
    measured = []
    for arrivals in (1_000, 10_000):
        started = time.perf_counter()
        rec = simulate(busiest.model, duration=arrivals / rate, warmup=0.0, seed=spec.seed)
        measured.append((len(rec.requests), time.perf_counter() - started))
    (n1, t1), (n2, t2) = measured
    per_arrival = max(0.0, (t2 - t1) / (n2 - n1)) if n2 > n1 else t2 / max(1, n2)
    startup = max(0.0, t2 - per_arrival * n2)
    table = estimate(experiment, per_arrival, startup)
    table["estimate_s"] = table["estimate_s"] / max(1, workers)
    return table


def report(out: str | Path, result: SweepResult | None = None) -> list[Path]:
    """Write report.html and charts/*.png into *out*, from *result* or from the
    tables and manifest a sweep left there."""
    import pandas as pd

    from tarsim.report.html import write_report  # altair is slow to import: only when used
    from tarsim.sweep.recommend import total_costs
    from tarsim.sweep.runner import manifest

    folder = Path(out)
    if result is not None:
        summary = total_costs(result.summary, result.experiment.spec.costs.agent_per_hour_usd)
        recs = result.recommendations
        info = manifest(result)
    else:
        try:
            info = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
            summary = pd.read_parquet(folder / "summary.parquet")
            recs = pd.read_csv(folder / "recommendations.csv", keep_default_na=True)
        except FileNotFoundError as exc:
            raise ConfigError([Problem(str(folder), f"holds no sweep results ({exc.filename} "
                                       "is missing)", has_value=False)]) from None
        summary = total_costs(summary, float(info.get("agent_per_hour_usd") or 0.0))
        recs["runner_up"] = recs["runner_up"].fillna("")
    facts = {
        "experiment": f"{info['experiment']} ({info['experiment_file']})",
        "model": f"{info['model']} ({info['model_file']})",
        "seed": info["seed"], "horizon": _timing_fact(info["horizon_s"], info["warmup_s"]),
        "replications": info["replications"],
        "points / runs": f"{info['points']:,} / {info['runs']:,}",
    }
    return write_report(folder, summary, recs, info["slo_metrics"], facts,
                        f"tarsim sweep: {info['experiment']}",
                        calibrated_up_to=info.get("calibrated_up_to"))


def _timing_fact(horizon: Any, warmup: Any) -> str:
    from tarsim.sweep.timing import AUTO, MIN_WINDOW_S, SAMPLES_PER_RUN

    if horizon == AUTO:
        warm = "from its time constants" if warmup is None else f"{warmup:g} s"
        return (f"per point: a window of at least {SAMPLES_PER_RUN} requests and "
                f"{MIN_WINDOW_S:g} s, after a warm-up {warm} (summary columns horizon_s, "
                "warmup_s)")
    return f"{horizon:g} s (warm-up {warmup:g} s)"


def capacity(
    model: Model | str | Path,
    slo: Mapping[str, Any],
    *,
    duration: float = DEFAULT_DURATION_S,
    warmup: float | None = None,
    seed: int = 1,
    replications: int = 5,
    tolerance: float = 0.02,
    start: float | None = None,
    executor: str = executors.LOCAL,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    progress: Callable[[Probe], None] | None = None,
) -> Capacity:
    """The highest load (open-loop rate, or closed-loop users) *model* sustains with
    every SLO's 95% CI upper bound within its limit; *slo* as in an experiment
    (``{"p99": "3s", "error_rate": 0.01}``)."""
    if not isinstance(model, Model):
        model = load_model(model)
    warmup = duration * DEFAULT_WARMUP_FRACTION if warmup is None else warmup
    check_run_args(duration, warmup, seed, max(1, replications))
    objectives = _validate(SLOSpec, dict(slo), source="--slo")
    with executors.make_executor(executor, workers=workers, scheduler=scheduler,
                                 client=client) as engine:
        return _search(model, objectives.limits(), duration=duration, warmup=warmup,
                       seed=seed, replications=replications, tolerance=tolerance, start=start,
                       executor=engine, progress=progress)


def summary_with_costs(result: SweepResult) -> pd.DataFrame:
    """A sweep's summary (one row per point) with ``total_per_hour_usd`` and
    ``total_per_request_usd``: token costs plus the agents' hourly cost."""
    from tarsim.sweep.recommend import total_costs
    return total_costs(result.summary, result.experiment.spec.costs.agent_per_hour_usd)


def sweep_charts(result: SweepResult) -> dict[str, alt.TopLevelMixin]:
    """The report's charts of a sweep, by name: ``p99``, ``throughput``, ``errors``,
    ``cost_vs_p99``, ``agents``, ``utilisation`` (and ``capacity``)."""
    from tarsim.report.charts import sweep_charts as _charts  # altair: only when used

    return _charts(summary_with_costs(result), result.recommendations,
                   result.experiment.slo.limits())


def pareto_front(frame: pd.DataFrame, cost: str, latency: str) -> pd.Series:
    """Whether each row of *frame* is on the cost/latency Pareto front: no other
    row is at most as costly and at most as slow, and strictly better in one."""
    from tarsim.report.charts import pareto_front as _front

    return _front(frame, cost, latency)


def findings(calibration: Calibration) -> pd.DataFrame:
    """The consistency findings of a calibration's baseline, one row each."""
    import pandas as pd

    return pd.DataFrame([f.as_dict() for f in calibration.findings])


def measured_against_simulated(calibration: Calibration) -> pd.DataFrame:
    """Per baseline row and metric: the measured value, the calibrated model's
    simulated value with its 95% CI half-width, and the relative error."""
    import pandas as pd

    rows = []
    for i, row in enumerate(calibration.as_dict()["rows"], start=1):
        for metric, measured in row["measured"].items():
            rows.append({"row": i, "load": row["load"], "load_kind": row["load_kind"],
                         "agents": row["agents"], "metric": metric, "measured": measured,
                         "simulated": row["simulated"][metric],
                         "ci95": row["ci95"][metric], "error": row["error"].get(metric)})
    return pd.DataFrame(rows)


def recommend(result: SweepResult, slo: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Each tier's recommendation from a finished sweep, judged against *slo*
    (``{"p99": "5s"}``, as in an experiment) instead of the experiment's own SLOs:
    no simulation, only the tables re-read."""
    from tarsim.sweep.recommend import recommend as _recommend
    objectives = result.experiment.slo if slo is None else _validate(SLOSpec, dict(slo),
                                                                      source="slo")
    return _recommend(result.summary, objectives.limits(),
                      result.experiment.spec.costs.agent_per_hour_usd)


# one question, one answer (tarsim.questions, kept apart for size): part of this API
from tarsim.questions import adjusted as adjusted  # noqa: E402
from tarsim.questions import compare as compare  # noqa: E402
from tarsim.questions import decision_table as decision_table  # noqa: E402
from tarsim.questions import narrowed_experiment as narrowed_experiment  # noqa: E402
from tarsim.questions import point as point  # noqa: E402
from tarsim.questions import run_point as run_point  # noqa: E402
