"""What a calibration fits: parameters named by model paths, in parametrisations that
cannot go invalid, and the default set chosen from the baseline's findings.

Kinds of parameter (``--fit PATH``):

- ``value``: a path to one number fits that number (an integer one, such as
  ``agents.concurrency``, by a pattern search between least-squares passes);
- ``scale``: a path with ``*`` matching several distributions or numbers, or a
  distribution other than a lognormal given by median and p99, fits one factor on
  every time (or size) of every match, shape unchanged;
- ``median`` and ``tail``: a path to one lognormal given by ``median`` and ``p99``
  fits two parameters, the median and the tail ratio p99 / median (>= TAIL_MIN),
  so no trial can have a p99 below its median.

Continuous parameters are searched in log space (a rate or a time stays positive).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel

from tarsim.config.errors import ConfigError, Problem
from tarsim.config.model import Model

SCALED_FIELDS = {"constant": ("value",), "exponential": ("mean",), "uniform": ("low", "high"),
                 "lognormal": ("median", "p99", "mean"), "gamma": ("mean",),
                 "empirical": ("scale",)}
TAIL_MIN = 1.01
"""Smallest p99 / median ratio a fitted lognormal may take (a sigma of 0.004)."""
SEARCH_RANGE = 1e3
"""A continuous parameter with no bound of its own is searched within start / 1e3 ..
start x 1e3."""
KNOWN_STRUCTURE = ("agents.concurrency", "agents.count")
"""Structure the user knows (slots, agents): never fitted unless asked for."""
DEFAULT_FIT = ("router.work", "roles.*.work", "llms.*.first_token", "llms.*.output_rate",
               "providers.*.errors.rate", "memory.base", "memory.per_agent",
               "memory.per_request",
               *(f"{station}.{name}" for station in (
                   "deployment.cpu", "deployment.congestion", "providers.*.congestion")
                 for name in ("cores", "contention", "coherence", "overload.max",
                              "overload.half", "overload.onset")))
"""The usual unknowns, and the congestion curves wherever they live (a host's CPU, a
host's call station, a provider's); limits that bind are added, see :func:`default_fit`."""
MEMORY_PATHS = ("memory.base", "memory.per_agent", "memory.per_request")


@dataclass(frozen=True)
class Parameter:
    path: str
    """As the user wrote it (``PATH.median`` / ``PATH.tail`` for a lognormal's two)."""
    leaves: tuple[tuple[str, float], ...]
    """Concrete dotted paths it sets, with their starting values."""
    kind: str
    """``value``, ``scale``, ``median`` or ``tail`` (see the module docstring)."""
    integer: bool
    lower: float
    upper: float
    start: float

    @property
    def scale(self) -> bool:
        return self.kind == "scale"


def values(params: Sequence[Parameter], theta: Sequence[float] | np.ndarray) -> dict[str, float]:
    """The model values *theta* sets (a tail ratio times its median, fitted or not)."""
    out: dict[str, float] = {}
    tails = []
    for p, t in zip(params, theta, strict=True):
        t = float(t)
        if p.kind == "scale":
            out.update({leaf: value * t for leaf, value in p.leaves})
        elif p.kind == "tail":
            tails.append((p, t))
        else:
            out[p.leaves[0][0]] = float(round(t)) if p.integer else t
    for p, t in tails:
        (p99_leaf, _), (median_leaf, median) = p.leaves
        out[p99_leaf] = t * out.get(median_leaf, median)
    return out


def _dump(model: Model) -> dict[str, Any]:
    return model.model_dump(by_alias=True, exclude_none=True)


def expand(node: Any, parts: list[str], prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted path, node) of every match of *parts* (``*`` matches any key)."""
    if not parts:
        return [(prefix, node)]
    head, rest = parts[0], parts[1:]
    if isinstance(node, list):  # a list's items by index (workload.classes.0.weight)
        keys: list[Any] = list(range(len(node))) if head == "*" else \
            [int(head)] if head.isdigit() and int(head) < len(node) else []
    elif isinstance(node, dict):
        keys = list(node) if head == "*" else [head] if head in node else []
    else:
        return []
    found = []
    for key in keys:
        found += expand(node[key], rest, f"{prefix}.{key}" if prefix else str(key))
    return found


def _field_bounds(model: Model, leaf: str) -> tuple[float, float, bool]:
    """Lower and upper bound and integer-ness of a leaf, from its pydantic field."""
    node: Any = model
    parts = leaf.split(".")
    for part in parts[:-1]:
        if isinstance(node, list | tuple):
            node = node[int(part)] if part.isdigit() and int(part) < len(node) else None
        else:
            node = node.get(part) if isinstance(node, dict) else getattr(node, part, None)
    lower, upper, integer = 0.0, math.inf, False
    if isinstance(node, BaseModel):
        fields = type(node).model_fields
        name = next((n for n, f in fields.items() if parts[-1] in (n, f.alias)), None)
        if name is not None:
            info = fields[name]
            integer = info.annotation is int or "int" in str(info.annotation).split("|")[0]
            for meta in info.metadata:
                lower = max(lower, float(getattr(meta, "ge", getattr(meta, "gt", lower))))
                upper = min(upper, float(getattr(meta, "le", getattr(meta, "lt", upper))))
    return lower, upper, integer


def _lognormal_pair(path: str, where: str, node: dict[str, Any]) -> list[Parameter]:
    median, p99 = float(node["median"]), float(node["p99"])
    tail = max(p99 / median, TAIL_MIN)
    return [Parameter(f"{path}.median", ((f"{where}.median", median),), "median", False,
                      median / SEARCH_RANGE, median * SEARCH_RANGE, median),
            Parameter(f"{path}.tail", ((f"{where}.p99", p99), (f"{where}.median", median)),
                      "tail", False, TAIL_MIN, 100.0, tail)]


def resolve(model: Model, paths: Sequence[str]) -> list[Parameter]:
    """The parameters *paths* name in *model*; a ConfigError lists every path that
    names nothing fittable."""
    data = _dump(model)
    params, problems = [], []
    for path in paths:
        matches = expand(data, path.split("."))
        leaves: list[tuple[str, float]] = []
        for where, node in matches:
            if isinstance(node, dict) and "dist" in node:
                for name in SCALED_FIELDS.get(node["dist"], ()):
                    if isinstance(node.get(name), int | float):
                        leaves.append((f"{where}.{name}", float(node[name])))
            elif isinstance(node, int | float) and not isinstance(node, bool):
                leaves.append((where, float(node)))
        if not leaves:
            problems.append(Problem(f"--fit {path}", "names no number or distribution in the "
                                    "model", path, has_value=False))
            continue
        if len(matches) == 1 and isinstance(matches[0][1], dict):
            where, node = matches[0]
            if node.get("dist") == "lognormal" and isinstance(node.get("median"), int | float) \
                    and isinstance(node.get("p99"), int | float) and node["median"] > 0:
                params += _lognormal_pair(path, where, node)
                continue
        if len(matches) == 1 and "*" not in path and not isinstance(matches[0][1], dict):
            leaf, value = leaves[0]
            lower, upper, integer = _field_bounds(model, leaf)
            lower = max(lower, 1.0) if integer else lower
            start = value if value > 0 else (0.01 if upper <= 1 else 1.0)
            if not integer:  # searched in log space: a positive floor, a finite ceiling
                lower = max(lower, start / SEARCH_RANGE)
                upper = min(upper, start * SEARCH_RANGE)
            params.append(Parameter(path, tuple(leaves), "value", integer, lower, upper,
                                    min(max(start, lower), upper)))
        else:
            params.append(Parameter(path, tuple(leaves), "scale", False, 1 / SEARCH_RANGE,
                                    SEARCH_RANGE, 1.0))
    if problems:
        raise ConfigError(problems)
    return params


def default_fit(model: Model, baseline: Any, binding: Sequence[str] = (),
                quiet: Sequence[str] = ()) -> tuple[list[str], list[tuple[str, str]]]:
    """The paths a calibration fits when the user names none, and why each usual
    unknown is fitted or left out: (paths, [(path, reason)])."""
    data = _dump(model)
    rows = baseline.rows
    has_memory = any(r.memory_mb is not None for r in rows)
    has_errors = any(r.error_rate is not None for r in rows)
    paths: list[str] = []
    why: list[tuple[str, str]] = []
    for path in DEFAULT_FIT:
        matches = expand(data, path.split("."))
        numbers = [n for _, n in matches if isinstance(n, int | float | dict)]
        if not numbers or (path == "router.work" and all(n == 0 for n in numbers)):
            continue
        if path in MEMORY_PATHS and not has_memory:
            why.append((path, "fixed: the baseline measures no memory"))
        elif path == "providers.*.errors.rate" and (
                not has_errors or all(n == 0 for n in numbers)):
            why.append((path, "fixed: " + ("the baseline measures no errors" if not has_errors
                                           else "every provider's error rate is 0, which no "
                                           "scale can move (give one a start value to fit it)")))
        else:
            paths.append(path)
            why.append((path, "fitted: a usual unknown"))
    for path in binding:
        paths.append(path)
        why.append((path, "fitted: this limit binds in the baseline (see the rate_limit "
                          "findings)"))
    for path in quiet:
        why.append((path, "fixed: this limit does not bind in the baseline, which cannot "
                          "tell its rate"))
    for path in KNOWN_STRUCTURE:
        if expand(data, path.split(".")):
            why.append((path, "fixed: known structure (give --fit to fit it)"))
    return paths, why
