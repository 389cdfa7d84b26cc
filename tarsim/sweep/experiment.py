"""The experiment format (``experiments/*.yaml``): which model, which points, how
many replications, and the service-level objectives the points are judged by.

An experiment names a model file (relative to the experiment), a horizon and
warm-up, a seed, replications (a number, or adaptive), tiers (a name and the
loads the tier must carry: open-loop rates or closed-loop users, each with its
own grid axes), grid axes over dotted model paths (crossed), zipped axes (varied
together) and the SLOs. It is validated like a model: every problem at once,
with its path, line, rule and value. Axis paths are checked against the model by
applying each value to it, so a wrong path or value names the axis.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from tarsim.config.base import (
    Frozen,
    NonNegSeconds,
    PerSecond,
    PosSeconds,
    Probability,
    repeated,
)
from tarsim.config.distributions import DurationDist
from tarsim.vocabulary import Metric

AxisValues = Annotated[list[Any], Field(min_length=1)]


def _same_lengths(groups: list[dict[str, list[Any]]]) -> list[dict[str, list[Any]]]:
    """Zipped axes vary together, so each group's lists must be equally long."""
    for group in groups:
        lengths = {axis: len(values) for axis, values in group.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"zipped axes must have the same number of values, got {lengths}")
    return groups


class SLOSpec(Frozen):
    """Service-level objectives; a point meets one when the upper bound of its 95%
    confidence interval is within the limit."""

    p50: PosSeconds | None = None
    p95: PosSeconds | None = None
    p99: PosSeconds | None = None
    """Latency percentiles of successful requests, seconds."""
    mean: PosSeconds | None = None
    error_rate: Probability | None = None
    wait_mean: PosSeconds | None = None
    """Mean wait for an agent slot (the queueing delay Erlang C predicts)."""
    wait_p99: PosSeconds | None = None

    @model_validator(mode="after")
    def _some_objective(self) -> SLOSpec:
        if not self.limits():
            raise ValueError("must set at least one objective (p99, error_rate, ...): an "
                             "empty slo would call every point ok; leave slo out to use "
                             "the model's")
        return self

    def limits(self) -> dict[str, float]:
        """Metric path (in a run summary) -> limit, for the objectives that are set."""
        return {METRIC_OF_SLO[name]: value for name, value in self
                if value is not None}


METRIC_OF_SLO: dict[str, Metric] = {
    "p50": Metric.LATENCY_P50, "p95": Metric.LATENCY_P95, "p99": Metric.LATENCY_P99,
    "mean": Metric.LATENCY_MEAN, "error_rate": Metric.ERROR_RATE,
    "wait_mean": Metric.WAIT_MEAN, "wait_p99": Metric.WAIT_P99,
}
"""Where each SLO's metric lives in a run summary (flattened paths)."""


class AdaptiveReplications(Frozen):
    """Replicate until the point's SLO verdict is decided (every 95% upper bound
    within its SLO, or one lower bound above it), or, with *target*, until p99's
    relative 95% CI half-width is below it: *min* replications first, then *step*
    more at a time, up to *max* (the verdict then stays ``uncertain``)."""

    target: Annotated[float, Field(gt=0, lt=1)] | None = None
    min: Annotated[int, Field(ge=2)] = 3
    max: Annotated[int, Field(ge=2)] = 20
    step: Annotated[int, Field(ge=1)] = 2

    @model_validator(mode="after")
    def _ordered(self) -> AdaptiveReplications:
        if self.max < self.min:
            raise ValueError(f"max must be >= min ({self.min}), got {self.max}")
        return self


class Costs(Frozen):
    """Costs besides the tokens the model already prices."""

    agent_per_hour_usd: Annotated[float, Field(ge=0)] = 0.0
    """What one agent process costs per hour (hardware); 0 leaves only token costs."""


