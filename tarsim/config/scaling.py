"""Autoscaling rules: the Kubernetes HPA (and KEDA) parameters shared by the
agent autoscaler (``agents.autoscale``) and the host autoscaler
(``deployment.autoscale``).

:class:`ScalingRule` holds what both scalers read (target, lower bound, period,
tolerance, scale-down stabilisation, scale-up limit); :class:`Autoscale` adds the
agents' metrics and :class:`HostAutoscale` the hosts' metrics, an upper bound
and the pod start time. One decision rule serves both
(:mod:`tarsim.components.autoscaler`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from tarsim.config.base import Frozen, NonNegSeconds, PosSeconds
from tarsim.config.distributions import DurationDist


class ScaleUpLimit(Frozen):
    """How fast the autoscaler may add agents: at most the larger of *percent* %
    more and *pods* more than the count ``period`` ago (Kubernetes' default
    scale-up behaviour: 100 %, 4 pods, 15 s, select Max)."""

    percent: Annotated[float, Field(ge=0)] = 100.0
    pods: Annotated[int, Field(ge=0)] = 4
    period: PosSeconds = 15.0

    @model_validator(mode="after")
    def _allows_growth(self) -> ScaleUpLimit:
        if self.percent == 0 and self.pods == 0:
            raise ValueError("percent and pods cannot both be 0 (no scale-up allowed)")
        return self


UTILIZATION_METRICS = ("utilization", "cpu")
"""Metrics that are a busy share, whose target is at most 1."""


class ScalingRule(Frozen):
    """The HPA's parameters: no change while metric / target is within
    ``tolerance`` of 1; scale-down takes the highest recommendation of the last
    ``stabilization`` seconds; scale-up is limited by ``scale_up``; at least
    ``min`` replicas. Metrics are time averages over the last ``period``."""

    metric: str
    target: Annotated[float, Field(gt=0)]
    min: Annotated[int, Field(ge=1)] = 1
    period: PosSeconds = 15.0
    tolerance: Annotated[float, Field(ge=0, lt=1)] = 0.1
    stabilization: NonNegSeconds = 300.0
    scale_up: ScaleUpLimit = ScaleUpLimit()

    @model_validator(mode="after")
    def _utilization_share(self) -> ScalingRule:
        if self.metric in UTILIZATION_METRICS and self.target > 1:
            raise ValueError(f"a {self.metric} target must be <= 1, got {self.target}")
        return self


class Autoscale(ScalingRule):
    """Scale the number of agents between ``min`` and ``agents.count``.

    ``metric: utilization`` and ``metric: queue`` follow the Kubernetes HPA rule,
    desired = ceil(ready agents x metric / target), on the busy share of agent
    slots or on the number of requests waiting; ``metric: queue_per_agent`` is
    KEDA's rule, desired = ceil(queue length / target), where the queue length
    counts requests waiting and in service (as KEDA's queue scalers count
    messages visible and in flight). Metrics are time averages over the last
    ``period``. No change while the ratio is within ``tolerance`` of 1; scale-down
    takes the highest recommendation of the last ``stabilization`` seconds;
    scale-up is limited by ``scale_up``."""

    metric: Literal["utilization", "queue", "queue_per_agent"]


HOST_RULES = {"utilization": "utilization", "cpu": "utilization", "queue": "queue",
              "queue_per_host": "queue_per_agent"}
"""Which of the HPA's rules (the agents' metric names, see
:func:`tarsim.components.autoscaler.recommend`) each host metric follows."""


class HostAutoscale(ScalingRule):
    """Scale the number of hosts between ``min`` and ``max`` by the agents' rule.

    ``utilization`` is the busy share of the ready hosts' agent slots, ``cpu`` the
    busy share of their CPU cores (``deployment.cpu.cores``: the HPA's CPU
    resource metric), ``queue`` the requests waiting in their routers' queues
    (an object metric), ``queue_per_host`` KEDA's rule on the requests waiting or
    in service. A new host takes traffic ``start`` after the decision (pod
    scheduling, image pull, readiness: not part of the HPA, so no default);
    a host scaled down stops getting requests and goes once its last one ends."""

    metric: Literal["utilization", "cpu", "queue", "queue_per_host"]
    max: Annotated[int, Field(ge=1)]
    start: DurationDist
    """Time from the scale-up decision until the new host takes traffic."""

    @model_validator(mode="after")
    def _bounds(self) -> HostAutoscale:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must be <= max ({self.max})")
        return self
