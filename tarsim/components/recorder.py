"""Where components report what happened: flat rows, turned into frames at the end.

Components never compute metrics; they append one tuple per finished request and
one per agent event, and :mod:`tarsim.metrics` reads the frames afterwards.
"""

from __future__ import annotations

import pandas as pd

from tarsim.components.requests import Request

REQUEST_COLUMNS = [
    "id", "cls", "priority", "arrival", "admitted", "dequeued", "released", "end", "outcome",
    "input_tokens", "output_tokens", "cost_usd", "api_calls", "tool_calls", "agent",
]
AGENT_COLUMNS = ["t", "agent", "event"]
"""Agent events: ``spawn`` (a cold start begins), ``up`` (serving), ``down`` (stopped),
``crash`` (out of memory: down at once, a restart follows), ``cancel`` (a cold start
called off by the autoscaler)."""
MEMORY_COLUMNS = ["t", "bytes"]
"""Process memory after each change."""
MODE_COLUMNS = ["t", "mode"]
"""Degradation mode changes: the mode entered at time t (``optimal`` before the first)."""
SCALING_COLUMNS = ["t", "metric", "current", "recommended", "desired"]
"""Autoscaler decisions: the metric seen, agents before, the rule's raw
recommendation, and the count after stabilisation, limits and bounds."""


class Recorder:
    def __init__(self) -> None:
        self.requests: list[tuple[object, ...]] = []
        self.agents: list[tuple[float, int, str]] = []
        self.memory: list[tuple[float, float]] = []
        self.modes: list[tuple[float, str]] = []
        self.scaling: list[tuple[float, float, int, int, int]] = []

    def request(self, req: Request) -> None:
        self.requests.append((
            req.id, req.cls, req.priority, req.arrival, req.admitted, req.dequeued,
            req.released, req.end, req.outcome, req.input_tokens, req.output_tokens,
            req.cost_usd, req.api_calls, req.tool_calls,
            -1 if req.agent is None else req.agent.id,
        ))

    def agent(self, t: float, agent_id: int, event: str) -> None:
        self.agents.append((t, agent_id, event))

    def memory_level(self, t: float, total_bytes: float) -> None:
        self.memory.append((t, total_bytes))

    def mode(self, t: float, mode: str) -> None:
        self.modes.append((t, mode))

    def scale(self, t: float, metric: float, current: int, recommended: int,
              desired: int) -> None:
        self.scaling.append((t, metric, current, recommended, desired))

    def request_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame.from_records(self.requests, columns=REQUEST_COLUMNS)
        return frame.sort_values("id", kind="stable").reset_index(drop=True)

    def agent_frame(self) -> pd.DataFrame:
        return pd.DataFrame.from_records(self.agents, columns=AGENT_COLUMNS)

    def memory_frame(self) -> pd.DataFrame:
        return pd.DataFrame.from_records(self.memory, columns=MEMORY_COLUMNS)

    def mode_frame(self) -> pd.DataFrame:
        return pd.DataFrame.from_records(self.modes, columns=MODE_COLUMNS)

    def scaling_frame(self) -> pd.DataFrame:
        return pd.DataFrame.from_records(self.scaling, columns=SCALING_COLUMNS)
