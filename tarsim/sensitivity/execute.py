"""The entry points of a sensitivity study: simulate its design (on one model, or on
each tier's recommended configuration of an experiment), analyse it, and keep its runs
and tables in an output folder like a sweep's."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from tarsim.executors import SERIAL, Executor, make_executor
from tarsim.sensitivity.design import make_design
from tarsim.sensitivity.loader import Study
from tarsim.sensitivity.runner import (
    Progress,
    StudyResult,
    failure_notes,
    outputs_table,
    point_models,
    run_models,
    write_tables,
)
from tarsim.sensitivity.study import ENSEMBLE
from tarsim.sweep.runner import SweepResult
from tarsim.sweep.store import open_store


def run_study(study: Study, executor: Executor | None = None, *, out: Path | None = None,
              resume: bool = False, progress: Progress | None = None,
              sweep: SweepResult | None = None) -> StudyResult:
    """Simulate every design point of *study* (the runs not already in *out*'s
    store) on *executor* (left open for its owner; a serial one when None) and
    analyse the outputs by the study's method. A study of several tiers takes the
    experiment's *sweep* (run here when not given) and runs on each tier's
    recommended configuration (see :mod:`tarsim.sensitivity.tiers`)."""
    from tarsim.sensitivity.analysis import analyse

    started = time.perf_counter()
    design = make_design(study)
    runner = executor or make_executor(SERIAL)
    store = open_store(out, resume, what="study")
    try:
        if study.experiment is not None:
            from tarsim.sensitivity.tiers import run_tier_ensembles, run_tier_studies
            from tarsim.sweep.runner import run_sweep

            if sweep is None:
                sweep = run_sweep(study.experiment, runner)
            run_tiers = (run_tier_ensembles if study.spec.method == ENSEMBLE
                         else run_tier_studies)
            result = run_tiers(study, design, sweep, store, runner, progress)
        else:
            models = point_models(study, design)
            keys, executed, reused = run_models(models, study, runner, store, progress)
            table = outputs_table(study, design, keys, store)
            analysis, notes = analyse(study, design, table)
            result = StudyResult(study, design, table, analysis, notes, executed, reused)
    finally:
        store.close()
        if executor is None:
            runner.close()
    result.notes += failure_notes(store)
    result.failed = len(store.failures)
    result.wall_s = time.perf_counter() - started
    return result


def run_and_store(study: Study, make_runner: Callable[[], Executor], *,
                  out: str | Path | None = None, resume: bool = False,
                  retry_failed: bool = False, progress: Progress | None = None,
                  command: list[str] | None = None) -> StudyResult:
    """:func:`run_study` on a runner from *make_runner*; with *out* (checked and
    locked as a sweep's), its runs in *out*'s store (a study of several tiers' sweep
    in ``out/sweep``), its tables and manifest written there."""
    from tarsim.config.outputs import check_output_folder, folder_lock
    from tarsim.sweep.runner import run_sweep
    from tarsim.sweep.runner import write_tables as write_sweep_tables
    from tarsim.sweep.store import made_by_tarsim

    if out is None:
        with make_runner() as runner:
            return run_study(study, runner, progress=progress)
    folder = check_output_folder(out, "--out", ours=made_by_tarsim, reuse=resume)
    # refuses a folder holding runs before any work; forgets failed runs to retry them
    open_store(folder, resume, retry_failed and resume, what="study").close()
    with folder_lock(folder), make_runner() as runner:
        swept = None
        if study.experiment is not None:
            swept = run_sweep(study.experiment, runner, out=folder / "sweep", resume=resume,
                              retry_failed=retry_failed and resume)
            write_sweep_tables(swept, folder / "sweep", command)
        result = run_study(study, runner, out=folder, resume=True, progress=progress,
                           sweep=swept)
        result.files = write_tables(result, folder, command)
    return result
