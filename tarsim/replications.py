"""One what-if: a model simulated for R replications on an executor, with the
summary a ``tarsim run`` prints (the mean and 95 % CIs over replications), each
replication's summary and, when kept, its records and per-second timeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tarsim import executors, metrics
from tarsim.config import ConfigError, Model, Problem, load_model
from tarsim.config.outputs import atomic_write, check_output_file
from tarsim.run import RunRecords
from tarsim.sweep.budget import check_work

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_DURATION_S = 300.0
DEFAULT_WARMUP_FRACTION = 0.1



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

    def spans(self, replication: int = 0) -> pd.DataFrame:
        """Workflow classes: one row per role step a request ran (id, cls, role,
        start, end, agent, kind, branch, ok), with the class's name added."""
        rec = self.records[replication]
        frame = rec.spans.copy()
        names = [c.name for c in rec.model.workload.classes]
        frame.insert(2, "class", [names[c] for c in frame["cls"]] if len(frame) else [])
        return frame

    def subagents(self, replication: int = 0) -> pd.DataFrame:
        """Sub-agents working for parallel steps after each change (t, in_flight)."""
        return self.records[replication].subagents


def run(
    model: Model | str | Path,
    *,
    duration: float = DEFAULT_DURATION_S,
    warmup: float | None = None,
    seed: int = 1,
    replications: int = 1,
    keep_records: bool = True,
    force: bool = False,
    executor: str = executors.SERIAL,
    workers: int | None = None,
) -> RunResult:
    """Simulate *model* for *replications* independent replications, on *executor*
    (``serial`` in this process, or ``local`` with *workers* processes).

    *duration* is the simulated horizon in seconds; the first *warmup* seconds
    (default 10% of it) are not measured. Replication r uses streams keyed by
    (seed, r, source), so results do not depend on where or in which order
    replications run. Work far beyond the machine is refused unless *force*.
    """
    if not isinstance(model, Model):
        model = load_model(model)
    warmup = duration * DEFAULT_WARMUP_FRACTION if warmup is None else warmup
    check_run_args(duration, warmup, seed, replications)
    if not force:
        check_work([model], duration, replications, workers or 1)
    tasks = [executors.RunTask.of("run", r, model, duration, warmup, seed)
             for r in range(replications)]
    one = executors.record_run if keep_records else executors.summary_run
    with executors.make_executor(executor, workers=workers, run=one) as runner:
        results = executors.replicate(runner, tasks)
    summaries = [metrics.summarize(rec) for rec in results] if keep_records else results
    return RunResult(metrics.aggregate(summaries), summaries, results if keep_records else [])


TIMELINE_SUFFIXES = (".csv", ".parquet")


def check_timeline_path(path: str | Path) -> Path:
    """The timeline file's path, if its suffix names a format we write."""
    path = Path(path)
    if path.suffix.lower() not in TIMELINE_SUFFIXES:
        raise ConfigError([Problem("--timeline", "must end in .csv or .parquet", str(path))])
    return check_output_file(path, "--timeline")


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
        return atomic_write(path, lambda out: frame.to_csv(out, index=False))
    return atomic_write(path, lambda out: frame.to_parquet(out, index=False), binary=True)


def check_run_args(duration: float, warmup: float, seed: int, replications: int) -> None:
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
