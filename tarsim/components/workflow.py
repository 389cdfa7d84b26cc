"""Workflows in motion: the steps of a request class run as a tree of nodes.

A class whose steps are role names only never comes here: the request lifecycle
runs its roles one after another in its slot, as it always did. A class with any
workflow form is compiled into one :class:`Workflow`, which the lifecycle runs as
if it were a single role (it has ``run(req)``), so the plain path pays nothing.

Inside, each node is a SimPy generator ``run(req, frame)``; the *frame* says
which agent runs it (for spans), under which branch alternative, and inside which
loop (for growing context). A parallel step runs each of its branches in a
process of its own, in its own agent, on a *shadow* request that shares the
request's id and class: a branch's tokens, cost and calls are added to the
request when the branch ends, and its failure fails the request only when the
join says so (a losing branch of ``first_success`` does not).
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from tarsim.components.agent_pool import (
    NO_ROOM,
    TURNED_AWAY,
    AgentPool,
    ManagedAgentPool,
    Waiter,
)
from tarsim.components.recorder import FLOW_PHASES, Recorder
from tarsim.components.requests import OK, Request
from tarsim.components.roles import RoleRunner
from tarsim.components.sampling import Draw, draw_of, sampler
from tarsim.components.streams import Streams
from tarsim.config.workflow import Branch, Parallel, Repeat, RoleStep, Sequence
from tarsim.config.workflow import Context as ContextSpec
from tarsim.vocabulary import Outcome

NodeGen = Generator[simpy.Event, Any, bool]

PHASES = FLOW_PHASES
"""Where a request's time went, in agent-seconds summed over all its agents: the
router's work, waiting for agent slots, sub-agent cold starts, LLM calls, tool
calls, role work, and a caller held at a join waiting for its parallel steps."""
ROUTING, QUEUEING, SPAWNING, LLM, TOOLS, WORK, JOIN = range(len(PHASES))

MERGED = ("input_tokens", "output_tokens", "cost_usd", "api_calls", "tool_calls",
          "retries", "rate_limited", "cache_hits", "cache_lookups")
"""Request counters a parallel branch adds to its request when it ends."""


class Loop:
    """One running repeat block's context: the tokens its finished rounds carry."""

    __slots__ = (
        "carry",
        "done_out",
        "done_tools",
        "grow",
        "now_out",
        "now_tools",
        "outer",
        "round",
        "tool_tokens",
    )

    def __init__(self, spec: ContextSpec, outer: Loop | None) -> None:
        self.grow, self.carry, self.tool_tokens = spec.grow, spec.carry, spec.tool_tokens
        self.outer = outer
        self.round = 0
        self.done_out = self.done_tools = 0
        self.now_out = self.now_tools = 0

    def carried(self) -> int:
        """Input tokens the earlier rounds (of this loop and those around it) add."""
        own = (self.grow * self.round
               + self.carry * (self.done_out + self.tool_tokens * self.done_tools))
        return round(own) + (0 if self.outer is None else self.outer.carried())

    def note(self, output_tokens: int, tool_calls: int) -> None:
        loop: Loop | None = self
        while loop is not None:
            loop.now_out += output_tokens
            loop.now_tools += tool_calls
            loop = loop.outer

    def next_round(self) -> None:
        self.round += 1
        self.done_out += self.now_out
        self.done_tools += self.now_tools
        self.now_out = self.now_tools = 0


class Frame:
    """Where a node runs: the agent (for spans), the branch label, the loop."""

    __slots__ = ("agent", "kind", "label", "loop")

    def __init__(self, agent: int, kind: str, label: str, loop: Loop | None) -> None:
        self.agent = agent
        self.kind = kind
        self.label = label
        self.loop = loop


class Engine:
    """What every node needs: the clock, the pool, the recorder, spawning."""

    def __init__(self, env: simpy.Environment, pool: AgentPool, recorder: Recorder,
                 spawn: Draw, memory: Any) -> None:
        self.env = env
        self.pool = pool
        self.recorder = recorder
        self.spawn = spawn
        self.memory = memory
        self.in_flight = 0
        """Sub-agents (pooled or spawned) working for a parallel step now."""
        self.spawned = 0

    def subagents(self, delta: int) -> None:
        self.in_flight += delta
        self.recorder.subagents(self.env.now, self.in_flight)


# ---------------------------------------------------------------- nodes
class RoleNode:
    """A role inside a workflow: the role's runner, timed, with a span recorded."""

    def __init__(self, engine: Engine, runner: RoleRunner) -> None:
        self.engine = engine
        self.runner = runner

    def run(self, req: Request, frame: Frame) -> NodeGen:
        env = self.engine.env
        start = env.now
        ok = yield from self.runner.run(req, frame)
        self.engine.recorder.span(req.id, req.cls, self.runner.name, start, env.now,
                                  frame.agent, frame.kind, frame.label, ok)
        return ok


