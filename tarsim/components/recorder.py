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
"""Agent events: ``spawn`` (a cold start begins), ``up`` (serving), ``down`` (stopped)."""


class Recorder:
    def __init__(self) -> None:
        self.requests: list[tuple[object, ...]] = []
        self.agents: list[tuple[float, int, str]] = []

    def request(self, req: Request) -> None:
        self.requests.append((
            req.id, req.cls, req.priority, req.arrival, req.admitted, req.dequeued,
            req.released, req.end, req.outcome, req.input_tokens, req.output_tokens,
            req.cost_usd, req.api_calls, req.tool_calls,
            -1 if req.agent is None else req.agent.id,
        ))

    def agent(self, t: float, agent_id: int, event: str) -> None:
        self.agents.append((t, agent_id, event))

    def request_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame.from_records(self.requests, columns=REQUEST_COLUMNS)
        return frame.sort_values("id", kind="stable").reset_index(drop=True)

    def agent_frame(self) -> pd.DataFrame:
        return pd.DataFrame.from_records(self.agents, columns=AGENT_COLUMNS)
