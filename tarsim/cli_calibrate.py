"""The ``calibrate`` command: check a measured baseline, fit a model to it, say how
well it fits and predicts, and write the calibrated model."""

from __future__ import annotations

import json

import click

from tarsim.cli_input import DURATION, problem, user_errors
from tarsim.cli_options import executor_options, where
from tarsim.metrics import json_safe


@click.command()
@click.argument("model_file", metavar="MODEL", type=click.Path(dir_okay=False))
@click.option("--baseline", "baseline_files", required=True, multiple=True, metavar="FILE",
              help="Measured results, repeatable, globs allowed: the baseline CSV, a Locust "
                   "run's *_stats.csv / *_stats_history.csv / *_failures.csv (read together), "
                   "a raw per-request CSV (timestamp,latency,ok,name), or a k6 summary JSON.")
@click.option("--fit", "paths", multiple=True, metavar="PATH",
              help="A model path to fit (a number, a distribution, or with *; a list item "
                   "by its index, as workload.classes.0.weight); repeatable. "
                   "Default: role work, first-token time, output rate, provider error "
                   "rates and memory where the baseline measures them, and the rate of "
                   "every limit that binds; agents and slots stay fixed (the output says "
                   "which and why).")
@click.option("--holdout", "holdout", multiple=True, type=int, metavar="N",
              help="Row number (1-based) to leave out of a second fit and predict; "
                   "repeatable. Default: leave each row out in turn.")
@click.option("--no-holdout", is_flag=True, help="Skip the hold-out refits (faster).")
@click.option("--write", "out", type=click.Path(dir_okay=False), default=None,
              help="Write the calibrated model YAML here.")
@click.option("--duration", type=DURATION, default="60s", show_default=True,
              help="Simulated horizon of each row.")
@click.option("--warmup", type=DURATION, default=None,
              help="Initial part not measured [default: 10s, or 10% of --duration].")
@click.option("--replications", "-r", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True)
@click.option("--iterations", type=click.IntRange(min=0), default=20, show_default=True,
              help="Budget of the main fit, in least-squares evaluations (0: no fit, the "
                   "model as it is).")
@click.option("--agents", type=click.IntRange(min=1), default=None,
              help="Agents of an imported Locust/k6 baseline (not in their output).")
@click.option("--load", type=float, default=None,
              help="Users of one imported run whose files do not record them (a Locust "
                   "*_stats.csv without its history, a raw per-request CSV).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@executor_options(default=None)
@user_errors
def calibrate(model_file: str, baseline_files: tuple[str, ...], paths: tuple[str, ...],
              holdout: tuple[int, ...], no_holdout: bool, out: str | None, duration: float,
              warmup: float | None, replications: int, seed: int, iterations: int,
              agents: int | None, load: float | None, fmt: str, workers: int | None,
              executor: str | None, scheduler: str | None) -> None:
    """Check a measured BASELINE, fit MODEL to it and say how well it fits and predicts."""

    from tarsim import api
    from tarsim.calibrate.writer import write_calibrated
    from tarsim.config.outputs import check_output_file
    from tarsim.report.calibration import calibration_report

    if out is not None:
        check_output_file(out, "--write")  # before any work
    model = api.load_model(model_file)
    options = {k: v for k, v in (("agents", agents), ("load", load)) if v is not None}
    baseline = api.read_baseline(list(baseline_files), **options)
    if warmup is None:
        warmup = 10.0 if duration == 60.0 else duration * 0.1
    result = api.calibrate(model, baseline, fit=list(paths) or None,
                           holdout=list(holdout) or None, leave_one_out=not no_holdout,
                           duration=duration, warmup=warmup, replications=replications,
                           seed=seed, max_iterations=iterations,
                           executor=where(executor, workers), workers=workers,
                           scheduler=scheduler)
    data = result.as_dict()
    notes: list[str] = []
    if out is not None:
        try:
            notes = write_calibrated(result, model_file, ", ".join(baseline_files), out)
        except OSError as exc:
            raise problem("--write", f"cannot be written ({exc.strerror})", out) from None
        data["written"] = out
        data["write_notes"] = notes
    if fmt == "json":
        click.echo(json.dumps(json_safe(data), indent=2))
    else:
        click.echo(calibration_report(data))
        if out is not None:
            click.echo(f"\ncalibrated model written to {out}")
    for note in notes:
        click.echo(f"note: {note}", err=True)