class SequenceNode:
    def __init__(self, nodes: list[Any]) -> None:
        self.nodes = nodes

    def run(self, req: Request, frame: Frame) -> NodeGen:
        for node in self.nodes:
            ok = yield from node.run(req, frame)
            if not ok:
                return False
        return True


class BranchNode:
    def __init__(self, engine: Engine, alternatives: list[tuple[str, float, Any]],
                 rng: np.random.Generator) -> None:
        self.engine = engine
        self.labels = [label for label, _, _ in alternatives]
        self.nodes = [node for _, _, node in alternatives]
        self.cumulative = np.cumsum([p for _, p, _ in alternatives])
        self.cumulative[-1] = 1.0
        self.uniform = rng.random

    def run(self, req: Request, frame: Frame) -> NodeGen:
        i = int(np.searchsorted(self.cumulative, self.uniform(), side="right"))
        label = self.labels[i]
        self.engine.recorder.branch(req.id, req.cls, label, self.engine.env.now)
        inner = Frame(frame.agent, frame.kind, label, frame.loop)
        return (yield from self.nodes[i].run(req, inner))


class RepeatNode:
    def __init__(self, spec: Repeat, body: Any, rng: np.random.Generator, base_dir: Any) -> None:
        self.body = body
        self.context = spec.context
        self.cap = spec.max if spec.max is not None else math.inf
        self.stop = spec.stop
        self.uniform = rng.random
        self.times: Draw | None = (None if spec.times is None
                                   else sampler(spec.times, rng, base_dir))

    def run(self, req: Request, frame: Frame) -> NodeGen:
        left: float = self.cap
        if self.times is not None:
            left = min(left, max(0, round(self.times())))
            if left == 0:
                return True
        loop = None if self.context is None else Loop(self.context, frame.loop)
        inner = frame if loop is None else Frame(frame.agent, frame.kind, frame.label, loop)
        stop = self.stop
        while True:
            ok = yield from self.body.run(req, inner)
            if not ok:
                return False
            left -= 1
            if left <= 0 or (stop is not None and self.uniform() < stop):
                return True
            if loop is not None:
                loop.next_round()


class Join:
    """Counts a parallel step's branches as they end; *event* fires with True or
    False when the join rule is decided."""

    __slots__ = ("done", "event", "failed", "need", "outcome", "success_only", "total")

    def __init__(self, env: simpy.Environment, total: int, need: int,
                 success_only: bool) -> None:
        self.event = env.event()
        self.total, self.need, self.success_only = total, need, success_only
        self.done = self.failed = 0
        self.outcome = OK
        """The first failure's cause among the branches that count."""

    def end(self, ok: bool, outcome: Outcome) -> None:
        if self.event.triggered:
            return
        self.done += 1
        if not ok:
            self.failed += 1
            if self.outcome == OK:
                self.outcome = outcome
        if self.success_only:
            if ok:
                self.event.succeed(True)
            elif self.failed == self.total:
                self.event.succeed(False)
        elif not ok or self.done == self.need:
            # all / first k: a failure among those waited for fails the step at once
            self.event.succeed(ok)


