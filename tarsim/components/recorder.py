"""Where components report what happened: flat rows, turned into columns at the end.

Components never compute metrics; they append one tuple per finished request and
one per agent event, and :mod:`tarsim.metrics` reads the columns afterwards.
Columns are numpy arrays rather than pandas frames so that a run does not pay for
importing pandas; frames are built on request (``RunRecords.requests``).
"""

from __future__ import annotations

import numpy as np

from tarsim.components.requests import Request

REQUEST_FIELDS: list[tuple[str, str]] = [
    ("id", "i8"), ("cls", "i4"), ("priority", "i4"), ("arrival", "f8"), ("admitted", "f8"),
    ("dequeued", "f8"), ("released", "f8"), ("end", "f8"), ("outcome", "i2"),
    ("input_tokens", "i8"), ("output_tokens", "i8"), ("cost_usd", "f8"), ("api_calls", "i4"),
    ("tool_calls", "i4"), ("agent", "i8"), ("retries", "i4"), ("rate_limited", "i4"),
    ("cache_hits", "i4"), ("cache_lookups", "i4"),
]
"""Per-request columns and their numpy types, in the order ``Recorder.request`` writes."""
REQUEST_COLUMNS = [name for name, _ in REQUEST_FIELDS]
AGENT_FIELDS: list[tuple[str, str]] = [("t", "f8"), ("agent", "i8"), ("event", "i2")]
"""Agent events: ``spawn`` (a cold start begins), ``up`` (serving), ``down`` (stopped),
``crash`` (out of memory: down at once, a restart follows), ``cancel`` (a cold start
called off by the autoscaler)."""
AGENT_COLUMNS = [name for name, _ in AGENT_FIELDS]
MEMORY_FIELDS: list[tuple[str, str]] = [("t", "f8"), ("bytes", "f8")]
"""Process memory after each change."""
MODE_FIELDS: list[tuple[str, str]] = [("t", "f8"), ("mode", "i2")]
"""Degradation mode changes: the mode entered at time t (``optimal`` before the first)."""
SCALING_FIELDS: list[tuple[str, str]] = [("t", "f8"), ("metric", "f8"), ("current", "i8"),
                                         ("recommended", "i8"), ("desired", "i8")]
"""Autoscaler decisions: the metric seen, agents before, the rule's raw
recommendation, and the count after stabilisation, limits and bounds."""
HOST_FIELDS: list[tuple[str, str]] = [("t", "f8"), ("host", "i8"), ("event", "i2")]
"""Host events of an autoscaled deployment (:class:`tarsim.vocabulary.HostEvent`):
``start``, ``up``, ``drain``, ``down``, ``cancel``; hosts up at t = 0 log ``start``
and ``up`` at 0."""
COST_FIELDS: list[tuple[str, str]] = [("item", "i2"), ("usd", "f8")]
"""USD billed per model or tool, for requests that arrived after the warm-up."""
DEMAND_FIELDS: list[tuple[str, str]] = [("scope", "i2"), ("provider", "i2"), ("calls", "f8"),
                                        ("input_tokens", "f8"), ("output_tokens", "f8")]
"""What requests arriving after the warm-up sent to each model (``llm:NAME``) and
tool (``tool:NAME``), through which provider: first attempts only, input tokens as
the rate limiters count them (cache reads excluded)."""
LIMIT_FIELDS: list[tuple[str, str]] = [("limit", "i2"), ("kind", "i2"), ("refused", "i8"),
                                       ("failed", "i8")]
"""Per rate limit (scope and kind): 429s it gave for lack of room and calls that
failed for good on its 429, for requests that arrived after the warm-up."""
DEAD_LETTER_FIELDS: list[tuple[str, str]] = [
    ("id", "i8"), ("target", "i2"), ("provider", "i2"), ("attempt", "i4"), ("start", "f8"),
    ("end", "f8"), ("status", "i2"), ("retry_after", "f8"), ("wait", "f8"),
]
"""The history of each call that failed for good, one row per attempt: its status
(``rate_limited``, ``api_error``, ``overloaded``, ``timeout``, ``circuit_open``),
the retry-after it carried (0: none) and the wait before the next attempt (NaN:
none, the call gave up)."""
DEAD_LETTER_COLUMNS = [name for name, _ in DEAD_LETTER_FIELDS]
SPAN_FIELDS: list[tuple[str, str]] = [
    ("id", "i8"), ("cls", "i4"), ("role", "i2"), ("start", "f8"), ("end", "f8"),
    ("agent", "i8"), ("kind", "i2"), ("branch", "i2"), ("ok", "?"),
]
"""Workflow classes only: one row per role step a request ran, with the agent that
ran it (an agent id; a sub-agent's serial number for ``kind`` spawn), the kind of
agent (``main``: the request's own slot, ``pool``, ``spawn``, ``same``: the
caller's slot), the branch alternative it ran under ("" for none)."""
BRANCH_FIELDS: list[tuple[str, str]] = [("id", "i8"), ("cls", "i4"), ("branch", "i2"),
                                        ("t", "f8")]
