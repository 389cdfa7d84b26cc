"""Screening before simulation: what a point demands of every rate limit, and the
latency floor of its request path, from a zero-load run of its own model
(:mod:`tarsim.demand`); a point that cannot meet the SLOs whatever the queueing
is marked ``screened`` with the reason, and not simulated.

Both rules are sound: they remove only points that no simulation can find
meeting the SLOs.

- **Latency floor.** Under load each request takes at least its zero-load time.
  If at most a fraction e of requests fail (the error-rate SLO; without one, the
  rule is off) and they were the slowest, the successes' q-quantile is at least
  the zero-load quantile at level 1 − ((1 − q)(1 − e) + e). The point is screened
  when the lower 99% bound of that zero-load quantile (order statistics of the
  Monte Carlo sample) is above the SLO.
- **Rate limits** (open-loop arrivals only: a closed loop's rate adapts). At
  rate λ each request sends d of a quantity on average and at most K; a limit L
  admits at most L per second, so in steady state at least (λd − L)/(λK) of the
  requests fail. The point is screened when that share, with d lowered by three
  standard errors of its estimate, is above the error-rate SLO.

Every point also gets ``start: empty`` on each limit it demands beyond its rate,
so that even a short run sees the limit's steady state (a drained bucket) rather
than a fresh key's full bucket. For a closed loop the rate is at most the users
over their think time plus the zero-load mean latency; a limit demanded beyond
itself at that rate starts empty too (its 429s answer fast, so the users keep
demanding).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tarsim.config import Model, with_overrides
from tarsim.demand import SECTIONS, ZeroLoad, demand_over_limits, model_limits, scope_name
from tarsim.demand import zero_load as measure_zero_load

ZERO_LOAD_REQUESTS = 4000
Z99 = 2.5758293035489004
OPEN = ("poisson", "deterministic")


@dataclass(frozen=True)
class Screen:
    """A point's screening: its demand on every limit, its latency floor, and why
    it is not simulated (empty: it is)."""

    floor_p99: float
    rate: float = 0.0
    """Requests per second the point offers (closed loops: at most users over think
    time plus the zero-load mean latency)."""
    demand: dict[str, float] = field(default_factory=dict)
    """Each limit's demand at the point's offered rate over the limit."""
    reason: str = ""
    drained: tuple[str, ...] = ()
    """Limits (``tools.search.limits``) demanded beyond their rate: they start empty."""
    floor_mean: float = math.nan
    """Mean zero-load latency of the successful requests."""

    @property
    def screened(self) -> bool:
        return bool(self.reason)


class Screener:
    """Screens points, running one zero-load Monte Carlo per distinct request path
    (points that differ only in load, agents or limits share it)."""

    def __init__(self, slo: Mapping[str, float]) -> None:
        self.slo = dict(slo)
        self._runs: dict[str, ZeroLoad] = {}
        self._keys: dict[int, tuple[Model, str]] = {}

    def _path_key(self, model: Model) -> str:
        known = self._keys.get(id(model))
        if known is None or known[0] is not model:
            known = self._keys[id(model)] = (model, _path_key(model))
        return known[1]

    def zero_load(self, model: Model) -> ZeroLoad:
        key = self._path_key(model)
        if key not in self._runs:
            self._runs[key] = measure_zero_load(model, requests=ZERO_LOAD_REQUESTS)
        return self._runs[key]

    def prepare(self, models: Iterable[Model], runner: Any) -> None:
        """Run the zero-load Monte Carlo of every distinct request path among
        *models* at once, on *runner*'s workers (:meth:`tarsim.executors.Runner.map`)."""
        todo: dict[str, Model] = {}
        for model in models:
            key = self._path_key(model)
            if key not in self._runs and key not in todo:
                todo[key] = model
        for key, found in zip(todo, runner.map(_zero_load, list(todo.values())), strict=True):
            self._runs[key] = found

    def screen(self, model: Model) -> Screen:
        found = self.zero_load(model)
        rate = offered(model)
        arrivals: Any = model.workload.arrivals
        throughput = rate
        if arrivals.kind == "closed" and len(found.latency):
            think = arrivals.think_time
            think_s = float(think) if isinstance(think, int | float) else float(think.mean())
            throughput = arrivals.users / (think_s + float(found.latency.mean()))
        demand = (demand_over_limits(found.per_request, throughput, model) if throughput
                  else {})
        reasons = [*self._floor_reasons(found), *self._limit_reasons(found, model, rate)]
        drained = tuple(sorted({f"{section}.{name}.limits"
                                for (kind, name), limits in model_limits(model).items()
                                for section in [dict(SECTIONS)[kind]]
                                for limit in limits
                                if demand.get(scope_name(kind, name, limit), 0.0) > 1.0}))
        mean = float(found.latency.mean()) if len(found.latency) else math.nan
        return Screen(found.quantile(0.99), throughput, demand, "; ".join(reasons), drained,
                      mean)

    def _floor_reasons(self, found: ZeroLoad) -> list[str]:
        error = self.slo.get("error_rate")
        if error is None or error >= 1:
            return []
        reasons = []
        for path, limit in self.slo.items():
            if not path.startswith("latency.p"):
                continue
            q = float(path[len("latency.p"):]) / 100
            level = 1 - ((1 - q) * (1 - error) + error)
            n = len(found.latency)
            if n == 0:
                return [f"no request succeeds even at zero load ({found.requests} tried)"]
            low_level = level - Z99 * math.sqrt(level * (1 - level) / n)
            if low_level <= 0:
                continue
            bound = found.quantile(low_level)
            if bound > limit:
                reasons.append(f"zero-load latency floor: p{100 * level:.4g} is {bound:.3g} s "
                               f"or more (p99 {found.quantile(q):.3g} s) > the {path} SLO "
                               f"{limit:g} s")
        return reasons

    def _limit_reasons(self, found: ZeroLoad, model: Model, rate: float) -> list[str]:
        error = self.slo.get("error_rate")
        if error is None or not rate or model.workload.arrivals.kind not in OPEN:
            return []
        reasons = []
        n = max(found.requests, 1)
        for (kind, name), limits in model_limits(model).items():
            entry = found.per_request.get((kind, name), {})
            for limit, cap in limits.items():
                d, most = entry.get(limit, 0.0), found.most[limit]
                if d <= 0 or most <= 0:
                    continue
                d_low = d - 3 * math.sqrt(most * d / n)
                share = (rate * d_low - cap) / (rate * most)
                if share > error:
                    reasons.append(
                        f"{kind} {name} {limit.replace('_', ' ')}: demand {rate * d / cap:.0%} "
                        f"of the limit, so at least {share:.1%} of requests must fail "
                        f"> the error_rate SLO {error:g}")
        return reasons


def _path_key(model: Model) -> str:
    """A hash of *model*'s request path (its zero-load model): points that differ
    only in load, agents or limits share it."""
    from tarsim.demand import zero_load_model

    quiet = zero_load_model(model)
    text = json.dumps(quiet.model_dump(mode="json", by_alias=True), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _zero_load(model: Model) -> ZeroLoad:
    return measure_zero_load(model, requests=ZERO_LOAD_REQUESTS)


def offered(model: Model) -> float:
    """The constant open-loop arrival rate (per second) the model offers; 0 for
    closed loops, ramps, steps and traces (no single steady rate)."""
    arrivals: Any = model.workload.arrivals
    if arrivals.kind in OPEN:
        return float(arrivals.rate)
    return 0.0


def drained_model(model: Model, screen: Screen) -> Model:
    """*model* with every limit the point demands beyond its rate starting empty."""
    if not screen.drained:
        return model
    return with_overrides(model, {f"{path}.start": "empty" for path in screen.drained})
