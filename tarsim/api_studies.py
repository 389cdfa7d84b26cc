"""The sensitivity part of the Python API (re-exported by :mod:`tarsim.api`, which
the CLI and the notebooks call): studies, ensembles and competing models.

Split from ``api.py`` by concept, so neither module grows past its size limit.
Plain values and pandas frames in and out; nothing here prints or exits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tarsim.executors import LOCAL, make_executor

if TYPE_CHECKING:
    import altair as alt

    from tarsim.sensitivity.hypotheses import Hypotheses
    from tarsim.sensitivity.loader import Study
    from tarsim.sensitivity.runner import StudyResult
    from tarsim.sweep.runner import Progress


def load_study(path: str | Path, replace: Mapping[str, Any] | None = None) -> Study:
    """Read and validate a sensitivity study file (with the top-level keys in
    *replace*, such as ``{"method": "oat"}``, replaced)."""
    from tarsim.sensitivity.loader import load_study as _load_study

    return _load_study(path, replace)


def sensitivity(study: Study | str | Path, *, out: str | Path | None = None,
                executor: str = LOCAL, workers: int | None = None,
                scheduler: str | None = None, client: Any = None, resume: bool = False,
                retry_failed: bool = False, progress: Progress | None = None,
                command: list[str] | None = None, write_report: bool = True) -> StudyResult:
    """Run a study's design on *executor* (as :func:`tarsim.api.sweep`) and analyse
    it by its method; with *out*, write its tables, manifest, report and charts there."""
    from tarsim.sensitivity.execute import run_and_store

    study = load_study(study) if isinstance(study, str | Path) else study
    result = run_and_store(study, lambda: make_executor(
        executor, workers=workers, scheduler=scheduler, client=client), out=out,
        resume=resume, retry_failed=retry_failed, progress=progress, command=command)
    if out is not None and write_report:
        from tarsim.report.sensitivity import write_report as _write_report

        result.files += _write_report(result, Path(out))
    return result


def hypotheses(experiment_file: str | Path, model_files: Sequence[str | Path], *,
               executor: str = LOCAL, workers: int | None = None,
               scheduler: str | None = None, client: Any = None,
               out: str | Path | None = None) -> Hypotheses:
    """Sweep one experiment over several models that fit the same baseline: where
    their recommendations differ and which measurement would tell them apart (with
    *out*, every point's comparison written there as CSV)."""
    from tarsim.config.outputs import atomic_write_text, check_output_file
    from tarsim.sensitivity.hypotheses import compare

    target = check_output_file(out, "--out") if out is not None else None
    result = compare(experiment_file, model_files, lambda: make_executor(
        executor, workers=workers, scheduler=scheduler, client=client))
    if target is not None:
        atomic_write_text(target, result.separation.to_csv(index=False))
    return result


def study_charts(result: StudyResult) -> dict[str, alt.Chart]:
    """A study's charts by name: ``tornado_<output>``, ``sobol_<output>`` or
    ``morris_<output>``."""
    from tarsim.report.sensitivity import study_charts as _charts  # altair: only when used

    return _charts(result)



__all__ = ["hypotheses", "load_study", "sensitivity", "study_charts"]