"""Workflow classes only: each branch alternative a request took."""
FLOW_PHASES = ("routing", "queueing", "spawning", "llm", "tools", "work", "join")
"""Where a workflow request's time went (agent-seconds; see components.workflow)."""
FLOW_FIELDS: list[tuple[str, str]] = [("id", "i8"), ("cls", "i4")] + [
    (phase, "f8") for phase in FLOW_PHASES]
SUBAGENT_FIELDS: list[tuple[str, str]] = [("t", "f8"), ("in_flight", "i8")]
"""Sub-agents working for parallel steps, after each change."""

CHUNK = 8192
"""Rows kept as Python tuples before they are packed into a numpy chunk: packing in
chunks keeps memory near 150 bytes a request instead of several hundred."""


class _Table:
    """Rows appended as tuples, packed into structured numpy chunks as they come.

    Text columns (*coded*) are stored as small integer codes, one vocabulary per
    column, and turned back into text when the columns are read."""

    def __init__(self, fields: list[tuple[str, str]], coded: tuple[str, ...] = ()) -> None:
        self.dtype = np.dtype(fields)
        self.words: dict[str, dict[str, int]] = {name: {} for name in coded}
        self.rows: list[tuple[object, ...]] = []
        self.chunks: list[np.ndarray] = []

    def code(self, word: str, column: str) -> int:
        words = self.words[column]
        code = words.get(word)
        if code is None:
            code = words[word] = len(words)
        return code

    def pack(self) -> None:
        if self.rows:
            self.chunks.append(np.array(self.rows, dtype=self.dtype))
            self.rows = []

    def columns(self, order_by: str | None = None) -> dict[str, np.ndarray]:
        self.pack()
        table = np.concatenate(self.chunks) if self.chunks else np.empty(0, self.dtype)
        if order_by is not None:
            table = table[np.argsort(table[order_by], kind="stable")]
        columns = {}
        for name in table.dtype.names or ():
            if name in self.words:
                vocabulary = np.array(list(self.words[name]) or [""], dtype=str)
                columns[name] = vocabulary[table[name]]
            else:
                columns[name] = table[name].copy()
        return columns


