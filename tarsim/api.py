"""The Python API: what the CLI and the notebooks call.

Plain values and pandas frames in and out; nothing here prints or exits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tarsim import metrics
from tarsim.config import ConfigError, Model, Problem
from tarsim.config import load_model as _load_model
from tarsim.config import with_overrides as _with_overrides
from tarsim.run import RunRecords, simulate

if TYPE_CHECKING:
    import pandas as pd

    from tarsim.scenarios import Plan, ScenarioResult

DEFAULT_DURATION_S = 300.0
DEFAULT_WARMUP_FRACTION = 0.1


def load_model(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Model:
    """Read and validate a model file, with optional ``{"agents.count": 10}`` overrides."""
    return _load_model(path, overrides)


def with_overrides(model: Model, overrides: Mapping[str, Any]) -> Model:
    """A copy of *model* with dotted paths set (values as YAML would give them)."""
    return _with_overrides(model, overrides)


@dataclass
class RunResult:
    """The outcome of ``run``: the summary (the ``tarsim run`` JSON), each
    replication's summary, and each replication's records when kept."""

    summary: dict[str, Any]
    replications: list[dict[str, Any]]
    records: list[RunRecords] = field(default_factory=list)

    def requests(self, replication: int = 0) -> pd.DataFrame:
        """Per-request rows of one replication."""
        return self.records[replication].requests

    def timeseries(self, replication: int = 0, step: float = 1.0) -> pd.DataFrame:
        """Per-second time series of one replication."""
        return metrics.timeseries(self.records[replication], step)


def run(
    model: Model | str | Path,
    *,
    duration: float = DEFAULT_DURATION_S,
    warmup: float | None = None,
    seed: int = 1,
    replications: int = 1,
    keep_records: bool = True,
) -> RunResult:
    """Simulate *model* for *replications* independent replications.

    *duration* is the simulated horizon in seconds; the first *warmup* seconds
    (default 10% of it) are not measured. Replication r uses streams keyed by
    (seed, r, source), so results do not depend on where or in which order
    replications run.
    """
    if not isinstance(model, Model):
        model = load_model(model)
    warmup = duration * DEFAULT_WARMUP_FRACTION if warmup is None else warmup
    _check_run_args(duration, warmup, seed, replications)
    summaries, kept = [], []
    for r in range(replications):
        rec = simulate(model, duration=duration, warmup=warmup, seed=seed, replication=r)
        summaries.append(metrics.summarize(rec))
        if keep_records:
            kept.append(rec)
    return RunResult(metrics.aggregate(summaries), summaries, kept)


TIMELINE_SUFFIXES = (".csv", ".parquet")


def check_timeline_path(path: str | Path) -> Path:
    """The timeline file's path, if its suffix names a format we write."""
    path = Path(path)
    if path.suffix.lower() not in TIMELINE_SUFFIXES:
        raise ConfigError([Problem("--timeline", "must end in .csv or .parquet", str(path))])
    return path


def timeline(result: RunResult, step: float = 1.0) -> pd.DataFrame:
    """The per-second time series of every kept replication, one below the other,
    with a ``replication`` column."""
    frames = [metrics.timeseries(rec, step).assign(replication=r)
              for r, rec in enumerate(result.records)]
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


def write_timeline(result: RunResult, path: str | Path, step: float = 1.0) -> Path:
    """Write :func:`timeline` as CSV or Parquet, by the file's suffix."""
    path = check_timeline_path(path)
    frame = timeline(result, step)
    if path.suffix.lower() == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


def _check_run_args(duration: float, warmup: float, seed: int, replications: int) -> None:
    problems = []
    if not duration > 0:
        problems.append(Problem("duration", "must be > 0", duration))
    if not 0 <= warmup < duration:
        problems.append(Problem("warmup", f"must be >= 0 and < the duration ({duration:g}s)",
                                warmup))
    if seed < 0:
        problems.append(Problem("seed", "must be >= 0", seed))
    if replications < 1:
        problems.append(Problem("replications", "must be >= 1", replications))
    if problems:
        raise ConfigError(problems)


def load_scenarios(path: str | Path) -> Plan:
    """Read and check a scenario file, its model, and every model its scenarios
    will simulate (a ConfigError lists every problem)."""
    from tarsim.scenarios import load_plan

    return load_plan(path)


def scenarios(path: str | Path | Plan, only: Sequence[str] = ()) -> list[ScenarioResult]:
    """Run the scenarios of a scenario file (or only those named) and return one
    result per scenario: its name, type, purpose, key result and the numbers behind it."""
    from tarsim.scenarios import Plan, run_plan

    plan = path if isinstance(path, Plan) else load_scenarios(path)
    return run_plan(plan, only)
