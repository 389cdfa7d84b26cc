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
    "retries", "rate_limited", "cache_hits", "cache_lookups",
]
AGENT_COLUMNS = ["t", "agent", "event"]
"""Agent events: ``spawn`` (a cold start begins), ``up`` (serving), ``down`` (stopped)."""
COST_COLUMNS = ["item", "usd"]
"""USD billed per model or tool, for requests that arrived after the warm-up."""
DEAD_LETTER_COLUMNS = ["id", "target", "provider", "attempt", "start", "end", "status",
                       "retry_after", "wait"]
"""The history of each call that failed for good, one row per attempt: its status
(``rate_limited``, ``api_error``, ``overloaded``, ``timeout``, ``circuit_open``),
the retry-after it carried (0: none) and the wait before the next attempt (NaN:
none, the call gave up)."""


class Recorder:
    def __init__(self) -> None:
        self.requests: list[tuple[object, ...]] = []
        self.agents: list[tuple[float, int, str]] = []
        self.costs: list[tuple[str, float]] = []
        self.dead_letters: list[tuple[object, ...]] = []

    def request(self, req: Request) -> None:
        self.requests.append((
            req.id, req.cls, req.priority, req.arrival, req.admitted, req.dequeued,
            req.released, req.end, req.outcome, req.input_tokens, req.output_tokens,
            req.cost_usd, req.api_calls, req.tool_calls,
            -1 if req.agent is None else req.agent.id,
            req.retries, req.rate_limited, req.cache_hits, req.cache_lookups,
        ))

    def cost(self, item: str, usd: float) -> None:
        self.costs.append((item, usd))

    def dead_letter(self, req_id: int, target: str, provider: str,
                    history: list[tuple[int, float, float, str, float, float]]) -> None:
        for attempt in history:
            self.dead_letters.append((req_id, target, provider, *attempt))

    def agent(self, t: float, agent_id: int, event: str) -> None:
        self.agents.append((t, agent_id, event))

    def request_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame.from_records(self.requests, columns=REQUEST_COLUMNS)
        return frame.sort_values("id", kind="stable").reset_index(drop=True)

    def agent_frame(self) -> pd.DataFrame:
        return pd.DataFrame.from_records(self.agents, columns=AGENT_COLUMNS)

    def cost_frame(self) -> pd.DataFrame:
        return pd.DataFrame.from_records(self.costs, columns=COST_COLUMNS)

    def dead_letter_frame(self) -> pd.DataFrame:
        return pd.DataFrame.from_records(self.dead_letters, columns=DEAD_LETTER_COLUMNS)
