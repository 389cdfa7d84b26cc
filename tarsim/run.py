"""One replication of one model: build the system, run it, hand back the records.

Arrivals stop at the horizon (``duration``); the run then continues, without
new arrivals, until every request has answered (so that latencies of requests
arriving near the end are not censored) or until a drain limit passes, after
which the requests still in flight are recorded as ``unfinished`` (or
``timeout`` if their client's deadline has passed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from tarsim.components.recorder import Recorder
from tarsim.components.streams import Streams
from tarsim.components.system import System
from tarsim.config.model import Model

if TYPE_CHECKING:
    import pandas as pd

MIN_DRAIN_S = 60.0


def frame_of(columns: str) -> cached_property[pd.DataFrame]:
    """A lazy pandas frame of the record's column set *columns*: built on first use
    and kept in the instance's ``__dict__`` (which a frozen dataclass leaves writable
    to ``functools.cached_property``); pandas is imported only then, so a plain run
    never pays for it."""

    def build(record: Any) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(getattr(record, columns))

    build.__doc__ = f"The record's {columns} as a pandas frame (built on first use)."
    return cached_property(build)


@dataclass(frozen=True)
class RunRecords:
    """What one replication produced: per-request rows and agent events."""

    model: Model
    seed: int
    replication: int
    duration_s: float
    warmup_s: float
    end_s: float
    """When the simulation stopped (>= duration_s: the drain)."""
    request_columns: dict[str, np.ndarray]
    """One array per request field (see ``recorder.REQUEST_COLUMNS``), in id order."""
    agent_columns: dict[str, np.ndarray]
    """Agent events: t, agent, event (spawn / up / down)."""
    events: int
    """Events SimPy processed (a determinism fingerprint and a speed measure)."""
    memory_columns: dict[str, np.ndarray] = field(default_factory=dict)
    """Process memory after each change (t, bytes), when memory is modelled."""
    mode_columns: dict[str, np.ndarray] = field(default_factory=dict)
    """Degradation mode changes (t, mode)."""
    scaling_columns: dict[str, np.ndarray] = field(default_factory=dict)
    """Autoscaler decisions (t, metric, current, recommended, desired)."""
    host_columns: dict[str, np.ndarray] = field(default_factory=dict)
    """Host events of an autoscaled deployment (t, host, event)."""
    host_scaling_columns: dict[str, np.ndarray] = field(default_factory=dict)
    """Host autoscaler decisions (t, metric, current, recommended, desired)."""
    cost_columns: dict[str, np.ndarray] = field(default_factory=dict)
    """USD billed per model or tool for requests arriving after the warm-up."""
    limit_columns: dict[str, np.ndarray] = field(default_factory=dict)
    """Per rate limit and kind: 429s it gave and calls that failed for good on them."""
    dead_letter_columns: dict[str, np.ndarray] = field(default_factory=dict)
    """Calls that failed for good, one row per attempt (see recorder.DEAD_LETTER_FIELDS)."""
    demand_columns: dict[str, np.ndarray] = field(default_factory=dict)
    """Calls and tokens sent to each model and tool (see recorder.DEMAND_FIELDS)."""
    span_columns: dict[str, np.ndarray] = field(default_factory=dict)
    """Workflow classes: one row per role step run (see recorder.SPAN_FIELDS)."""
    branch_columns: dict[str, np.ndarray] = field(default_factory=dict)
    """Workflow classes: each branch alternative taken (id, cls, branch, t)."""
    flow_columns: dict[str, np.ndarray] = field(default_factory=dict)
    """Workflow classes: seconds by phase per request (see recorder.FLOW_PHASES)."""
    subagent_columns: dict[str, np.ndarray] = field(default_factory=dict)
    """Sub-agents working for parallel steps after each change (t, in_flight)."""
    pool_utilization: dict[str, float] = field(default_factory=dict)
    """Each connection pool's mean connections in use over its size, in the window."""

    # frames built on first use and kept
    requests = frame_of("request_columns")
    agents = frame_of("agent_columns")
    memory = frame_of("memory_columns")
    modes = frame_of("mode_columns")
    scaling = frame_of("scaling_columns")
    hosts = frame_of("host_columns")
    host_scaling = frame_of("host_scaling_columns")
    costs = frame_of("cost_columns")
    dead_letters = frame_of("dead_letter_columns")
    spans = frame_of("span_columns")
    branches = frame_of("branch_columns")
    flows = frame_of("flow_columns")
    subagents = frame_of("subagent_columns")

def drain_limit(model: Model, duration: float, warmup: float) -> float:
    """How long after the horizon the run may go on to let requests answer."""
    timeout = model.workload.timeout
    return max(MIN_DRAIN_S, timeout if timeout is not None else duration - warmup)


def simulate(model: Model, *, duration: float, warmup: float, seed: int,
             replication: int = 0) -> RunRecords:
    """Run one replication of *model* for *duration* simulated seconds."""
    duration, warmup = float(duration), float(warmup)
    if not duration > 0:
        raise ValueError(f"duration must be > 0, got {duration}")
    if not 0 <= warmup < duration:
        raise ValueError(f"warmup must be >= 0 and < duration ({duration}), got {warmup}")
    env = simpy.Environment()
    recorder = Recorder()
    system = System(env, model, Streams(seed, replication), recorder, horizon=duration,
                    warmup=warmup)
    system.start()
    limit = env.timeout(duration + drain_limit(model, duration, warmup))
    env.run(until=env.any_of([system.done, limit]))
    system.flush()
    return RunRecords(
        model=model, seed=seed, replication=replication, duration_s=duration,
        warmup_s=warmup, end_s=env.now, request_columns=recorder.request_columns(),
        agent_columns=recorder.agent_columns(),
        events=next(env._eid),  # type: ignore[attr-defined]
        memory_columns=recorder.memory_columns(), mode_columns=recorder.mode_columns(),
        scaling_columns=recorder.scaling_columns(), cost_columns=recorder.cost_columns(),
        host_columns=recorder.host_columns(),
        host_scaling_columns=recorder.host_scaling_columns(),
        dead_letter_columns=recorder.dead_letter_columns(),
        demand_columns=recorder.demand_columns(),
        limit_columns=recorder.limit_columns(),
        pool_utilization=system.pool_utilization(),
        span_columns=recorder.span_columns(), branch_columns=recorder.branch_columns(),
        flow_columns=recorder.flow_columns(), subagent_columns=recorder.subagent_columns(),
    )
