"""The workload section of the model format: how requests arrive (open or closed
loop, ramps, steps, traces) and which classes of request there are."""

from __future__ import annotations

import itertools
from typing import Annotated, Literal

from pydantic import Discriminator, Field, Tag, model_validator

from tarsim.config.base import (
    Frozen,
    NonNegRate,
    NonNegSeconds,
    PosRate,
    PosSeconds,
    repeated,
)
from tarsim.config.distributions import DurationDist
from tarsim.config.workflow import Step

MAX_USERS = 100_000
"""Closed-loop users: each is a process of the simulation."""


class PoissonArrivals(Frozen):
    """Open loop: exponential inter-arrival times at a constant rate."""

    kind: Literal["poisson"]
    rate: PosRate


class DeterministicArrivals(Frozen):
    """Open loop: one arrival every 1/rate seconds exactly."""

    kind: Literal["deterministic"]
    rate: PosRate


class ClosedArrivals(Frozen):
    """Closed loop: *users* virtual users, each sending a request, waiting for its
    answer (or its timeout), thinking, and sending the next one, as load-test
    tools such as Locust and k6 drive a system."""

    kind: Literal["closed"]
    users: Annotated[int, Field(ge=1, le=MAX_USERS)]
    think_time: DurationDist = 0.0  # type: ignore[assignment]


class RampArrivals(Frozen):
    """Open loop: Poisson with a rate rising (or falling) linearly from *from* to
    *to* over *over*, then staying at *to*."""

    kind: Literal["ramp"]
    from_: NonNegRate = Field(alias="from")
    to: NonNegRate
    over: PosSeconds

    @model_validator(mode="after")
    def _some_load(self) -> RampArrivals:
        if self.from_ == 0 and self.to == 0:
            raise ValueError("from and to cannot both be 0")
        return self


class RateStep(Frozen):
    at: NonNegSeconds
    rate: NonNegRate


class StepArrivals(Frozen):
    """Open loop: Poisson whose rate changes at given times (rate 0 before the first)."""

    kind: Literal["steps"]
    steps: Annotated[list[RateStep], Field(min_length=1)]

    @model_validator(mode="after")
    def _increasing(self) -> StepArrivals:
        times = [step.at for step in self.steps]
        if any(b <= a for a, b in itertools.pairwise(times)):
            raise ValueError(f"steps must have strictly increasing 'at' times, got {times}")
        return self


class TraceArrivals(Frozen):
    """Replay recorded arrival times (seconds, from a CSV column), optionally with
    each request's class from another column."""

    kind: Literal["trace"]
    file: str
    time_column: str = "t"
    class_column: str | None = None


Arrivals = Annotated[
    Annotated[PoissonArrivals, Tag("poisson")]
    | Annotated[DeterministicArrivals, Tag("deterministic")]
    | Annotated[ClosedArrivals, Tag("closed")]
    | Annotated[RampArrivals, Tag("ramp")]
    | Annotated[StepArrivals, Tag("steps")]
    | Annotated[TraceArrivals, Tag("trace")],
    Discriminator(
        lambda v: v.get("kind") if isinstance(v, dict) else getattr(v, "kind", None),
        custom_error_type="unknown_arrivals",
        custom_error_message=(
            "kind must be one of poisson, deterministic, closed, ramp, steps, trace"
        ),
    ),
]

OPEN_KINDS = ("poisson", "deterministic", "ramp", "steps", "trace")


class RequestClass(Frozen):
    """A type of request: its share of arrivals, its priority (a lower number is
    served first under the priority discipline) and its steps: the roles it visits
    in order, or a workflow (:mod:`tarsim.config.workflow`)."""

    name: Annotated[str, Field(min_length=1)]
    weight: Annotated[float, Field(gt=0)] = 1.0
    priority: int = 0
    steps: Annotated[list[Step], Field(min_length=1)]


class Workload(Frozen):
    arrivals: Arrivals
    timeout: PosSeconds | None = None
    """The client gives up after this long: the request fails with ``timeout``."""
    classes: Annotated[list[RequestClass], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_names(self) -> Workload:
        duplicates = repeated([c.name for c in self.classes])
        if duplicates:
            raise ValueError(f"class names must be unique, got duplicates {duplicates}")
        return self
