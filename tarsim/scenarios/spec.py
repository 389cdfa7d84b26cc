"""The scenario file: a model, run defaults, and a list of named scenarios, each
with overrides on the model, its own run settings and the analysis it reports.

```yaml
model: ../models/tars.yaml          # relative to this file
defaults: {duration: 120s, warmup: 20s, replications: 2, seed: 1}
scenarios:
  - name: concurrent_10
    type: Concurrent
    purpose: Scale testing at 10 virtual users
    overrides: {workload.arrivals.users: 10, agents.count: 1}
    run: {duration: 60s}
    analysis: {kind: load_point}
```

Loading validates everything before anything runs: the file (every problem at
once, with its line, as for models), the model, each scenario's overrides and
each analysis variant's (by building every model), and what each analysis needs
from its model. The result is a :class:`Plan`.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from tarsim.config.base import Frozen, NonNegSeconds, PosSeconds, repeated
from tarsim.config.errors import ConfigError, Problem
from tarsim.config.loader import (
    PathKey,
    apply_overrides,
    load_data,
    model_from_data,
    split_path,
    validate,
    with_overrides,
)
from tarsim.config.model import Model
from tarsim.config.references import did_you_mean
from tarsim.scenarios import analyses as _analyses  # noqa: F401  (registers the analyses)
from tarsim.scenarios.registry import ANALYSES, Analysis

DEFAULT_DURATION_S = 120.0
DEFAULT_WARMUP_FRACTION = 0.1
DEFAULT_REPLICATIONS = 1
DEFAULT_SEED = 1


class RunSettings(Frozen):
    """How long and how often to simulate; unset values come from ``defaults``."""

    duration: PosSeconds | None = None
    warmup: NonNegSeconds | None = None
    """Default: 10% of the duration."""
    replications: Annotated[int, Field(ge=1)] | None = None
    seed: Annotated[int, Field(ge=0)] | None = None


def _analysis_union() -> Any:
    """The analyses of the registry as a union tagged by ``kind``."""
    members = tuple(Annotated[cls, Tag(name)] for name, cls in ANALYSES.items())
    return Annotated[
        typing.Union[members],  # type: ignore[valid-type]  # noqa: UP007
        Discriminator(
            lambda v: v.get("kind") if isinstance(v, dict) else getattr(v, "kind", None),
            custom_error_type="unknown_analysis",
            custom_error_message=f"kind must be one of {', '.join(ANALYSES.names())}",
        ),
    ]


AnalysisSpec = _analysis_union()


class Scenario(Frozen):
    name: str
    type: Annotated[str, Field(min_length=1)]
    """The seed's scenario type (Concurrent, Ramp, Memory, ...), shown in the table."""
    purpose: Annotated[str, Field(min_length=1)]
    """What the scenario is for, and anything set here that the model lacks."""
    overrides: dict[str, Any] = {}
    """Dotted model paths and their values (YAML), as ``tarsim run --set`` takes them."""
    run: RunSettings = RunSettings()
    analysis: AnalysisSpec  # type: ignore[valid-type]  # a union built from the registry

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        if not name or not all(c.isalnum() or c in "_-." for c in name):
            raise ValueError(f"must be letters, digits, '_', '-' or '.', got {name!r}")
        return name


