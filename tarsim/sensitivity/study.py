"""The study format (``experiments/*.study.yaml``): which model (or which tier of an
experiment), which parameters by dotted path with their ranges or distributions,
which outputs, and which method (one-at-a-time, Morris, Sobol, or an ensemble).

A study is validated like a model: every problem at once, with its path, line,
rule and value, and a "did you mean" for unknown keys. Parameter paths are
checked by applying each end of the range to the model, so a wrong path or a
value the model refuses names the parameter.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from tarsim.config.base import Frozen, NonNegSeconds, PosSeconds
from tarsim.config.units import parse_duration, parse_rate, parse_size
from tarsim.sweep.experiment import SLOSpec
from tarsim.vocabulary import Metric

OAT, MORRIS, SOBOL, ENSEMBLE = "oat", "morris", "sobol", "ensemble"
METHODS = (OAT, MORRIS, SOBOL, ENSEMBLE)

OUTPUTS: dict[str, Metric] = {
    "throughput": Metric.THROUGHPUT,
    "p50": Metric.LATENCY_P50,
    "p95": Metric.LATENCY_P95,
    "p99": Metric.LATENCY_P99,
    "latency_mean": Metric.LATENCY_MEAN,
    "error_rate": Metric.ERROR_RATE,
    "cost": Metric.COST_PER_REQUEST_USD,
    "cost_per_hour": Metric.COST_PER_HOUR_USD,
    "wait_mean": Metric.WAIT_MEAN,
    "wait_p99": Metric.WAIT_P99,
    "memory": Metric.MEMORY_PEAK_MB,
}
"""Output name -> the run summary's metric path. ``slo`` (1 when the design point
meets every SLO, else 0) is computed from these."""
SLO = "slo"
OUTPUT_NAMES = (*OUTPUTS, SLO)
DEFAULT_OUTPUTS = ("throughput", "p99", "error_rate", "cost", SLO)


def parse_quantity(value: Any) -> float:
    """A number, or a string with a unit: a rate (``50/s``), a size (``5MB``) or a
    duration (``800ms``), in seconds, per-second or bytes."""
    if isinstance(value, bool):
        raise ValueError("must be a number or a value with a unit, not a boolean")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError("must be finite")
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if "/" in text:
            return parse_rate(text)
        if text.lower().endswith("b"):
            return parse_size(text)
        try:
            return parse_duration(text)
        except ValueError:
            raise ValueError("must be a number, or a duration ('800ms'), a rate ('50/s') "
                             "or a size ('5MB')") from None
    raise ValueError("must be a number, or a duration ('800ms'), a rate ('50/s') or a "
                     "size ('5MB')")


def _quantity(value: Any) -> Any:
    return None if value is None else parse_quantity(value)


DISTS = ("uniform", "loguniform", "normal")


class ParameterSpec(Frozen):
    """One uncertain input: a range (``low``, ``high``) or a distribution.

    ``uniform`` and ``loguniform`` take ``low`` and ``high``; ``normal`` takes
    ``mean`` and ``sd`` and, optionally, ``low``/``high`` to truncate it."""

    distribution: Literal["uniform", "loguniform", "normal"] = "uniform"
    low: float | None = None
    high: float | None = None
    mean: float | None = None
    sd: Annotated[float, Field(gt=0)] | None = None
    base: float | None = None
    """The value the one-at-a-time method holds it at while others move; default:
    the model's own value at the path, else the middle of the range."""
    integer: bool | None = None
    """Round to whole numbers (uniformly over low..high inclusive); default: when
    the model's value at the path is an integer."""
    label: str | None = None
    """A short name for tables and charts; default: the path."""

    @field_validator("low", "high", "mean", "sd", "base", mode="before")
    @classmethod
    def _units(cls, value: Any) -> Any:
        return _quantity(value)

    @model_validator(mode="after")
    def _complete(self) -> ParameterSpec:
        if self.distribution in ("uniform", "loguniform"):
            if self.low is None or self.high is None:
                raise ValueError(f"{self.distribution} needs low and high")
            if self.mean is not None or self.sd is not None:
                raise ValueError(f"{self.distribution} takes low and high, not mean and sd")
        if self.distribution == "normal" and (self.mean is None or self.sd is None):
            raise ValueError("normal needs mean and sd")
        if self.low is not None and self.high is not None and not self.low < self.high:
            raise ValueError(f"low must be < high, got low={self.low:g}, high={self.high:g}")
        if self.distribution == "loguniform" and self.low is not None and self.low <= 0:
            raise ValueError(f"loguniform needs low > 0, got {self.low:g}")
        if self.distribution == "normal" and self.integer:
            raise ValueError("integer applies to uniform ranges only")
        return self


