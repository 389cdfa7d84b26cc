"""The whole simulated system for one replication: the components wired together,
and the life of one request through them.

A request arrives, spends the router's work time, asks the agent pool for a slot
(waiting in the router's queue if none is free, or failing with ``queue_full``),
runs its class's steps in that slot, releases it and answers its client. A
client timeout ends the request for the client at its deadline: a request still
queued then leaves the queue (its slot is never taken); one already in an agent
slot keeps the slot until its work is done, as a server that does not see the
client hang up would.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import simpy

from tarsim.components.agent_pool import QUEUE_FULL, AgentPool, Waiter
from tarsim.components.providers import (
    NO_PROVIDER,
    LLMClient,
    Provider,
    RoleRunner,
    ToolClient,
)
from tarsim.components.recorder import Recorder
from tarsim.components.requests import OK, QUEUE_FULL as QUEUE_FULL_ERROR, TIMEOUT, UNFINISHED, Request
from tarsim.components.streams import Streams
from tarsim.components.workload import Workload
from tarsim.config.distributions import is_zero, sampler
from tarsim.config.model import OPEN_KINDS, Model


class System:
    def __init__(self, env: simpy.Environment, model: Model, streams: Streams,
                 recorder: Recorder, horizon: float) -> None:
        self.env = env
        self.model = model
        self.recorder = recorder
        self.horizon = horizon
        base_dir = model.base_dir
        self.timeout = model.workload.timeout if model.workload.timeout is not None else math.inf
        self.closed_loop = model.workload.arrivals.kind not in OPEN_KINDS
        self.router_work = (
            None if is_zero(model.router.work)
            else sampler(model.router.work, streams("router.work"), base_dir)
        )
        agents = model.agents
        self.pool = AgentPool(
            env,
            count=agents.count,
            concurrency=agents.concurrency,
            warm=agents.warm_agents,
            spawn_latency=sampler(agents.spawn, streams("agents.spawn"), base_dir),
            queue_capacity=model.router.queue.capacity,
            priority=model.router.queue.discipline == "priority",
            recorder=recorder,
        )
        providers = {
            name: Provider(env, name, spec, streams, base_dir)
            for name, spec in model.providers.items()
        }
        providers[NO_PROVIDER] = Provider(env, NO_PROVIDER, None, streams, base_dir)
        llms = {
            name: LLMClient(env, name, spec, providers[spec.provider or NO_PROVIDER],
                            streams, base_dir)
            for name, spec in model.llms.items()
        }
        tools = {
            name: ToolClient(env, name, spec, providers[spec.provider or NO_PROVIDER],
                             streams, base_dir)
            for name, spec in model.tools.items()
        }
        runners = {
            name: RoleRunner(
                env, name, spec, llms[spec.llm] if spec.llm else None,
                [(tools[t], n) for t, n in spec.tools.items()], streams, base_dir,
            )
            for name, spec in model.roles.items()
        }
        self.class_steps = [[runners[s] for s in c.steps] for c in model.workload.classes]
        self.class_priority = [c.priority for c in model.workload.classes]

        self.next_id = 0
        self.in_flight: dict[int, Request] = {}
        self.arrivals_open = True
        self.done = env.event()
        """Fires when arrivals have stopped and every request has answered."""
        self.workload = Workload(env, model.workload, self.submit, streams, horizon, base_dir)

    def start(self) -> None:
        self.workload.start()
        stop = self.env.timeout(self.horizon)
        stop.callbacks.append(lambda _event: self._close_arrivals())

    # ------------------------------------------------------------ requests
    def submit(self, cls: int) -> simpy.Event | None:
        """A new request of class *cls* arrives now."""
        if not self.arrivals_open:
            return None
        env = self.env
        now = env.now
        req = Request(self.next_id, cls, self.class_priority[cls], now, now + self.timeout)
        self.next_id += 1
        self.in_flight[req.id] = req
        answered = None
        if self.closed_loop:
            answered = req.responded = env.event()
            if self.timeout < math.inf:
                self._watch(req, self.timeout)
        env.process(self.handle(req))
        return answered

    def handle(self, req: Request) -> Generator[simpy.Event, Any, None]:
        env = self.env
        if self.router_work is not None:
            work = self.router_work()
            if work > 0:
                yield env.timeout(work)
        req.admitted = env.now
        if env.now >= req.deadline:  # the client gave up while the router worked
            req.dequeued = env.now
            req.fail(TIMEOUT)
            self.finish(req)
            return
        got = self.pool.acquire(req.priority)
        if got is QUEUE_FULL:
            req.dequeued = env.now
            req.fail(QUEUE_FULL_ERROR)
            self.finish(req)
            return
        if type(got) is Waiter:
            req.entry = got
            if not self.closed_loop and req.deadline < math.inf:
                self._watch(req, req.deadline - env.now)
            agent = yield got.event
            req.entry = None
            req.dequeued = env.now
            if agent is None:
                req.fail(TIMEOUT)
                self.finish(req)
                return
        else:
            agent = got
            req.dequeued = env.now
        req.agent = agent
        for step in self.class_steps[req.cls]:
            ok = yield from step.run(req)
            if not ok:
                break
        self.pool.release(agent)
        req.released = env.now
        self.finish(req)

    def finish(self, req: Request) -> None:
        now = self.env.now
        if now > req.deadline:  # the client stopped waiting first
            req.outcome = TIMEOUT
            req.end = req.deadline
        else:
            req.end = now
        if req.responded is not None and not req.responded.triggered:
            req.responded.succeed()
        self.recorder.request(req)
        del self.in_flight[req.id]
        if not self.arrivals_open and not self.in_flight and not self.done.triggered:
            self.done.succeed()

    def _watch(self, req: Request, delay: float) -> None:
        timer = self.env.timeout(delay)
        timer.callbacks.append(lambda _event: self._deadline(req))

    def _deadline(self, req: Request) -> None:
        """The client's timeout: leave the queue, and answer a waiting user."""
        if req.entry is not None:
            self.pool.leave(req.entry)
        if req.responded is not None and not req.responded.triggered:
            req.responded.succeed()

    def _close_arrivals(self) -> None:
        self.arrivals_open = False
        if not self.in_flight and not self.done.triggered:
            self.done.succeed()

    def flush(self) -> None:
        """Record the requests still in flight when the run stops: timed out if their
        deadline has passed, else unfinished."""
        now = self.env.now
        for req in list(self.in_flight.values()):
            if req.deadline <= now:
                req.outcome = TIMEOUT
                req.end = req.deadline
            else:
                req.outcome = UNFINISHED if req.outcome == OK else req.outcome
            self.recorder.request(req)
        self.in_flight.clear()
