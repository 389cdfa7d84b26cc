"""Study files in, validated studies out: the spec, the model it varies (a model file,
or an experiment's tier at its highest load), each parameter resolved against that
model (its base value, whether it is whole, how a unit draw maps to a value) and
the SLOs, or one ConfigError that lists every problem with its path and line."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from tarsim.config import ConfigError, Model, Problem, load_data, load_model, validate
from tarsim.config import with_overrides as _with_overrides
from tarsim.config.loader import format_path, split_path
from tarsim.config.references import did_you_mean
from tarsim.sensitivity.study import ENSEMBLE, OUTPUT_NAMES, ParameterSpec, StudySpec
from tarsim.sweep.experiment import SLOSpec
from tarsim.sweep.loader import Experiment, load_experiment
from tarsim.sweep.points import RATE, load_overrides, restate_at_axis

Z975 = float(stats.norm.ppf(0.975))
EDGE = 1e-9
"""Unit draws are kept this far inside (0, 1), where every quantile is finite."""


@dataclass(frozen=True)
class Parameter:
    """One resolved input: how a draw u in (0, 1) maps to the value set at *path*."""

    path: str
    label: str
    dist: str
    low: float
    high: float
    mean: float
    sd: float
    base: float
    integer: bool
    leaves: tuple[tuple[str, float], ...] = ()
    """A scale factor's leaves (path, value in the study's model): the drawn factor
    multiplies each of them."""

    def value(self, u: float) -> float:
        """The value at quantile *u* of the parameter's distribution."""
        u = min(max(float(u), EDGE), 1 - EDGE)
        if self.dist == "uniform":
            if self.integer:
                return float(min(math.floor(self.low + u * (self.high - self.low + 1)),
                                 self.high))
            return self.low + u * (self.high - self.low)
        if self.dist == "loguniform":
            return math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        if self.dist == "scale":
            return float(stats.truncnorm.ppf(u, -1.0 / self.sd, math.inf, loc=1.0,
                                             scale=self.sd))
        a = (self.low - self.mean) / self.sd if math.isfinite(self.low) else -math.inf
        b = (self.high - self.mean) / self.sd if math.isfinite(self.high) else math.inf
        return float(stats.truncnorm.ppf(u, a, b, loc=self.mean, scale=self.sd))

    def ends(self) -> tuple[float, float]:
        """The one-at-a-time method's low and high: the range's ends, or a normal's
        2.5% and 97.5% quantiles."""
        if self.dist in ("normal", "scale"):
            return self.value(0.025), self.value(0.975)
        return self.low, self.high

    def setting(self, value: float) -> Any:
        return round(value) if self.integer else value

    def overrides(self, value: float) -> dict[str, Any]:
        """The ``--set`` paths and values that put this parameter at *value*."""
        if self.dist == "scale":
            return {leaf: base * value for leaf, base in self.leaves}
        return {self.path: self.setting(value)}


@dataclass(frozen=True)
class Study:
    """A validated study, ready to run."""

    spec: StudySpec
    model: Model
    """The model every design point starts from (tier load and ``set`` applied)."""
    parameters: list[Parameter]
    slo: SLOSpec
    horizon: float
    warmup: float
    source: str
    correlation: np.ndarray | None = None
    """Ensemble: the correlation of the parameters' normal draws (None: independent)."""
    fixed: dict[str, Any] = field(default_factory=dict)
    """What the study pins (the tier's load and the study's ``set``), for the manifest."""
    experiment: Experiment | None = None
    """A study of each tier's recommendation in this experiment's sweep (a list of
    tiers, or an ensemble without ``tier``)."""
    tiers: list[str] = field(default_factory=list)
    """Those tiers."""

    @property
    def outputs(self) -> list[str]:
        return list(self.spec.outputs)


def model_value(model: Model, path: str) -> Any:
    """The value at dotted *path* of *model* (None when there is none)."""
    node: Any = model.model_dump(by_alias=True, exclude_none=True)
    for key in split_path(path):
        in_list = isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node)
        if in_list or (isinstance(node, dict) and key in node):
            node = node[key]
        else:
            return None
    return node


def load_study(path: str | Path, replace: Mapping[str, Any] | None = None) -> Study:
    """Read and validate the study at *path*, its model and its parameters, with
    the top-level keys in *replace* (``{"method": "oat"}``) replaced first."""
    path = Path(path)
    data, lines = load_data(path)
    if replace and isinstance(data, dict):
        data = {**data, **replace}
    return study_from_data(data, path.parent, str(path), lines)


