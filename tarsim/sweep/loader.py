"""Experiment files in, validated experiments out: the spec, its model (with the
experiment's fixed ``set`` overrides) and every point, or one ConfigError that
lists every problem with its path and line."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tarsim.config import ConfigError, Model, Problem, load_data, load_model, validate
from tarsim.config import with_overrides as _with_overrides
from tarsim.sweep.experiment import ExperimentSpec, SLOSpec
from tarsim.sweep.points import Point, check_axes, expand, restate_at_axis


@dataclass(frozen=True)
class Experiment:
    """A validated experiment, ready to run."""

    spec: ExperimentSpec
    model: Model
    """The model after the experiment's ``set`` overrides (the base of every point)."""
    points: list[Point]
    source: str
    model_file: Path

    @property
    def slo(self) -> SLOSpec:
        """The experiment's SLOs, else the model's."""
        if self.spec.slo is not None:
            return self.spec.slo
        slo = self.model.slo
        assert slo is not None  # load_experiment requires one or the other
        return SLOSpec(p99=slo.p99, error_rate=slo.error_rate)


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate the experiment at *path*, its model and its axes."""
    path = Path(path)
    data, lines = load_data(path)
    return experiment_from_data(data, path.parent, str(path), lines)


def experiment_from_data(data: Any, base_dir: str | Path = ".", source: str = "<experiment>",
                         lines: Mapping[tuple[Any, ...], int] | None = None) -> Experiment:
    """Validate an experiment given as data (what its YAML file would hold), with
    its ``model`` path relative to *base_dir*."""
    lines = dict(lines or {})
    path = Path(base_dir) / "experiment.yaml"  # the model path is relative to its folder
    spec = validate(ExperimentSpec, data, source=source, lines=lines)
    model_file = spec.model_path(path)
    if not model_file.is_file():
        raise ConfigError([Problem("model", f"no such file ({model_file})", spec.model,
                                   line=lines.get(("model",)))], source)
    model = load_model(model_file)
    problems: list[Problem] = []
    for key, value in spec.overrides.items():
        try:
            _with_overrides(model, {key: value})
        except ConfigError as exc:
            problems += [restate_at_axis(p, ("set", key), key, lines) for p in exc.problems]
    if problems:
        raise ConfigError(problems, source)
    if spec.overrides:
        try:
            model = _with_overrides(model, spec.overrides)
        except ConfigError as exc:
            raise ConfigError([Problem("set", f"{p.path}: {p.rule}", p.value,
                                       lines.get(("set",)), p.has_value, p.hint)
                               for p in exc.problems], source) from None
    model_slo = model.slo
    if spec.slo is None and (model_slo is None
                             or (model_slo.p99 is None and model_slo.error_rate is None)):
        rule = ("is required when the model has no slo section" if model_slo is None else
                "is required when the model's slo section sets no objective")
        problems.append(Problem("slo", rule, has_value=False))
    problems += check_axes(spec, model, lines)
    if problems:
        raise ConfigError(problems, source)
    try:
        points = expand(spec, model)
    except ConfigError as exc:
        raise ConfigError(exc.problems, source) from None
    return Experiment(spec, model, points, source, model_file)


def experiment_with_model(experiment_file: str | Path, model_file: str | Path) -> Experiment:
    """The experiment at *experiment_file* with its ``model`` replaced by
    *model_file* (as given, relative to the current folder)."""
    path = Path(experiment_file)
    data, lines = load_data(path)
    if not isinstance(data, dict):
        raise ConfigError([Problem("", "the file must hold a mapping of sections",
                                   type(data).__name__)], str(path))
    model = Path(model_file).resolve()
    if not model.is_file():
        raise ConfigError([Problem("MODEL", "no such file", str(model_file))])
    return experiment_from_data({**data, "model": str(model)}, path.parent, str(path), lines)
