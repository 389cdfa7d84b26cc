"""The points of an experiment: tiers x loads x grid axes (crossed) x zipped axes,
each one a validated model, and its key for the results store.

A point's key is a hash of everything that decides its runs (the whole model
after overrides, the horizon, the warm-up and the seed), so results on disk are
reused only by the exact point that made them.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tarsim.config import ConfigError, Model, Problem, with_overrides
from tarsim.config.loader import PathKey, format_path
from tarsim.config.workload import OPEN_KINDS
from tarsim.sweep.experiment import ExperimentSpec, TierSpec

RATE, USERS, MODEL_LOAD = "rate", "users", "model"
"""How a point's load is given: an open-loop rate, closed-loop users, or the model's own."""
DEFAULT_TIER = "all"
PRICE = "agents.price_per_hour"
"""The one tier of an experiment that names none."""


@dataclass(frozen=True)
class Point:
    """One configuration at one load, with the model that describes it."""

    index: int
    tier: str
    load_kind: str
    load: float
    """Offered rate (per second) or users; NaN when the model's own load is used."""
    params: tuple[tuple[str, Any], ...]
    """Axis path -> value, in the experiment's order (the load excluded)."""
    model: Model
    key: str

    @property
    def config(self) -> str:
        """The configuration (everything but the load), as ``path=value`` text."""
        return config_label(self.params)

    @property
    def label(self) -> str:
        load = "" if self.load_kind == MODEL_LOAD else f" @ {load_label(self.load_kind, self.load)}"
        return f"[{self.tier}] {self.config}{load}"


def show_value(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), sort_keys=False)
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else str(value)
    return str(value)


def config_label(params: Iterable[tuple[str, Any]]) -> str:
    text = ", ".join(f"{path}={show_value(value)}" for path, value in params)
    return text or "(the model as it is)"


def load_label(kind: str, load: float) -> str:
    if kind == RATE:
        return f"{load:g}/s"
    if kind == USERS:
        return f"{int(load)} users"
    return "model load"


# ---------------------------------------------------------------- loads
def load_overrides(model: Model, kind: str, load: float,
                   think_time: Any = None) -> dict[str, Any]:
    """The overrides that put *model* under an open-loop *rate* or closed-loop *users*.

    A Poisson or deterministic model keeps its kind and gets the new rate; any other
    open or closed workload becomes Poisson at that rate, since a tier's load is a
    steady rate."""
    arrivals = model.workload.arrivals
    if kind == RATE:
        if arrivals.kind in ("poisson", "deterministic"):
            return {"workload.arrivals.rate": load}
        return {"workload.arrivals": {"kind": "poisson", "rate": load}}
    if kind == USERS:
        if think_time is None:
            think_time = getattr(arrivals, "think_time", 0.0)
        if isinstance(think_time, BaseModel):
            think_time = think_time.model_dump(by_alias=True, exclude_none=True)
        return {"workload.arrivals": {"kind": "closed", "users": int(load),
                                      "think_time": think_time}}
    return {}


def model_load(model: Model) -> tuple[str, float]:
    """The load *model* itself is under, as (kind, value)."""
    arrivals = model.workload.arrivals
    if arrivals.kind == "closed":
        return USERS, float(arrivals.users)  # type: ignore[union-attr]
    if arrivals.kind in ("poisson", "deterministic"):
        return RATE, float(arrivals.rate)  # type: ignore[union-attr]
    return MODEL_LOAD, math.nan


def is_open_loop(model: Model) -> bool:
    return model.workload.arrivals.kind in OPEN_KINDS