class EnsembleSpec(Frozen):
    """Where an ensemble's members come from besides the study's own parameters."""

    calibration: str | None = None
    """A ``tarsim calibrate --format json`` output, relative to the study: each
    fitted parameter becomes a normal with its value as mean and its 95% interval
    as mean ± 1.96 sd (correlated by the file's ``correlation`` when it has one)."""


class StudySpec(Frozen):
    """A whole study file."""

    name: str = "study"
    description: str | None = None
    model: str | None = None
    """The model file, relative to the study (or give ``experiment`` and ``tier``)."""
    experiment: str | None = None
    tier: str | Annotated[list[str], Field(min_length=1)] | None = None
    """The tier of ``experiment`` to study: its highest load, the experiment's
    ``set`` and SLOs; pin the tier's configuration with ``set``. A list of tiers:
    the experiment's sweep first, then the study on each tier's recommended
    configuration. Without it (method ensemble only): every tier's recommendation
    at each of its loads."""
    overrides: dict[str, Any] = Field(default={}, alias="set")
    horizon: PosSeconds | None = None
    """Default: the experiment's, else 60 s."""
    warmup: NonNegSeconds | None = None
    """Default: the experiment's, else 10% of the horizon."""
    seed: Annotated[int, Field(ge=0)] = 1
    replications: Annotated[int, Field(ge=1)] = 1
    """Runs per design point (averaged); every design point uses the same seeds."""
    method: Literal["oat", "morris", "sobol", "ensemble"] = "oat"
    samples: Annotated[int, Field(ge=1)] = 16
    """Sobol: the base sample N (a power of two; N x (parameters + 2) design points);
    Morris: trajectories (x (parameters + 1) points); ensemble: members."""
    levels: Annotated[int, Field(ge=2)] = 4
    """Morris: grid levels."""
    parameters: dict[str, ParameterSpec] = Field(default_factory=dict)
    outputs: list[str] = Field(default_factory=lambda: list(DEFAULT_OUTPUTS))
    slo: SLOSpec | None = None
    """Default: the experiment's, else the model's ``slo``."""
    ensemble: EnsembleSpec | None = None

    @model_validator(mode="after")
    def _consistent(self) -> StudySpec:
        if (self.model is None) == (self.experiment is None):
            raise ValueError("give exactly one of model or experiment (with tier)")
        if self.tier is not None and self.experiment is None:
            raise ValueError("tier needs experiment")
        if self.experiment is not None and self.tier is None and self.method != ENSEMBLE:
            raise ValueError("experiment needs tier (which of its tiers to study); only "
                             "an ensemble covers every tier")
        if self.method == SOBOL and self.samples & (self.samples - 1):
            raise ValueError(f"sobol samples must be a power of two, got {self.samples}")
        if self.warmup is not None and self.horizon is not None \
                and self.warmup >= self.horizon:
            raise ValueError(f"warmup must be < the horizon ({self.horizon:g}s), "
                             f"got {self.warmup:g}s")
        if not self.parameters and not (self.ensemble and self.ensemble.calibration):
            raise ValueError("parameters must name at least one model path")
        if self.method in (MORRIS, SOBOL) and len(self.parameters) < 2:
            raise ValueError(f"{self.method} needs at least two parameters")
        if self.method != ENSEMBLE and self.ensemble is not None:
            raise ValueError("ensemble applies to method: ensemble")
        return self

    def file_of(self, study_file: Path, name: str) -> Path:
        return (study_file.parent / name).resolve()