class ScenarioFile(Frozen):
    model: Annotated[str, Field(min_length=1)]
    """The model file, relative to the scenario file."""
    defaults: RunSettings = RunSettings()
    scenarios: Annotated[list[Scenario], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_names(self) -> ScenarioFile:
        twice = repeated([s.name for s in self.scenarios])
        if twice:
            raise ValueError(f"scenario names must be unique, got {twice} more than once")
        return self


@dataclass(frozen=True)
class Settings:
    duration: float
    warmup: float
    replications: int
    seed: int


@dataclass(frozen=True)
class PlannedScenario:
    """A scenario ready to run: its spec, its settings, and the model of each of
    its analysis's variants."""

    spec: Scenario
    settings: Settings
    models: dict[str, Model]

    @property
    def analysis(self) -> Analysis:
        return self.spec.analysis  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Plan:
    path: Path
    model_path: Path
    scenarios: list[PlannedScenario]

    def names(self) -> list[str]:
        return [s.spec.name for s in self.scenarios]

    def only(self, names: Iterable[str]) -> Plan:
        """The plan narrowed to *names* (in the file's order); unknown names are an error."""
        wanted = list(names)
        if not wanted:
            return self
        known = self.names()
        problems = [Problem("--only", "names no scenario in the file", name,
                            hint=did_you_mean(name, known) or f" (known: {', '.join(known)})")
                    for name in wanted if name not in known]
        if problems:
            raise ConfigError(problems, str(self.path))
        return replace(self, scenarios=[s for s in self.scenarios if s.spec.name in wanted])


def settings_of(defaults: RunSettings, own: RunSettings) -> Settings:
    def pick(name: str, fallback: Any) -> Any:
        value = getattr(own, name)
        if value is None:
            value = getattr(defaults, name)
        return fallback if value is None else value

    duration = float(pick("duration", DEFAULT_DURATION_S))
    warmup = pick("warmup", None)
    warmup = duration * DEFAULT_WARMUP_FRACTION if warmup is None else float(warmup)
    return Settings(duration, warmup, int(pick("replications", DEFAULT_REPLICATIONS)),
                    int(pick("seed", DEFAULT_SEED)))


def load_plan(path: str | Path) -> Plan:
    """Read and check a scenario file and every model it will simulate."""
    path = Path(path)
    data, lines = load_data(path)
    spec = validate(ScenarioFile, data, source=str(path), lines=lines)
    model_path = (path.parent / spec.model).resolve()
    if not model_path.is_file():
        raise ConfigError([Problem("model", f"names no file (looked for {model_path})",
                                   spec.model, line=lines.get(("model",)))], str(path))
    model_data, model_lines = load_data(model_path)
    base_dir = model_path.parent
    # the model as it stands: its own problems are reported against its own file
    model_from_data(model_data, base_dir=base_dir, source=str(model_path), lines=model_lines)
    problems: list[Problem] = []
    planned = []
    for i, scenario in enumerate(spec.scenarios):
        where = ("scenarios", i)
        settings = settings_of(spec.defaults, scenario.run)
        if settings.warmup >= settings.duration:
            problems.append(Problem(
                f"scenarios[{i}].run.warmup", f"must be < the duration ({settings.duration:g}s)",
                settings.warmup, line=_line(lines, (*where, "run", "warmup"))))
        try:
            model = model_from_data(apply_overrides(model_data, scenario.overrides),
                                    base_dir=base_dir)
        except ConfigError as exc:
            problems += [_overrides_problem(p, i, scenario.overrides, lines)
                         for p in exc.problems]
            continue
        analysis: Analysis = scenario.analysis
        line = _line(lines, (*where, "analysis"))
        problems += [Problem(f"scenarios[{i}].analysis.kind", f"{analysis.kind} {need}",
                             has_value=False, line=line) for need in analysis.requires(model)]
        models = {}
        for label, overrides in analysis.variants().items():
            try:
                models[label] = with_overrides(model, overrides) if overrides else model
            except ConfigError as exc:
                problems += [Problem(f"scenarios[{i}].analysis",
                                     f"variant {label!r} makes {p.path or 'the model'} invalid: "
                                     f"{p.rule}", p.value, line=line, has_value=p.has_value,
                                     hint=p.hint) for p in exc.problems]
        planned.append(PlannedScenario(scenario, settings, models))
    if problems:
        raise ConfigError(problems, str(path))
    return Plan(path, model_path, planned)


def _line(lines: dict[PathKey, int], key: PathKey) -> int | None:
    for cut in range(len(key), -1, -1):
        if key[:cut] in lines:
            return lines[key[:cut]]
    return None


def _overrides_problem(problem: Problem, index: int, overrides: dict[str, Any],
                       lines: dict[PathKey, int]) -> Problem:
    """A problem an override caused in the model, placed at that override in the
    scenario file."""
    path = split_path(problem.path) if problem.path else ()
    cause = next((key for key in overrides if path[:len(split_path(key))] == split_path(key)),
                 None)
    where: PathKey = ("scenarios", index, "overrides")
    line = _line(lines, (*where, cause) if cause is not None else where)
    shown = f"scenarios[{index}].overrides"
    shown += f"[{problem.path}]" if problem.path else ""
    return Problem(shown, problem.rule, problem.value, line=line,
                   has_value=problem.has_value, hint=problem.hint)