# ---------------------------------------------------------------- keys
def point_key(model: Model, duration: float | str, warmup: float | None, seed: int) -> str:
    """A hash of everything that decides a point's runs: the model, the horizon, the
    warm-up, the seed, the contents of the data files the model reads (not only
    their names) and the tarsim version."""
    dump = model.model_dump(mode="json", by_alias=True)
    text = json.dumps(
        {"model": dump, "duration": duration, "warmup": warmup, "seed": seed,
         "data": data_digests(model, dump), "tarsim": tarsim_version()},
        sort_keys=True, allow_nan=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def data_digests(model: Model, dump: dict[str, Any] | None = None) -> dict[str, str]:
    """SHA-256 of each data file *model* names (empirical samples, traces), by name
    (*dump*: the model's data, when the caller has it already)."""
    digests = {}
    data = dump if dump is not None else model.model_dump(by_alias=True)
    for name in sorted(set(_data_files(data))):
        path = Path(name) if Path(name).is_absolute() else model.base_dir / name
        try:
            info = path.stat()
        except OSError:
            digests[name] = "missing"
            continue
        digests[name] = _digest(str(path.resolve()), info.st_mtime_ns, info.st_size)
    return digests


def _data_files(data: Any) -> Iterable[str]:
    if isinstance(data, dict):
        if isinstance(data.get("file"), str) and ("dist" in data or "kind" in data):
            yield data["file"]
        for value in data.values():
            yield from _data_files(value)
    elif isinstance(data, list):
        for value in data:
            yield from _data_files(value)


@functools.lru_cache(maxsize=256)
def _digest(path: str, mtime_ns: int, size: int) -> str:
    """The file's SHA-256 (cached while its modification time and size stay)."""
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def tarsim_version() -> str:
    import tarsim

    return str(tarsim.__version__)


# ---------------------------------------------------------------- expansion
Assignment = dict[str, Any]


def _axis_groups(grid: Mapping[str, list[Any]],
                 zipped: list[dict[str, list[Any]]]) -> list[list[Assignment]]:
    """Each crossed axis is a group of single assignments; each zip is one group."""
    groups = [[{axis: value} for value in values] for axis, values in grid.items()]
    for group in zipped:
        axes = list(group)
        count = len(group[axes[0]])
        groups.append([{axis: group[axis][i] for axis in axes} for i in range(count)])
    return groups


def _axis_sources(where: PathKey, grid: Mapping[str, list[Any]],
                  zipped: list[dict[str, list[Any]]]) -> Iterable[tuple[PathKey, str, list[Any]]]:
    for axis, values in grid.items():
        yield (*where, "grid", axis), axis, values
    for z, group in enumerate(zipped):
        for axis, values in group.items():
            yield (*where, "zip", z, axis), axis, values


def restate_at_axis(problem: Problem, at: PathKey, axis: str,
                    lines: Mapping[PathKey, int]) -> Problem:
    """A problem the model reported, restated at the experiment's axis value."""
    inner = "" if problem.path == axis else f"{problem.path}: "
    line = None
    for cut in range(len(at), -1, -1):
        if at[:cut] in lines:
            line = lines[at[:cut]]
            break
    return Problem(format_path(at), f"{inner}{problem.rule}", problem.value, line,
                   problem.has_value, problem.hint)


def check_axes(spec: ExperimentSpec, model: Model,
               lines: Mapping[PathKey, int]) -> list[Problem]:
    """Apply every axis value on its own to *model*: a wrong path or value is a
    problem naming the axis (``grid.agents.count[1]: must be >= 1, got 0``)."""
    problems: list[Problem] = []
    sources = list(_axis_sources((), spec.grid, spec.zip))
    for t, tier in enumerate(spec.tiers):
        sources += list(_axis_sources(("tiers", t), tier.grid, tier.zip))
    for where, axis, values in sources:
        if axis.startswith("workload.arrivals") and spec.tiers:
            problems.append(Problem(format_path(where), "the load is set by the tiers' "
                                    "rate or users, not by an axis", has_value=False,
                                    line=lines.get(where)))
            continue
        for i, value in enumerate(values):
            try:
                with_overrides(model, {axis: value})
            except ConfigError as exc:
                problems += [restate_at_axis(p, (*where, i), axis, lines) for p in exc.problems]
    for t, tier in enumerate(spec.tiers):
        shared = set(tier.grid) | {a for g in tier.zip for a in g}
        clash = sorted(shared & (set(spec.grid) | {a for g in spec.zip for a in g}))
        if clash:
            problems.append(Problem(format_path(("tiers", t)),
                                    "varies axes the experiment's grid already varies",
                                    clash, line=lines.get(("tiers", t))))
    return problems


def _tiers(spec: ExperimentSpec, model: Model) -> list[tuple[TierSpec, list[tuple[str, float]]]]:
    if not spec.tiers:
        kind, load = model_load(model)
        implicit = TierSpec.model_construct(name=DEFAULT_TIER, grid={}, zip=[],
                                            think_time=None)
        return [(implicit, [(kind, load)])]
    return [(tier, [(RATE, r) for r in tier.rates()] + [(USERS, float(u))
                                                        for u in tier.user_counts()])
            for tier in spec.tiers]


MAX_POINTS = 5_000
"""Points an experiment may have: each is a validated model held in memory, built
and keyed in about 4 ms (models/tars.yaml on the shared 2-core machine), so 5,000
points load in about 20 s."""


def count_points(spec: ExperimentSpec, model: Model) -> int:
    """How many points :func:`expand` would build, counted without building them."""
    total = 0
    for tier, loads in _tiers(spec, model):
        groups = _axis_groups(spec.grid, spec.zip) + _axis_groups(tier.grid, tier.zip)
        total += math.prod(len(g) for g in groups) * len(loads)
    return total


def expand(spec: ExperimentSpec, model: Model) -> list[Point]:
    """Every point of the experiment, each with its validated model, in a fixed
    order: tier, then configuration, then load."""
    count = count_points(spec, model)
    if count > MAX_POINTS:
        raise ConfigError([Problem("grid", f"makes {count:,} points, above the {MAX_POINTS:,} "
                                   "an experiment may have: split it, or use fewer values",
                                   has_value=False)])
    points: list[Point] = []
    problems: list[Problem] = []
    warmup = spec.warmup_s
    # the experiment's agent price, when it gives one, is the price every run
    # charges its measured agent-seconds at (a grid axis on it still wins)
    price: Assignment = ({PRICE: spec.costs.agent_per_hour_usd}
                         if spec.costs.agent_per_hour_usd > 0 else {})
    for tier, loads in _tiers(spec, model):
        groups = _axis_groups(spec.grid, spec.zip) + _axis_groups(tier.grid, tier.zip)
        for combo in itertools.product(*groups):
            params: Assignment = {}
            for assignment in combo:
                params.update(assignment)
            for kind, load in loads:
                overrides = {**price, **params,
                             **load_overrides(model, kind, load, tier.think_time)}
                try:
                    point_model = with_overrides(model, overrides) if overrides else model
                except ConfigError as exc:
                    label = f"[{tier.name}] {config_label(params.items())}"
                    problems += [Problem(f"point {label} @ {load_label(kind, load)}",
                                         f"{p.path}: {p.rule}", p.value, None, p.has_value,
                                         p.hint) for p in exc.problems]
                    continue
                points.append(Point(
                    index=len(points), tier=tier.name, load_kind=kind, load=load,
                    params=tuple(params.items()), model=point_model,
                    key=point_key(point_model, spec.horizon,
                                  spec.warmup if spec.auto_timing else warmup, spec.seed),
                ))
    if problems:
        raise ConfigError(problems[:20] + ([Problem("", f"... and {len(problems) - 20} more",
                                                    has_value=False)]
                                           if len(problems) > 20 else []))
    return points
