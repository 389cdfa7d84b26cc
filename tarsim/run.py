"""One replication of one model: build the system, run it, hand back the records.

Arrivals stop at the horizon (``duration``); the run then continues, without
new arrivals, until every request has answered (so that latencies of requests
arriving near the end are not censored) or until a drain limit passes, after
which the requests still in flight are recorded as ``unfinished`` (or
``timeout`` if their client's deadline has passed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import simpy

from tarsim.components.recorder import Recorder
from tarsim.components.streams import Streams
from tarsim.components.system import System
from tarsim.config.model import Model

MIN_DRAIN_S = 60.0


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
    requests: pd.DataFrame
    agents: pd.DataFrame
    events: int
    """Events SimPy processed (a determinism fingerprint and a speed measure)."""
    costs: pd.DataFrame = field(default_factory=pd.DataFrame)
    """USD billed per model or tool for requests arriving after the warm-up."""
    dead_letters: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Calls that failed for good, one row per attempt (see recorder.DEAD_LETTER_COLUMNS)."""


def drain_limit(model: Model, duration: float, warmup: float) -> float:
    """How long after the horizon the run may go on to let requests answer."""
    timeout = model.workload.timeout
    if timeout is not None:
        return timeout
    return max(MIN_DRAIN_S, duration - warmup)


def simulate(model: Model, *, duration: float, warmup: float, seed: int,
             replication: int = 0) -> RunRecords:
    """Run one replication of *model* for *duration* simulated seconds."""
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
        warmup_s=warmup, end_s=env.now, requests=recorder.request_frame(),
        agents=recorder.agent_frame(), events=next(env._eid),  # type: ignore[attr-defined]
        costs=recorder.cost_frame(), dead_letters=recorder.dead_letter_frame(),
    )