class ParallelNode:
    def __init__(self, engine: Engine, spec: Parallel | RoleStep, nodes: list[Any],
                 spawn: Draw) -> None:
        self.engine = engine
        self.nodes = nodes
        self.agent = spec.agent
        self.spawn = spawn
        join = spec.join if isinstance(spec, Parallel) else "all"
        self.success_only = join == "first_success"
        self.need = len(nodes) if join in ("all", "first_success") else int(join)

    def run(self, req: Request, frame: Frame) -> NodeGen:
        engine = self.engine
        env = engine.env
        join = Join(env, len(self.nodes), self.need, self.success_only)
        start = env.now
        for node in self.nodes:
            env.process(self._branch(req, frame, node, join))
        ok = yield join.event
        req.flow[JOIN] += env.now - start
        if not ok:
            req.fail(join.outcome)
        return ok

    def _branch(self, req: Request, frame: Frame, node: Any,
                join: Join) -> Generator[simpy.Event, Any, None]:
        engine = self.engine
        env = engine.env
        flow = req.flow
        shadow = Request(req.id, req.cls, req.priority, req.arrival, req.deadline)
        shadow.flow = flow
        mode = self.agent
        if mode == "same":
            ok = yield from node.run(shadow, Frame(frame.agent, "same", frame.label, frame.loop))
            self._merge(req, shadow, join, ok)
            return
        engine.subagents(1)
        if mode == "spawn":
            yield from self._spawned(req, shadow, frame, node, join)
            engine.subagents(-1)
            return
        pool = engine.pool
        start = env.now
        got = pool.acquire_child(req.priority)
        if got is NO_ROOM or got is TURNED_AWAY:
            shadow.fail(Outcome.QUEUE_FULL if got is NO_ROOM else Outcome.SHED)
            engine.subagents(-1)
            self._merge(req, shadow, join, False)
            return
        agent: Any = got
        if isinstance(got, Waiter):
            agent = yield got.event
            if agent is None or agent is TURNED_AWAY:
                shadow.fail(Outcome.SHED)
                engine.subagents(-1)
                self._merge(req, shadow, join, False)
                return
        flow[QUEUEING] += env.now - start
        managed = pool if isinstance(pool, ManagedAgentPool) else None
        inner = Frame(agent.id, "pool", frame.label, frame.loop)
        if managed is not None and not managed.attach(agent, shadow,
                                                      env.active_process):  # type: ignore[arg-type]
            shadow.fail(Outcome.OOM)  # its agent crashed before the step could start
            ok = False
        else:
            try:
                ok = yield from node.run(shadow, inner)
            except simpy.Interrupt as crash:  # its agent crashed under it
                shadow.fail(Outcome(str(crash.cause)))
                engine.subagents(-1)
                self._merge(req, shadow, join, False)
                return
            if managed is not None:
                managed.detach(agent, shadow)
            pool.release(agent)
        engine.subagents(-1)
        self._merge(req, shadow, join, ok)

    def _spawned(self, req: Request, shadow: Request, frame: Frame, node: Any,
                 join: Join) -> Generator[simpy.Event, Any, None]:
        """Run *node* in a fresh sub-agent: its cold start, its memory while it lives."""
        engine = self.engine
        env = engine.env
        engine.spawned += 1
        serial = engine.spawned
        memory = engine.memory
        if memory is not None:
            memory.sub_agent(1)
        latency = self.spawn()
        if latency > 0:
            yield env.timeout(latency)
            req.flow[SPAWNING] += latency
        ok = yield from node.run(shadow, Frame(serial, "spawn", frame.label, frame.loop))
        if memory is not None:
            memory.sub_agent(-1)
        self._merge(req, shadow, join, ok)

    @staticmethod
    def _merge(req: Request, shadow: Request, join: Join, ok: bool) -> None:
        for name in MERGED:
            setattr(req, name, getattr(req, name) + getattr(shadow, name))
        join.end(ok, shadow.outcome)


class Workflow:
    """A class's whole workflow, run by the request lifecycle like one role."""

    work_only = False

    def __init__(self, engine: Engine, root: SequenceNode, name: str) -> None:
        self.engine = engine
        self.root = root
        self.name = name

    def run(self, req: Request) -> NodeGen:
        flow = req.flow = [0.0] * len(PHASES)
        flow[ROUTING] = req.admitted - req.arrival
        flow[QUEUEING] = req.dequeued - req.admitted
        agent = req.agent
        ok = yield from self.root.run(req, Frame(agent.id, "main", "", None))
        self.engine.recorder.flow(req.id, req.cls, flow)
        return ok


# ---------------------------------------------------------------- compiling
class Compiler:
    """Turns a class's validated steps into nodes, giving each random node its own
    stream (named by its path, so adding a class leaves the others' draws alone)."""

    def __init__(self, engine: Engine, runners: dict[str, RoleRunner], streams: Streams,
                 base_dir: Any) -> None:
        self.engine = engine
        self.runners = runners
        self.streams = streams
        self.base_dir = base_dir

    def workflow(self, cls_name: str, steps: list[Any]) -> Workflow:
        path = f"workflow.{cls_name}.steps"
        return Workflow(self.engine, SequenceNode(self.sequence(path, steps)), cls_name)

    def sequence(self, path: str, steps: list[Any]) -> list[Any]:
        return [self.node(f"{path}[{i}]", step) for i, step in enumerate(steps)]

    def node(self, path: str, step: Any) -> Any:
        engine = self.engine
        if isinstance(step, str):
            return RoleNode(engine, self.runners[step])
        if isinstance(step, Sequence):
            return SequenceNode(self.sequence(f"{path}.steps", step.steps))
        if isinstance(step, RoleStep):
            inner = RoleNode(engine, self.runners[step.role])
            return self._parallel(path, step, [inner])
        if isinstance(step, Parallel):
            nodes = [self.node(f"{path}.parallel[{i}]", s) for i, s in enumerate(step.parallel)]
            return self._parallel(path, step, nodes)
        if isinstance(step, Repeat):
            body = SequenceNode(self.sequence(f"{path}.repeat", step.repeat))
            return RepeatNode(step, body, self.streams(path), self.base_dir)
        assert isinstance(step, Branch)
        alternatives = [
            (alt.name or f"b{i}", alt.p,
             SequenceNode(self.sequence(f"{path}.branch[{i}].steps", alt.steps)))
            for i, alt in enumerate(step.branch)
        ]
        return BranchNode(engine, alternatives, self.streams(path))

    def _parallel(self, path: str, spec: Parallel | RoleStep, nodes: list[Any]) -> ParallelNode:
        spawn = self.engine.spawn
        if spec.spawn is not None:
            spawn = draw_of(spec.spawn, self.streams, f"{path}.spawn", self.base_dir)
        return ParallelNode(self.engine, spec, nodes, spawn)
