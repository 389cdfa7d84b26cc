"""Process memory, followed as the run goes: what agents and their requests hold,
what leaks, what the garbage collector reclaims, and the out-of-memory crash.

Memory is kept per agent (``per_agent``, its requests, its garbage and its leaks)
plus the process's ``base`` and cache entries, because an agent that stops or
crashes gives all of its own back. Past the limit an agent crashes: with
``limit_scope: agent`` the agent over its own limit; with a process limit the one
holding the most memory, as the Linux OOM killer picks the largest process.
Every change of the total is written to the recorder, so the metrics read the
exact level at every moment.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from tarsim.components.agent_pool import ManagedAgent, ManagedAgentPool
from tarsim.components.recorder import Recorder
from tarsim.components.requests import Request
from tarsim.config.model import Memory
from tarsim.vocabulary import Outcome


class MemoryTracker:
    """Follows the process's memory through the run and crashes agents past the limit.

    Bytes are held by the process (``base``, cache entries), by each live agent (``per_agent``),
    by each request in a slot (``per_request`` and its tokens, growing step by
    step), by garbage awaiting the collector and by leaks; every change is
    recorded as the new total. The system calls :meth:`admit`, :meth:`grow` and
    :meth:`release` around each request's steps; a False answer means the request's
    agent ran out of memory (the request fails with ``oom``)."""

    def __init__(self, env: simpy.Environment, spec: Memory, pool: ManagedAgentPool,
                 recorder: Recorder) -> None:
        self.env = env
        self.spec = spec
        self.pool = pool
        self.recorder = recorder
        self.per_token_out = 0.0 if spec.streaming else spec.per_token
        self.total = spec.base
        self.cache_bytes = 0.0
        self.held: dict[ManagedAgent, float] = {}
        """Bytes each live agent holds: per_agent + its requests + garbage + leaks."""
        self.garbage: dict[ManagedAgent, float] = {}
        self._requests: dict[Request, tuple[float, int, int]] = {}
        """Bytes each request in a slot holds, and the input and output tokens counted."""
        recorder.memory_level(env.now, max(self.spec.reserved, self.total))
        for agent in pool.follow_memory(self):
            self.agent_up(agent)
        if spec.gc is not None:
            env.process(self._collector(spec.gc.interval, spec.gc.reclaim))

    # ------------------------------------------------------------ changes
    def _change(self, agent: ManagedAgent | None, delta: float) -> bool:
        """Add *delta* bytes (to *agent*, if given) and enforce the limit; False
        if *agent* crashed as a result."""
        if agent is not None:
            self.held[agent] += delta
        self.total += delta
        self.recorder.memory_level(self.env.now, max(self.spec.reserved, self.total))
        limit = self.spec.limit
        if limit is None or delta <= 0:
            return True
        if self.spec.limit_scope == "agent":
            if agent is not None and self.held[agent] > limit:
                self.pool.crash(agent, Outcome.OOM)
                return False
            return True
        if self.total > limit and self.held:
            victim = max(self.held, key=lambda a: (self.held[a], a.id))
            self.pool.crash(victim, Outcome.OOM)
            return victim is not agent
        return True

    def sub_agent(self, delta: int) -> None:
        """*delta* sub-agents spawned (+) or gone (-) for parallel steps: each
        holds ``per_agent`` while it lives (outside the pool's agents)."""
        self._change(None, delta * self.spec.per_agent)

    def agent_up(self, agent: ManagedAgent) -> bool:
        """*agent* came up; False if its memory crashed it (or another) at once."""
        self.held[agent] = 0.0
        self.garbage[agent] = 0.0
        return self._change(agent, self.spec.per_agent)

    def agent_gone(self, agent: ManagedAgent) -> None:
        """*agent* stopped or crashed: everything it held is free."""
        freed = self.held.pop(agent, 0.0)
        self.garbage.pop(agent, None)
        for req in list(agent.requests):
            self._requests.pop(req, None)
        if freed:
            self.total -= freed
            self.recorder.memory_level(self.env.now, max(self.spec.reserved, self.total))

    def admit(self, req: Request, agent: ManagedAgent) -> bool:
        """*req* starts in *agent*; False if the allocation crashed the agent."""
        held = self.spec.per_request + self.spec.per_token * req.input_tokens \
            + self.per_token_out * req.output_tokens
        self._requests[req] = (held, req.input_tokens, req.output_tokens)
        return self._change(agent, held) if held else True

    def grow(self, req: Request, agent: ManagedAgent) -> bool:
        """A step of *req* ended: hold its new tokens; False if that crashed the agent."""
        held, tokens_in, tokens_out = self._requests[req]
        more = (self.spec.per_token * (req.input_tokens - tokens_in)
                + self.per_token_out * (req.output_tokens - tokens_out))
        self._requests[req] = (held + more, req.input_tokens, req.output_tokens)
        return self._change(agent, more) if more else True

    def release(self, req: Request, agent: ManagedAgent) -> None:
        """*req* leaves its slot: its memory becomes garbage (or is freed at once
        without a collector), and its leak stays with the agent."""
        held = self._requests.pop(req)[0]
        leak = self.spec.leak_per_request
        if self.spec.gc is not None:
            self.garbage[agent] += held
            freed = 0.0
        else:
            freed = held
        if freed or leak:
            self._change(agent, leak - freed)

    def cache_entries(self, delta: int) -> None:
        """The cache gained (or lost) *delta* entries."""
        change = delta * self.spec.per_cache_entry
        if change:
            self._change(None, change)

    # ------------------------------------------------------------ collector
    def _collector(self, interval: float, reclaim: float) -> Generator[simpy.Event, Any, None]:
        while True:
            yield self.env.timeout(interval)
            freed = 0.0
            for agent, garbage in self.garbage.items():
                if garbage:
                    back = garbage * reclaim
                    self.garbage[agent] = garbage - back
                    self.held[agent] -= back
                    freed += back
            if freed:
                self.total -= freed
                self.recorder.memory_level(self.env.now, max(self.spec.reserved, self.total))

    # ------------------------------------------------------------ readings
    def share(self) -> float:
        """Memory as a share of its limit: the process's, or the fullest agent's."""
        limit = self.spec.limit
        if limit is None:
            return 0.0
        if self.spec.limit_scope == "agent":
            return max(self.held.values(), default=0.0) / limit
        return self.total / limit
