"""The command line: parse arguments, call :mod:`tarsim.api`, print.

Bad input (a file, a key, a value, a unit) is a ``ConfigError``: it is printed
as a list of problems and the exit status is 2, with no traceback (see
:mod:`tarsim.cli_input`). The study commands are in :mod:`tarsim.cli_studies`,
``calibrate`` in :mod:`tarsim.cli_calibrate`; all are commands of :func:`main`.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import click

from tarsim.cli_calibrate import calibrate
from tarsim.cli_input import DURATION, problem, user_errors
from tarsim.cli_options import executor_options, resume_options
from tarsim.cli_studies import hypotheses, run_ensemble, sensitivity
from tarsim.config.errors import ConfigError, Problem
from tarsim.metrics import json_safe


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tarsim")
def main() -> None:
    """tarsim: capacity planning for multi-agent LLM applications, by simulation."""


main.add_command(calibrate)
main.add_command(sensitivity)
main.add_command(hypotheses)


@main.command()
@click.argument("model_file", metavar="[MODEL]", required=False, type=click.Path(dir_okay=False))
@click.option("--experiment", "experiment_file", type=click.Path(dir_okay=False), default=None,
              metavar="EXP", help="Run a point of this experiment (its set: applied, its "
              "horizon, warm-up, seed and replications) instead of MODEL.")
@click.option("--tier", default=None, metavar="NAME", help="The experiment's tier: its first "
              "configuration at its highest load, unless --point says which.")
@click.option("--point", "point_number", type=click.IntRange(min=0), default=None, metavar="N",
              help="The experiment's point N (as summary.csv and --dry-run number them).")
@click.option("--rate", type=float, default=None, metavar="R",
              help="Offered load: an open-loop rate of R requests a second.")
@click.option("--agents", type=int, default=None, metavar="N", help="Agent count.")
@click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE",
              help="Override a model value (VALUE is YAML): agents.count=10.")
@click.option("--duration", type=DURATION, default=None,
              help="Simulated horizon [default: 300s, or the experiment's].")
@click.option("--warmup", type=DURATION, default=None,
              help="Initial part not measured [default: 10% of the duration].")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="[default: 1, or the experiment's]")
@click.option("--replications", "-r", type=click.IntRange(min=1), default=None,
              help="[default: 1, or the experiment's]")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@click.option("--timeline", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Also write the per-second time series (.csv or .parquet).")
@click.option("--force", is_flag=True, help="Start even if the work looks far too large.")
@click.option("--workers", "-w", type=click.IntRange(min=1), default=None,
              help="Run the replications on a local pool of this many processes.")
@click.option("--ensemble", type=click.Path(dir_okay=False), default=None, metavar="STUDY",
              help="Run an ensemble of MODEL (the parameters of this study file): "
                   "prediction bands and the probability of meeting the SLOs.")
@user_errors
def run(model_file: str | None, experiment_file: str | None, tier: str | None,
        point_number: int | None, rate: float | None, agents: int | None,
        overrides: tuple[str, ...], duration: float | None, warmup: float | None,
        seed: int | None, replications: int | None, fmt: str, timeline: str | None,
        force: bool, workers: int | None, ensemble: str | None) -> None:
    """Simulate MODEL (or a point of an experiment) once or R times; print its metrics."""
    from pathlib import Path

    from tarsim import api
    from tarsim.config.loader import parse_override
    from tarsim.report.decision import config_label as short_label
    from tarsim.report.decision import load_text
    from tarsim.report.table import run_table

    if timeline is not None:
        api.check_timeline_path(timeline)
    parsed = dict(parse_override(text) for text in overrides)
    if ensemble is not None:
        if model_file is None:
            raise problem("--ensemble", "needs a MODEL (not --experiment)", ensemble)
        run_ensemble(ensemble, {"model": str(Path(model_file).resolve()), "experiment": None,
                                "tier": None, "set": parsed,
                                "horizon": 300.0 if duration is None else duration,
                                "warmup": warmup, "seed": 1 if seed is None else seed,
                                "replications": replications or 1},
                     None, "local" if workers else "serial", workers, None, False)
        return
    heading = ""
    if experiment_file is not None:
        if model_file is not None:
            raise problem("MODEL", "give a model or --experiment, not both", model_file)
        experiment = api.load_experiment(experiment_file)
        chosen = api.point(experiment, tier, point_number)
        result = api.run_point(experiment, tier, chosen.index, replications=replications,
                               rate=rate, agents=agents, overrides=parsed, duration=duration,
                               warmup=warmup, seed=seed, keep_records=timeline is not None,
                               force=force, workers=workers)
        model = api.adjusted(chosen.model, rate=rate, agents=agents, overrides=parsed)
        changed = ", ".join([*(f"{k}={v}" for k, v in parsed.items()),
                             *([f"rate {rate:g}/s"] if rate is not None else []),
                             *([f"{agents} agents"] if agents is not None else [])])
        label, plans = short_label(dict(chosen.params))
        heading = (f"{experiment_file} point {chosen.index}: [{chosen.tier}] {label}"
                   + (f", {plans}" if plans else "")
                   + f" at {load_text(chosen.load_kind, chosen.load)}"
                   + (f"; changed: {changed}" if changed else ""))
    else:
        if model_file is None:
            raise ConfigError([Problem("MODEL", "is required (or --experiment EXP --tier NAME)",
                                       has_value=False)])
        if tier is not None or point_number is not None:
            raise problem("--tier/--point", "need --experiment", tier or point_number)
        model = api.adjusted(api.load_model(model_file, parsed), rate=rate, agents=agents)
        result = api.run(model, duration=300.0 if duration is None else duration,
                         warmup=warmup, seed=1 if seed is None else seed,
                         replications=replications or 1, keep_records=timeline is not None,
                         force=force, executor="local" if workers else "serial", workers=workers)
    if timeline is not None:
        api.write_timeline(result, timeline)
    if fmt == "json":
        data = json_safe(result.summary)
        if heading:
            data = {"point": heading, **data}
        click.echo(json.dumps(data, indent=2))
    else:
        if heading:
            click.echo(heading)
        click.echo(run_table(result.summary, model))


def _variant(text: str) -> tuple[str, dict[str, Any]]:
    """``NAME:PATH=VALUE[;PATH=VALUE...]`` (or ``NAME:`` for the model as it is)."""
    from tarsim.config.loader import parse_override

    name, sep, rest = text.partition(":")
    if not sep or not name.strip():
        raise problem("--variant", "must look like NAME:PATH=VALUE[;PATH=VALUE]", text)
    changes = dict(parse_override(part.strip()) for part in rest.split(";") if part.strip())
    return name.strip(), changes


@main.command()
@click.argument("model_file", metavar="[MODEL]", required=False, type=click.Path(dir_okay=False))
@click.option("--variant", "variants", multiple=True, required=True,
              metavar="NAME:PATH=VALUE[;PATH=VALUE]",
              help="A variant (repeat; the first is the reference): "
                   "'raised:providers.openai.limits.requests=10000/min'. 'as-is:' = no change.")
@click.option("--experiment", "experiment_file", type=click.Path(dir_okay=False), default=None,
              metavar="EXP", help="Compare variants of a point of this experiment.")
@click.option("--tier", default=None, metavar="NAME")
@click.option("--point", "point_number", type=click.IntRange(min=0), default=None, metavar="N")
@click.option("--duration", type=DURATION, default=None,
              help="Simulated horizon [default: 300s, or the experiment's].")
@click.option("--warmup", type=DURATION, default=None)
@click.option("--seed", type=click.IntRange(min=0), default=None)
@click.option("--replications", "-r", type=click.IntRange(min=2), default=5, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@user_errors
def compare(model_file: str | None, variants: tuple[str, ...], experiment_file: str | None,
            tier: str | None, point_number: int | None, duration: float | None,
            warmup: float | None, seed: int | None, replications: int, fmt: str) -> None:
    """Variants side by side on common random numbers, with paired differences."""
    from tarsim import api
    from tarsim.report.table import compare_table

    parsed = dict(_variant(text) for text in variants)
    if len(parsed) != len(variants):
        raise problem("--variant", "names must be unique", [v.split(":")[0] for v in variants])
    if experiment_file is not None:
        experiment = api.load_experiment(experiment_file)
        model = api.point(experiment, tier, point_number).model
        spec = experiment.spec
        if duration is None:
            from tarsim.sweep.screen import Screener
            from tarsim.sweep.timing import point_timing

            timing = point_timing(spec, Screener(experiment.slo.limits()).screen(model), model)
            duration, warmup = timing.horizon, timing.warmup if warmup is None else warmup
        seed = spec.seed if seed is None else seed
    elif model_file is None:
        raise ConfigError([Problem("MODEL", "is required (or --experiment EXP --tier NAME)",
                                   has_value=False)])
    else:
        model = api.load_model(model_file)
    result = api.compare(model, parsed, duration=300.0 if duration is None else duration,
                         warmup=warmup, seed=1 if seed is None else seed,
                         replications=replications)
    if fmt == "json":
        click.echo(json.dumps(json_safe(result), indent=2))
    else:
        click.echo(compare_table(result))


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@user_errors
def check(file: str) -> None:
    """Validate a model, experiment, scenario or study file and explain every problem."""
    from tarsim import api
    from tarsim.config import load_data

    data, _lines = load_data(file)
    if isinstance(data, dict) and ("parameters" in data or "method" in data) \
            and "workload" not in data:
        study = api.load_study(file)
        click.echo(f"{file}: ok — study {study.spec.name!r} ({study.spec.method}) of "
                   f"{len(study.parameters)} parameters on model {study.model.name!r}")
        return
    kind = api.file_kind(file)
    if kind == "scenario file":
        plan = api.load_scenarios(file)
        click.echo(f"{file}: ok — scenario file on model {plan.model_path.name!r}: "
                   f"{len(plan.scenarios)} scenarios")
        return
    if kind == "experiment":
        experiment = api.load_experiment(file)
        click.echo(f"{file}: ok — experiment {experiment.spec.name!r} on model "
                   f"{experiment.model.name!r}: {len(experiment.points)} points, "
                   f"{len(experiment.spec.tiers) or 1} tier(s)")
        return
    model = api.load_model(file)
    click.echo(
        f"{file}: ok — model {model.name!r}: {len(model.workload.classes)} request classes, "
        f"{len(model.roles)} roles, {len(model.llms)} llms, {len(model.providers)} providers, "
        f"{model.agents.count} agents x {model.agents.concurrency} slots"
    )


@main.command()
@click.argument("file", metavar="FILE", type=click.Path(dir_okay=False))
@click.option("--only", multiple=True, metavar="NAME",
              help="Run only this scenario (repeat for several).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@click.option("--workers", "-w", type=click.IntRange(min=1), default=None,
              help="Run the replications on a local pool of this many processes.")
@user_errors
def scenarios(file: str, only: tuple[str, ...], fmt: str, workers: int | None) -> None:
    """Run the load-test scenarios of FILE and print one row per scenario."""
    from dataclasses import asdict

    from tarsim import api
    from tarsim.report.scenarios import scenario_table

    plan = api.load_scenarios(file).only(only)
    results = api.scenarios(plan, executor="local" if workers else "serial", workers=workers)
    if fmt == "json":
        click.echo(json.dumps(json_safe([asdict(r) for r in results]), indent=2))
    else:
        click.echo(scenario_table(results))


@main.command()
def schema() -> None:
    """Print the JSON Schema of the model format (for editors)."""
    from tarsim.config.model import Model

    click.echo(json.dumps(Model.model_json_schema(by_alias=True), indent=2))


@main.command()
@click.argument("experiment_file", metavar="EXPERIMENT", type=click.Path(dir_okay=False))
@click.option("--out", "out", type=click.Path(file_okay=False), default=None,
              help="Folder for the results [default: results/<experiment name>].")
@executor_options()
@resume_options()
@click.option("--force", is_flag=True, help="Write into a folder holding other files, and "
              "start even if the work looks far too large.")
@click.option("--dry-run", is_flag=True, help="List the points and estimate the time; run nothing.")
@click.option("--no-screen", is_flag=True,
              help="Simulate the points screening shows cannot meet the SLOs, and the lower "
                   "loads of configurations that fail at a higher one.")
@click.option("--model", "model_file", type=click.Path(dir_okay=False), default=None,
              metavar="MODEL", help="Sweep this model file in place of the experiment's own "
                                    "(another hypothesis, say).")
@click.option("--ensemble", type=click.Path(dir_okay=False), default=None, metavar="STUDY",
              help="Then run an ensemble (the parameters of this study file) on each "
                   "tier's recommendation: P(it meets the SLOs) and prediction bands.")
@user_errors
def sweep(experiment_file: str, out: str | None, workers: int | None, executor: str,
          scheduler: str | None, resume: bool, retry_failed: bool, force: bool,
          dry_run: bool, no_screen: bool, model_file: str | None, ensemble: str | None) -> None:
    """Run an experiment: points x replications, recommendations per tier, report."""
    import os
    from pathlib import Path

    from tarsim import api
    from tarsim.config.outputs import safe_name
    from tarsim.report.decision import decide
    from tarsim.report.progress import TimeLeft, clock_text, run_weights
    from tarsim.report.table import decision_table

    if ensemble is not None and not dry_run:
        run_ensemble(ensemble, {"experiment": str(Path(experiment_file).resolve()),
                                "model": None, "tier": None, "set": {}}, out, executor, workers,
                     scheduler, resume)
        return

    experiment = api.load_experiment(experiment_file, model_file)
    if dry_run:
        cores = workers or (os.cpu_count() or 1) if executor == "local" else (workers or 1)
        table = api.dry_run(experiment, workers=cores)
        for _, row in table.iterrows():
            click.echo(f"{row['point']:>4}  [{row['tier']}] {row['config']}  "
                       f"load {row['load']:g}  x{row['replications']}  "
                       f"~{row['estimate_s'] * cores:.2f}s")
        total = float(table["estimate_s"].sum())
        click.echo(f"{len(table)} points, {int(table['replications'].sum())} runs; "
                   f"estimated {total / 60:.1f} min on {cores} worker(s)")
        return
    if retry_failed and not resume:
        raise problem("--retry-failed", "needs --resume", True)
    folder = Path(out) if out else Path("results") / safe_name(experiment.spec.name)
    clock = TimeLeft(run_weights(experiment))
    with click.progressbar(length=1, label="runs", show_eta=False, show_pos=True,
                           item_show_func=lambda text: text, file=sys.stderr) as bar:
        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos, clock_text(clock.update(done, total)))

        result = api.sweep(experiment, out=folder, executor=executor, workers=workers,
                           scheduler=scheduler, resume=resume, retry_failed=retry_failed,
                           force=force, progress=progress, command=["tarsim", *sys.argv[1:]],
                           screen=not no_screen)
    if result.repaired:
        click.echo(f"warning: {result.repaired} damaged line(s) in the results were dropped "
                   "and their runs done again", err=True)
    limits = experiment.slo.limits()
    decisions = decide(result.summary, result.recommendations, limits,
                       calibrated_up_to=experiment.spec.calibrated_up_to)
    click.echo(decision_table(decisions, limits))
    click.echo(f"\n{result.executed + result.reused:,} runs: {result.executed:,} simulated, "
               f"{result.reused:,} reused, in {result.wall_s:.1f} s; results in {folder}/ "
               "(report.html)")
    if result.failures:
        first = result.failures[0]
        points = len({f.point for f in result.failures})
        click.echo(f"error: {len(result.failures)} run(s) failed at {points} point(s), "
                   f"marked failed in the tables; first: point {first.point} {first.label} "
                   f"replication {first.replication}: {first.error} (after fixing it: "
                   "--resume --retry-failed)", err=True)
        sys.exit(1)


def _parse_slo(texts: tuple[str, ...]) -> dict[str, Any]:
    import yaml

    slo: dict[str, Any] = {}
    for text in texts:
        name, sep, value = text.partition("=")
        if not sep or not name.strip():
            raise problem("--slo", "must look like NAME=VALUE (p99=3s, error_rate=0.01)", text)
        slo[name.strip()] = yaml.safe_load(value)
    return slo


@main.command()
@click.argument("model_file", metavar="MODEL", type=click.Path(dir_okay=False))
@click.option("--slo", "slos", multiple=True, metavar="NAME=VALUE", required=True,
              help="An objective: p99=3s, error_rate=0.01, p95=..., wait_mean=...")
@click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE",
              help="Override a model value (VALUE is YAML).")
@click.option("--duration", type=DURATION, default="300s", show_default=True)
@click.option("--warmup", type=DURATION, default=None)
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True)
@click.option("--replications", "-r", type=click.IntRange(min=2), default=5, show_default=True)
@click.option("--tolerance", type=click.FloatRange(min=0, max=1, min_open=True, max_open=True),
              default=0.02, show_default=True, help="Relative width of the final bracket.")
@click.option("--start", type=float, default=None,
              help="Load to start from [default: the model's own].")
@click.option("--workers", "-w", type=click.IntRange(min=1), default=None)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@user_errors
def capacity(model_file: str, slos: tuple[str, ...], overrides: tuple[str, ...],
             duration: float, warmup: float | None, seed: int, replications: int,
             tolerance: float, start: float | None, workers: int | None, fmt: str) -> None:
    """The highest load MODEL sustains within the SLOs (bisection on 95% CIs)."""
    from tarsim import api
    from tarsim.config.loader import parse_override
    from tarsim.sweep.capacity import summary

    parsed = dict(parse_override(text) for text in overrides)
    model = api.load_model(model_file, parsed)

    def show(probe: Any) -> None:
        verdict = "sustained" if probe.sustained else "fails"
        bounds = ", ".join(f"{k} <= {v:.4g}" for k, v in probe.upper.items())
        click.echo(f"  load {probe.load:<10.4g} {verdict:<9}  (95% upper: {bounds})", err=True)

    result = api.capacity(model, _parse_slo(slos), duration=duration, warmup=warmup,
                          seed=seed, replications=replications, tolerance=tolerance,
                          start=start, workers=workers, progress=show)
    if fmt == "json":
        click.echo(json.dumps(json_safe(summary(result)), indent=2))
        return
    unit = "users" if result.load_kind == "users" else "req/s"
    if result.found:
        click.echo(f"capacity: {result.load:.4g} {unit} (fails at {result.failed_at:.4g} "
                   f"{unit}), {len(result.probes)} probes of {replications} replications")
    elif math.isnan(result.load):
        click.echo(f"capacity: below {result.failed_at:.4g} {unit}: no load tried met the SLOs")
    else:
        click.echo(f"capacity: at least {result.load:.4g} {unit}: no load tried failed")