def study_from_data(data: Any, base_dir: str | Path = ".", source: str = "<study>",
                    lines: Mapping[tuple[Any, ...], int] | None = None) -> Study:
    """Validate a study given as data (what its YAML file would hold), with its
    file paths relative to *base_dir*."""
    lines = dict(lines or {})
    where = Path(base_dir) / "study.yaml"
    spec = validate(StudySpec, data, source=source, lines=lines)
    problems: list[Problem] = []
    for i, name in enumerate(spec.outputs):
        if name not in OUTPUT_NAMES:
            problems.append(Problem(f"outputs[{i}]", "must be one of "
                                    f"{', '.join(OUTPUT_NAMES)}", name,
                                    line=lines.get(("outputs", i)),
                                    hint=did_you_mean(name, list(OUTPUT_NAMES))))
    model, slo, horizon, warmup, fixed, experiment = _target(spec, where, lines, problems)
    if problems or model is None:
        raise ConfigError(problems, source)
    parameters = []
    for name, param in spec.parameters.items():
        resolved = _resolve(model, name, param, lines, problems)
        if resolved is not None:
            parameters.append(resolved)
    correlation = None
    if spec.method == ENSEMBLE and spec.ensemble and spec.ensemble.calibration:
        extra, correlation = _from_calibration(
            model, spec.file_of(where, spec.ensemble.calibration), len(parameters), problems,
            lines)
        parameters += extra
    if slo is None:
        problems.append(Problem("slo", "is required when the model has no slo section",
                                has_value=False))
    if SLO_OUTPUT in spec.outputs and slo is not None and not slo.limits():
        problems.append(Problem("slo", "names no objective, so the slo output is undefined",
                                has_value=False))
    if problems:
        raise ConfigError(problems, source)
    assert slo is not None
    tiers = [] if experiment is None else (
        list(spec.tier) if isinstance(spec.tier, list)
        else [t.name for t in experiment.spec.tiers])
    return Study(spec, model, parameters, slo, horizon, warmup, source, correlation, fixed,
                 experiment, tiers)


SLO_OUTPUT = "slo"


def _target(spec: StudySpec, where: Path, lines: Mapping[tuple[Any, ...], int],
            problems: list[Problem]) -> tuple[Model | None, SLOSpec | None, float, float,
                                              dict[str, Any], Experiment | None]:
    """The study's base model, SLOs, horizon, warm-up, what it pins, and the
    experiment whose every tier an ensemble without ``tier`` covers."""
    fixed: dict[str, Any] = {}
    whole: Experiment | None = None
    if spec.experiment is not None:
        exp_file = spec.file_of(where, spec.experiment)
        if not exp_file.is_file():
            problems.append(Problem("experiment", f"no such file ({exp_file})",
                                    spec.experiment, line=lines.get(("experiment",))))
            return None, None, 0.0, 0.0, fixed, None
        experiment = load_experiment(exp_file)
        tiers = {t.name: t for t in experiment.spec.tiers}
        named = spec.tier if isinstance(spec.tier, list) else [spec.tier]
        unknown = [(i, n) for i, n in enumerate(named) if n is not None and n not in tiers]
        for i, name in unknown:
            at = ("tier", i) if isinstance(spec.tier, list) else ("tier",)
            problems.append(Problem(format_path(at), f"is not a tier of {spec.experiment} "
                                    f"(its tiers: {', '.join(tiers) or 'none'})", name,
                                    line=lines.get(at),
                                    hint=did_you_mean(str(name), list(tiers))))
        if unknown:
            return None, None, 0.0, 0.0, fixed, None
        if spec.tier is None or isinstance(spec.tier, list):
            whole = experiment
        model = experiment.model
        if isinstance(spec.tier, str):
            tier = tiers[str(spec.tier)]
            if tier.rates():
                fixed = load_overrides(model, RATE, max(tier.rates()))
            else:
                fixed = load_overrides(model, "users", float(max(tier.user_counts())),
                                       tier.think_time)
            model = _with_overrides(model, fixed)
        slo: SLOSpec | None = experiment.slo
        # an experiment's automatic timing is per point: a study then runs 60 s
        inherited = spec.horizon is None and not experiment.spec.auto_timing
        horizon = spec.horizon or (experiment.spec.horizon_s if inherited else 60.0)
        warmup = spec.warmup if spec.warmup is not None else (
            experiment.spec.warmup_s if inherited else 0.1 * horizon)
    else:
        model_file = spec.file_of(where, str(spec.model))
        if not model_file.is_file():
            problems.append(Problem("model", f"no such file ({model_file})", spec.model,
                                    line=lines.get(("model",))))
            return None, None, 0.0, 0.0, fixed, None
        model = load_model(model_file)
        slo = SLOSpec(p99=model.slo.p99, error_rate=model.slo.error_rate) \
            if model.slo is not None else None
        horizon = spec.horizon or 60.0
        warmup = spec.warmup if spec.warmup is not None else 0.1 * horizon
    if warmup >= horizon:
        problems.append(Problem("warmup", f"must be < the horizon ({horizon:g}s)", warmup,
                                line=lines.get(("warmup",))))
    before = len(problems)
    for key, value in spec.overrides.items():
        try:
            _with_overrides(model, {key: value})
        except ConfigError as exc:
            problems += [restate_at_axis(p, ("set", key), key, lines) for p in exc.problems]
    if len(problems) == before and spec.overrides:
        model = _with_overrides(model, spec.overrides)
        fixed = {**fixed, **spec.overrides}
    if spec.slo is not None:
        slo = spec.slo
    return model, slo, horizon, warmup, fixed, whole


