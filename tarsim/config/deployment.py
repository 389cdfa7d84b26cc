"""The deployment section of the model format: hosts behind a balancer, regions,
and the load-dependent stations that say where congestion lives.

A model without ``deployment`` is one host, exactly as before. With it, the
router, the agent pool (``agents.count`` agents *per host*), the memory limit,
the host's CPU and its connection pool are per host; rate limits stay
organisation-wide (one bucket shared by every host) unless a ``limits`` block
says ``scope: host`` or ``scope: region``.

A :class:`Congestion` is a processor-shared station whose total service rate
depends on the number present, n: it serves
``min(n, cores) / (1 + contention (n - 1) + coherence n (n - 1))`` seconds of work
per second (the universal scalability law's form, with a core count), or the
rate a ``rates`` table gives, shared equally by the n present. Its scope is
where it is declared: ``deployment.cpu`` (a host's CPU: router and role work),
``deployment.congestion`` (every API call a host makes: its event loop and
connections), or ``providers.NAME.congestion`` with ``scope: provider`` or
``scope: model``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from tarsim.config.base import Frozen
from tarsim.config.distributions import DurationDist
from tarsim.config.providers import increasing_loads
from tarsim.config.scaling import HostAutoscale
from tarsim.vocabulary import Balancer, Scope

RatePoint = Annotated[
    tuple[Annotated[float, Field(ge=1)], Annotated[float, Field(gt=0)]],
    Field(description="[jobs present, total service rate in work-seconds per second]"),
]


class Overload(Frozen):
    """Errors that rise with a station's load: an attempt that finds n jobs present
    (itself included) fails with an overload error (529/503) with probability
    ``max m / (m + half)``, m = max(0, n - 1 - onset) - none up to ``onset + 1``
    present, ``max / 2`` at ``onset + half + 1``, ``max`` in the limit."""

    max: Annotated[float, Field(ge=0, le=1)]
    half: Annotated[float, Field(gt=0)]
    onset: Annotated[float, Field(ge=0)] = 0.0


class Congestion(Frozen):
    """A load-dependent, processor-shared station (see the module docstring)."""

    scope: Literal["host", "provider", "model"] | None = None
    """Where one station serves: only for ``providers.NAME.congestion``, where it is
    ``provider`` (one station for all its calls, the default) or ``model`` (one per
    model or tool); a deployment's stations are per host."""
    cores: Annotated[int, Field(ge=1)] | None = None
    """Jobs served at full speed at once (processor sharing beyond them); absent:
    no core limit."""
    contention: Annotated[float, Field(ge=0)] = 0.0
    """The USL's sigma: serialisation that grows with n - 1."""
    coherence: Annotated[float, Field(ge=0)] = 0.0
    """The USL's kappa: crosstalk that grows with n (n - 1)."""
    rates: Annotated[list[RatePoint], Field(min_length=1)] | None = None
    """A rate table instead of the form: points ``[n, total rate]``, linear between
    them, flat beyond the ends."""
    overload: Overload | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Congestion:
        increasing_loads(self.rates, "rates")
        if self.rates is not None and (self.cores is not None or self.contention > 0
                                       or self.coherence > 0):
            raise ValueError("give rates, or cores/contention/coherence, not both")
        return self


class Region(Frozen):
    """A region: its hosts and its network to each provider."""

    name: Annotated[str, Field(min_length=1)]
    hosts: Annotated[int, Field(ge=1)]
    network: dict[str, DurationDist] = {}
    """Network latency from this region to each provider, replacing the provider's
    own ``network``; providers not listed keep theirs."""


class Deployment(Frozen):
    """Hosts (replicas, pods) behind a load balancer."""

    hosts: Annotated[int, Field(ge=1)] | None = None
    """Number of hosts; with ``regions``, their sum (give one or the other); with
    ``autoscale``, the hosts at t = 0 (default ``autoscale.min``)."""
    balancer: Balancer = Balancer.ROUND_ROBIN
    """How the balancer picks a host for each request: in turn, at random, the host with
    fewest requests in progress, or the less busy of two drawn at random."""
    regions: Annotated[list[Region], Field(min_length=1)] | None = None
    """Requests go to regions in proportion to their hosts (the balancer picks among
    all hosts)."""
    cpu: Congestion | None = None
    """Each host's CPU: router and role work are processor-shared on it. Absent: work
    is a pure delay, as without a deployment."""
    congestion: Congestion | None = None
    """Each host's station for the API calls it makes (an event loop, a connection
    handler): every attempt's time is served at it, stretched by its load."""
    connections: Annotated[int, Field(ge=1)] | None = None
    """Each host's connection pool: API attempts from one host wait for a free
    connection. Absent: unbounded."""
    price_per_hour: Annotated[float, Field(ge=0)] = 0.0
    """USD per host-hour, added to the cost per hour."""
    autoscale: HostAutoscale | None = None
    """Scale the hosts by the HPA's rule (``hosts``, default ``autoscale.min``, run
    at t = 0)."""

    @model_validator(mode="after")
    def _hosts_or_regions(self) -> Deployment:
        scale = self.autoscale
        if scale is not None:
            if self.regions is not None:
                raise ValueError("autoscale cannot be combined with regions (hosts are "
                                 "scaled in one region): remove regions or autoscale")
            if self.hosts is not None and not scale.min <= self.hosts <= scale.max:
                raise ValueError(f"hosts (the count at t = 0) must be between autoscale.min "
                                 f"({scale.min}) and autoscale.max ({scale.max}), "
                                 f"got {self.hosts}")
            if scale.metric == "cpu" and (self.cpu is None or self.cpu.cores is None):
                raise ValueError("autoscale.metric cpu reads the hosts' CPU: give cpu.cores")
        elif self.regions is None and self.hosts is None:
            raise ValueError("give hosts or regions")
        if self.regions is not None:
            total = sum(r.hosts for r in self.regions)
            if self.hosts is not None and self.hosts != total:
                raise ValueError(f"hosts ({self.hosts}) must equal the regions' hosts "
                                 f"({total}), or be left out")
            names = [r.name for r in self.regions]
            if len(set(names)) != len(names):
                raise ValueError(f"region names must be unique, got {names}")
        if self.cpu is not None and self.cpu.scope not in (None, Scope.HOST):
            raise ValueError(f"cpu is per host; scope must be host, got {self.cpu.scope!r}")
        if self.congestion is not None and self.congestion.scope not in (None, Scope.HOST):
            raise ValueError("congestion under deployment is per host; scope must be host, "
                             f"got {self.congestion.scope!r}")
        return self

    @property
    def host_count(self) -> int:
        """Hosts at t = 0 (all of them, without autoscaling)."""
        if self.regions is not None:
            return sum(r.hosts for r in self.regions)
        if self.hosts is None:
            assert self.autoscale is not None
            return self.autoscale.min
        return self.hosts