class Recorder:
    """The one place components report to during a run: a row per finished request,
    agent event, memory change, mode change, scaling decision, billed item and
    dead-lettered attempt. Text fields are stored as small integer codes; the
    ``*_columns`` methods hand back numpy columns (text decoded) for the metrics."""

    def __init__(self) -> None:
        self._requests = _Table(REQUEST_FIELDS, coded=("outcome",))
        self._agents = _Table(AGENT_FIELDS, coded=("event",))
        self._memory = _Table(MEMORY_FIELDS)
        self._modes = _Table(MODE_FIELDS, coded=("mode",))
        self._scaling = _Table(SCALING_FIELDS)
        self._hosts = _Table(HOST_FIELDS, coded=("event",))
        self._host_scaling = _Table(SCALING_FIELDS)
        self._costs = _Table(COST_FIELDS, coded=("item",))
        self._limits = _Table(LIMIT_FIELDS, coded=("limit", "kind"))
        self._dead_letters = _Table(DEAD_LETTER_FIELDS, coded=("target", "provider", "status"))
        self._demand = _Table(DEMAND_FIELDS, coded=("scope", "provider"))
        self._spans = _Table(SPAN_FIELDS, coded=("role", "kind", "branch"))
        self._branches = _Table(BRANCH_FIELDS, coded=("branch",))
        self._flows = _Table(FLOW_FIELDS)
        self._subagents = _Table(SUBAGENT_FIELDS)

    def request(self, req: Request) -> None:
        rows = self._requests.rows
        rows.append((
            req.id, req.cls, req.priority, req.arrival, req.admitted, req.dequeued,
            req.released, req.end, self._requests.code(req.outcome, "outcome"),
            req.input_tokens, req.output_tokens, req.cost_usd, req.api_calls, req.tool_calls,
            -1 if req.agent is None else req.agent.id,
            req.retries, req.rate_limited, req.cache_hits, req.cache_lookups,
        ))
        if len(rows) >= CHUNK:
            self._requests.pack()

    def agent(self, t: float, agent_id: int, event: str) -> None:
        self._agents.rows.append((t, agent_id, self._agents.code(event, "event")))

    def memory_level(self, t: float, total_bytes: float) -> None:
        rows = self._memory.rows
        rows.append((t, total_bytes))
        if len(rows) >= CHUNK:
            self._memory.pack()

    def mode(self, t: float, mode: str) -> None:
        self._modes.rows.append((t, self._modes.code(mode, "mode")))

    def cost(self, item: str, usd: float) -> None:
        self._costs.rows.append((self._costs.code(item, "item"), usd))

    def demand(self, scope: str, provider: str, calls: float, input_tokens: float,
               output_tokens: float) -> None:
        table = self._demand
        table.rows.append((table.code(scope, "scope"), table.code(provider, "provider"), calls,
                           input_tokens, output_tokens))
    def limit(self, label: str, kind: str, refused: int, failed: int) -> None:
        table = self._limits
        table.rows.append((table.code(label, "limit"), table.code(kind, "kind"), refused,
                           failed))

    def dead_letter(self, req_id: int, target: str, provider: str,
                    history: list[tuple[int, float, float, str, float, float]]) -> None:
        table = self._dead_letters
        for attempt, start, end, status, retry_after, wait in history:
            table.rows.append((req_id, table.code(target, "target"),
                               table.code(provider, "provider"), attempt, start, end,
                               table.code(status, "status"), retry_after, wait))

    def scale(self, t: float, metric: float, current: int, recommended: int,
              desired: int) -> None:
        self._scaling.rows.append((t, metric, current, recommended, desired))

    def host(self, t: float, host: int, event: str) -> None:
        self._hosts.rows.append((t, host, self._hosts.code(event, "event")))

    def host_scale(self, t: float, metric: float, current: int, recommended: int,
                   desired: int) -> None:
        """A host autoscaler decision (the fields of an agent autoscaler's)."""
        self._host_scaling.rows.append((t, metric, current, recommended, desired))

    def span(self, req_id: int, cls: int, role: str, start: float, end: float, agent: int,
             kind: str, branch: str, ok: bool) -> None:
        table = self._spans
        table.rows.append((req_id, cls, table.code(role, "role"), start, end, agent,
                           table.code(kind, "kind"), table.code(branch, "branch"), ok))
        if len(table.rows) >= CHUNK:
            table.pack()

    def branch(self, req_id: int, cls: int, branch: str, t: float) -> None:
        table = self._branches
        table.rows.append((req_id, cls, table.code(branch, "branch"), t))
        if len(table.rows) >= CHUNK:
            table.pack()

    def flow(self, req_id: int, cls: int, seconds: list[float]) -> None:
        table = self._flows
        table.rows.append((req_id, cls, *seconds))
        if len(table.rows) >= CHUNK:
            table.pack()

    def subagents(self, t: float, in_flight: int) -> None:
        table = self._subagents
        table.rows.append((t, in_flight))
        if len(table.rows) >= CHUNK:
            table.pack()

    def span_columns(self) -> dict[str, np.ndarray]:
        return self._spans.columns()

    def branch_columns(self) -> dict[str, np.ndarray]:
        return self._branches.columns()

    def flow_columns(self) -> dict[str, np.ndarray]:
        return self._flows.columns()

    def subagent_columns(self) -> dict[str, np.ndarray]:
        return self._subagents.columns()

    def request_columns(self) -> dict[str, np.ndarray]:
        """One array per column of REQUEST_COLUMNS, rows in request-id order."""
        return self._requests.columns(order_by="id")

    def agent_columns(self) -> dict[str, np.ndarray]:
        return self._agents.columns()

    def memory_columns(self) -> dict[str, np.ndarray]:
        return self._memory.columns()

    def mode_columns(self) -> dict[str, np.ndarray]:
        return self._modes.columns()

    def scaling_columns(self) -> dict[str, np.ndarray]:
        return self._scaling.columns()

    def host_columns(self) -> dict[str, np.ndarray]:
        return self._hosts.columns()

    def host_scaling_columns(self) -> dict[str, np.ndarray]:
        return self._host_scaling.columns()

    def cost_columns(self) -> dict[str, np.ndarray]:
        return self._costs.columns()

    def demand_columns(self) -> dict[str, np.ndarray]:
        return self._demand.columns()
    def limit_columns(self) -> dict[str, np.ndarray]:
        return self._limits.columns()

    def dead_letter_columns(self) -> dict[str, np.ndarray]:
        return self._dead_letters.columns()