def _resolve(model: Model, path: str, param: ParameterSpec,
             lines: Mapping[tuple[Any, ...], int], problems: list[Problem]) -> Parameter | None:
    at = ("parameters", path)
    current = model_value(model, path)
    if isinstance(current, dict) and current.get("dist") == "constant":
        current = current.get("value")  # a constant distribution is its value
    numeric = isinstance(current, int | float) and not isinstance(current, bool)
    integer = param.integer if param.integer is not None else (
        numeric and isinstance(current, int) and param.distribution == "uniform")
    low = param.low if param.low is not None else -math.inf
    high = param.high if param.high is not None else math.inf
    mean = param.mean if param.mean is not None else math.nan
    sd = param.sd if param.sd is not None else math.nan
    draft = Parameter(path, param.label or path, param.distribution, low, high, mean, sd, 0.0,
                      bool(integer))
    if param.base is not None:
        base = param.base
    elif numeric and draft.ends()[0] <= float(current) <= draft.ends()[1]:
        base = float(current)
    else:
        base = draft.value(0.5)
    resolved = Parameter(path, draft.label, draft.dist, low, high, mean, sd, base,
                         draft.integer)
    found = False
    for name, value in (("low", resolved.ends()[0]), ("high", resolved.ends()[1]),
                        ("base", base)):
        try:
            _with_overrides(model, {path: resolved.setting(value)})
        except ConfigError as exc:
            if not found:
                problems += [restate_at_axis(p, (*at, name), path, lines) for p in exc.problems]
            found = True
    return None if found else resolved


def _from_calibration(model: Model, file: Path, offset: int, problems: list[Problem],
                      lines: Mapping[tuple[Any, ...], int]
                      ) -> tuple[list[Parameter], np.ndarray | None]:
    """Normal parameters from a ``tarsim calibrate --format json`` output: value as
    mean, 95% interval as mean ± 1.96 sd; a scale factor is drawn relative to its
    fitted value and multiplies every leaf of the study's model."""
    at = ("ensemble", "calibration")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        entries = list(data["parameters"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        problems.append(Problem("ensemble.calibration", "must be the JSON output of "
                                f"tarsim calibrate --format json ({exc})", str(file),
                                line=lines.get(at)))
        return [], None
    out: list[Parameter] = []
    kept: list[int] = []
    for k, entry in enumerate(entries):
        value = float(entry["value"])
        lo, hi = (float(x) for x in entry["ci95"])
        sd = (hi - lo) / (2 * Z975)
        if not (math.isfinite(sd) and sd > 0 and value != 0):
            continue  # pinned by the fit (or an integer interval of one value)
        kept.append(k)
        if entry.get("kind") == "scale":
            leaves = tuple((leaf, float(model_value(model, leaf)))
                           for leaf in entry.get("leaves", [])
                           if isinstance(model_value(model, leaf), int | float))
            out.append(Parameter(entry["path"], f"{entry['path']} (scale)", "scale",
                                 0.0, math.inf, 1.0, sd / abs(value), 1.0, False, leaves))
        else:
            out.append(Parameter(entry["path"], entry["path"], "normal", 0.0, math.inf,
                                 value, sd, value, False))
    corr = data.get("correlation")
    matrix = None
    if corr is not None:
        full = np.asarray(corr, dtype=float)
        if full.shape == (len(entries), len(entries)):
            sub = np.nan_to_num(full[np.ix_(kept, kept)], nan=0.0)
            np.fill_diagonal(sub, 1.0)
            matrix = np.eye(offset + len(out))
            matrix[offset:, offset:] = sub
    return out, matrix


def parameter_paths(parameters: Sequence[Parameter]) -> list[str]:
    return [p.path for p in parameters]