class TierSpec(Frozen):
    """A scaling tier: the loads it must carry (open-loop rates or closed-loop users)
    and the axes only it varies (typically its agent counts)."""

    name: Annotated[str, Field(min_length=1)]
    rate: PerSecond | Annotated[list[PerSecond], Field(min_length=1)] | None = None
    users: Annotated[int, Field(ge=1)] | Annotated[list[Annotated[int, Field(ge=1)]],
                                                   Field(min_length=1)] | None = None
    think_time: DurationDist | None = None
    grid: dict[str, AxisValues] = Field(default_factory=dict)
    zip: list[dict[str, AxisValues]] = Field(default_factory=list)

    _zip_lengths = field_validator("zip")(_same_lengths)

    @model_validator(mode="after")
    def _one_load(self) -> TierSpec:
        if (self.rate is None) == (self.users is None):
            raise ValueError("give exactly one of rate (open loop) or users (closed loop)")
        if any(r <= 0 for r in self.rates()):
            raise ValueError(f"rates must be > 0, got {self.rates()}")
        if self.think_time is not None and self.users is None:
            raise ValueError("think_time applies to users (closed loop) only")
        return self

    def rates(self) -> list[float]:
        if self.rate is None:
            return []
        return list(self.rate) if isinstance(self.rate, list) else [self.rate]

    def user_counts(self) -> list[int]:
        if self.users is None:
            return []
        return list(self.users) if isinstance(self.users, list) else [self.users]


class ExperimentSpec(Frozen):
    """A whole experiment file."""

    name: str = "experiment"
    description: str | None = None
    model: Annotated[str, Field(min_length=1)]
    """The model file, relative to the experiment file."""
    horizon: PosSeconds | Literal["auto"] = 300.0
    """Simulated seconds per run, or ``auto``: each point's warm-up and window follow
    from its own time constants and rate (:mod:`tarsim.sweep.timing`)."""
    warmup: NonNegSeconds | None = None
    """Default: 10% of a fixed horizon; an automatic horizon's time constants."""
    overrides: dict[str, Any] = Field(default={}, alias="set")
    """Fixed changes to the model (dotted paths, as ``tarsim run --set``), before the axes."""
    seed: Annotated[int, Field(ge=0)] = 1
    replications: Annotated[int, Field(ge=1)] | AdaptiveReplications = 3
    slo: SLOSpec | None = None
    """Default: the model's own ``slo`` section."""
    costs: Costs = Costs()
    tiers: list[TierSpec] = Field(default_factory=list)
    grid: dict[str, AxisValues] = Field(default_factory=dict)
    zip: list[dict[str, AxisValues]] = Field(default_factory=list)
    calibrated_up_to: PerSecond | None = None
    """The highest rate the model was checked against measurements at; a tier's
    answer past it is flagged as an extrapolation."""
    capacity: bool = False
    """Also search, for each tier's recommended configuration, the highest rate (or
    users) it sustains within the SLOs, as ``tarsim capacity`` does."""

    _zip_lengths = field_validator("zip")(_same_lengths)

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentSpec:
        if (self.warmup is not None and self.horizon != "auto"
                and self.warmup >= self.horizon):
            raise ValueError(f"warmup must be < the horizon ({self.horizon:g}s), "
                             f"got {self.warmup:g}s")
        duplicates = repeated([t.name for t in self.tiers])
        if duplicates:
            raise ValueError(f"tier names must be unique, got duplicates {duplicates}")
        return self

    @property
    def auto_timing(self) -> bool:
        """Whether each point's timing follows from its own model (``horizon: auto``)."""
        return self.horizon == "auto"

    @property
    def horizon_s(self) -> float:
        """The fixed horizon in seconds (NaN when it is automatic)."""
        return float("nan") if self.horizon == "auto" else float(self.horizon)

    @property
    def warmup_s(self) -> float:
        """The fixed warm-up in seconds (NaN when it follows from each point)."""
        if self.warmup is not None:
            return float(self.warmup)
        return float("nan") if self.horizon == "auto" else float(self.horizon) * 0.1

    def model_path(self, experiment_file: Path) -> Path:
        return (experiment_file.parent / self.model).resolve()
