"""The study commands: ``sensitivity`` (which assumptions decide the answer),
``hypotheses`` (competing models side by side) and the ensemble that ``run --ensemble``
and ``sweep --ensemble`` run (:func:`run_ensemble`)."""

from __future__ import annotations

import sys
from typing import Any

import click

from tarsim.cli_input import user_errors
from tarsim.cli_options import executor_options, resume_options


@click.command()
@click.argument("study_file", metavar="STUDY", type=click.Path(dir_okay=False))
@click.option("--out", "out", type=click.Path(file_okay=False), default=None,
              help="Folder for the results [default: results/<study name>].")
@executor_options()
@resume_options()
@click.option("--method", type=click.Choice(["oat", "morris", "sobol", "ensemble"]),
              default=None, help="Use this method instead of the file's.")
@click.option("--samples", type=click.IntRange(min=1), default=None,
              help="Use this many samples instead of the file's.")
@user_errors
def sensitivity(study_file: str, out: str | None, workers: int | None, executor: str,
                scheduler: str | None, resume: bool, retry_failed: bool, method: str | None,
                samples: int | None) -> None:
    """Which assumptions decide the answer: a study's tornado, Morris, Sobol or ensemble."""
    from pathlib import Path

    from tarsim import api
    from tarsim.config.outputs import safe_name
    from tarsim.report.sensitivity import table_text

    replace = {k: v for k, v in (("method", method), ("samples", samples)) if v is not None}
    study = api.load_study(study_file, replace)
    folder = Path(out) if out else Path("results") / safe_name(study.spec.name)
    with click.progressbar(length=1, label="runs", show_eta=True, show_pos=True,
                           file=sys.stderr) as bar:
        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        result = api.sensitivity(study, out=folder, executor=executor, workers=workers,
                                 scheduler=scheduler, resume=resume, retry_failed=retry_failed,
                                 progress=progress, command=["tarsim", *sys.argv[1:]])
    click.echo(table_text(result))
    click.echo(f"\n{result.executed} runs simulated, {result.reused} reused, "
               f"in {result.wall_s:.1f}s; results in {folder}/ (report.html)")
    if result.failed:
        click.echo(f"error: {result.failed} run(s) failed (see the notes above); after "
                   "fixing the cause: --resume --retry-failed", err=True)
        sys.exit(1)


@click.command()
@click.argument("experiment_file", metavar="EXPERIMENT", type=click.Path(dir_okay=False))
@click.argument("model_files", metavar="MODEL...", nargs=-1, required=True,
                type=click.Path(dir_okay=False))
@executor_options()
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="Write the point-by-point comparison here (CSV).")
@user_errors
def hypotheses(experiment_file: str, model_files: tuple[str, ...], workers: int | None,
               executor: str, scheduler: str | None, out: str | None) -> None:
    """Competing models side by side: where recommendations differ, what to measure."""
    from tarsim import api
    from tarsim.sensitivity.hypotheses import describe

    result = api.hypotheses(experiment_file, list(model_files), executor=executor,
                            workers=workers, scheduler=scheduler, out=out)
    click.echo(describe(result))
    if out is not None:
        click.echo(f"comparison written to {out}")


def run_ensemble(study_file: str, replace: dict[str, Any], out: str | None, executor: str,
                 workers: int | None, scheduler: str | None, resume: bool) -> None:
    """An ensemble study with its target (model or experiment) replaced, run and shown."""
    from pathlib import Path

    from tarsim import api
    from tarsim.report.sensitivity import table_text

    study = api.load_study(study_file, {**replace, "method": "ensemble"})
    folder = Path(out) if out else None
    result = api.sensitivity(study, out=folder, executor=executor, workers=workers,
                             scheduler=scheduler, resume=resume,
                             command=["tarsim", *sys.argv[1:]])
    click.echo(table_text(result))
    where = f"; results in {folder}/" if folder else ""
    click.echo(f"\n{result.executed} runs simulated, {result.reused} reused, "
               f"in {result.wall_s:.1f}s{where}")
    if result.failed:
        click.echo(f"error: {result.failed} run(s) failed (see the notes above)", err=True)
        sys.exit(1)

