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
from collections.abc import Callable, Generator
from typing import Any, cast

import simpy

from tarsim.components.agent_pool import (
    NO_ROOM,
    TURNED_AWAY,
    AgentPool,
    ManagedAgent,
    ManagedAgentPool,
    Waiter,
)
from tarsim.components.autoscaler import Autoscaler
from tarsim.components.degradation import DegradationController
from tarsim.components.host_scaler import HostScaler, ScaledHost
from tarsim.components.hosts import AGENT_ID_STRIDE, Host, HostMemory, balancer
from tarsim.components.memory import MemoryTracker
from tarsim.components.pools import MeteredPool
from tarsim.components.providers import (
    NO_PROVIDER,
    ContextCache,
    LLMClient,
    ProviderEndpoint,
    ToolClient,
)
from tarsim.components.rate_limits import KINDS, RateLimiter
from tarsim.components.recorder import Recorder
from tarsim.components.requests import Request
from tarsim.components.roles import RoleRunner, role_mixer
from tarsim.components.routing import Controls
from tarsim.components.sampling import sampler
from tarsim.components.stations import MeteredStation, Station
from tarsim.components.streams import Streams
from tarsim.components.workflow import Compiler, Engine
from tarsim.components.workload import LoadGenerator
from tarsim.config.distributions import is_zero
from tarsim.config.model import Actions, Model
from tarsim.config.workflow import is_plain
from tarsim.config.workload import OPEN_KINDS
from tarsim.vocabulary import Balancer, Outcome


def _capped(draw: Callable[[], int], cap: int) -> Callable[[], int]:
    """A token draw capped at *cap* (the same random numbers, fewer tokens)."""
    return lambda: min(cap, draw())


def needs_managed_pool(model: Model) -> bool:
    """Whether the model uses any part of the agent lifecycle beyond the plain pool."""
    agents = model.agents
    return (agents.idle_timeout is not None or agents.autoscale is not None
            or model.memory is not None or model.degradation is not None
            or model.router.queue.shed is not None
            or (model.deployment is not None and model.deployment.autoscale is not None))


class System:
    """The simulated system of one replication: builds the workload, router, agent
    pool, providers, role runners and, when the model has them, the memory tracker,
    degradation controller and autoscaler, and runs each request through them
    (:meth:`handle`, then :meth:`finish`, which records it). :meth:`flush` records
    the requests still in flight when the run stops."""

    def __init__(self, env: simpy.Environment, model: Model, streams: Streams,
                 recorder: Recorder, horizon: float, warmup: float = 0.0) -> None:
        self.env = env
        self.model = model
        self.recorder = recorder
        self.horizon = horizon
        self.warmup = warmup
        base_dir = model.base_dir
        self.timeout = model.workload.timeout if model.workload.timeout is not None else math.inf
        self.closed_loop = model.workload.arrivals.kind not in OPEN_KINDS
        self.router_work = (
            None if is_zero(model.router.work)
            else sampler(model.router.work, streams("router.work"), base_dir)
        )
        self.controls = Controls()
        """Runtime switches (model downgrade, cache-only answers) for controllers."""
        self.managed = needs_managed_pool(model)
        self.memory: MemoryTracker | None = None
        self.degradation: DegradationController | None = None
        self.streams = streams
        self.balancer_rng: Any = None
        deployment = model.deployment
        scaled = deployment is not None and deployment.autoscale is not None
        self.built: list[Host] = []
        """Every host built, those an autoscaler added later included."""
        self.hosts = self._build_hosts(streams, base_dir)
        self.pool: AgentPool = self.hosts[0].pool
        """The first host's pool (the only one without a deployment section)."""
        self.memory = self.hosts[0].memory
        self.only_host = self.hosts[0] if len(self.hosts) == 1 and not scaled else None
        """The host when there is one: no balancer call on the request path."""
        if not scaled:  # (autoscaled: the host scaler sets the balancer, see _serve)
            self.pick = balancer(
                Balancer.ROUND_ROBIN if deployment is None else deployment.balancer,
                self.hosts, streams("deployment.balancer") if len(self.hosts) > 1 else None)
        deployed = deployment is not None and (
            deployment.connections is not None or deployment.congestion is not None
            or any(r.network for r in deployment.regions or ()))
        providers = {
            name: ProviderEndpoint(env, name, spec, streams, base_dir, model.retry, recorder,
                                   deployed)
            for name, spec in model.providers.items()
        }
        providers[NO_PROVIDER] = ProviderEndpoint(env, NO_PROVIDER, None, streams, base_dir,
                                                  model.retry, recorder, deployed)
        self.providers = providers
        caches = model.cache
        context_spec = None if caches is None else caches.context
        prompt_cache = (context_spec if context_spec is not None and context_spec.mode == "prompt"
                        else None)
        llms = {
            name: LLMClient(env, name, spec, providers[spec.provider or NO_PROVIDER],
                            streams, base_dir, recorder, prompt_cache)
            for name, spec in model.llms.items()
        }
        tool_caches = {} if caches is None else caches.tools
        # cache entries take memory: an LRU cache reports how many it holds
        on_cache_change = None if self.memory is None else self.memory.cache_entries
        tools = {
            name: ToolClient(env, name, spec, providers[spec.provider or NO_PROVIDER],
                             streams, base_dir, recorder, tool_caches.get(name),
                             on_cache_change)
            for name, spec in model.tools.items()
        }
        self.billed: list[LLMClient | ToolClient] = [*llms.values(), *tools.values()]
        for client in self.billed:
            client.measure_from = warmup
        for provider in providers.values():
            provider.measure_from = warmup
            if provider.pool is not None:
                provider.pool.start, provider.pool.end = warmup, horizon
        self.limit_owners = (*providers.values(), *self.billed)
        context = (None if context_spec is None
                   else ContextCache(context_spec, streams, base_dir, on_cache_change))
        routing_mix = None if model.routing is None else model.routing.mix
        runners = {
            name: RoleRunner(
                env, name, spec, llms[spec.llm] if spec.llm else None,
                [(tools[t], n) for t, n in spec.tools.items()], streams, base_dir,
                mixer=role_mixer(name, spec, routing_mix, llms, streams),
                clients=llms, context=context, controls=self.controls,
            )
            for name, spec in model.roles.items()
        }
        self.class_steps = self._class_steps(model, runners, streams, recorder)
        self.llms = llms
        self.runners = runners
        self._normal_tokens = {name: r.output_tokens for name, r in runners.items()}
        if model.degradation is not None:
            memory = self.memory
            self.degradation = DegradationController(
                env, model.degradation, queue=lambda: self.pool.waiting,
                memory=memory.share if memory is not None and model.memory
                and model.memory.limit is not None else None,
                apply=self.degrade, recorder=recorder)
        self.class_priority = [c.priority for c in model.workload.classes]

        self.next_id = 0
        self.in_flight: dict[int, Request] = {}
        self.arrivals_open = True
        self.done = env.event()
        """Fires when arrivals have stopped and every request has answered."""
        self.workload = LoadGenerator(env, model.workload, self.submit, streams, horizon, base_dir)

    def _build_hosts(self, streams: Streams, base_dir: Any) -> list[Host]:
        """One host per replica of the deployment (one without a deployment section),
        each with its own pool, memory tracker, autoscaler and stations; with
        ``deployment.autoscale``, the hosts up at t = 0, and the host scaler that
        adds and removes them."""
        deployment = self.model.deployment
        regions: list[tuple[str, dict[str, Any]]] = (
            [("", {})] if deployment is None
            else [("", {})] * deployment.host_count if deployment.regions is None
            else [(r.name, r.network) for r in deployment.regions for _ in range(r.hosts)])
        levels = [0.0] * len(regions)
        if deployment is None or deployment.autoscale is None:
            return [self._build_host(Host, i, region, networks, levels, streams, base_dir)
                    for i, (region, networks) in enumerate(regions)]
        spec = deployment.autoscale
        scaler = HostScaler(
            self.env, spec, initial=deployment.host_count,
            build=lambda i: cast(ScaledHost, self._build_host(
                ScaledHost, i, "", {}, levels, streams, base_dir)),
            serve=self._serve, recorder=self.recorder,
            start_time=sampler(spec.start, streams("deployment.autoscale.start"), base_dir))
        return list(scaler.serving)

    def _serve(self, hosts: list[Host]) -> None:
        """The balancer sends new requests to *hosts* from now on (an autoscaled
        deployment's hosts taking traffic; picks in turn start again at the first)."""
        deployment = self.model.deployment
        assert deployment is not None
        if self.balancer_rng is None:
            self.balancer_rng = self.streams("deployment.balancer")
        self.pick = balancer(deployment.balancer, hosts, self.balancer_rng)

    def _build_host(self, kind: type[Host], i: int, region: str, networks: dict[str, Any],
                    levels: list[float], streams: Streams, base_dir: Any) -> Host:
        """Host *i*: its agent pool (with its memory tracker and agent autoscaler when
        the model has them), CPU and call stations, connection pool and network."""
        env, model, recorder = self.env, self.model, self.recorder
        agents = model.agents
        deployment = model.deployment
        # host 0 keeps the streams a model without hosts uses: same seed, same run
        prefix = "" if i == 0 else f"host{i}."
        pool_args: dict[str, Any] = dict(
            count=agents.count, concurrency=agents.concurrency, warm=agents.warm_agents,
            spawn_latency=sampler(agents.spawn, streams(f"{prefix}agents.spawn"), base_dir),
            queue_capacity=model.router.queue.capacity,
            priority=model.router.queue.discipline == "priority",
            recorder=recorder, max_spawning=agents.max_spawning,
            first_id=i * AGENT_ID_STRIDE,
        )
        memory = None
        autoscaler = None
        pool: AgentPool
        if self.managed:
            shed = model.router.queue.shed
            managed = ManagedAgentPool(
                env, idle_timeout=agents.idle_timeout,
                autoscaled=agents.autoscale is not None,
                shed_depth=shed.depth if shed else None,
                shed_wait=shed.wait if shed else None,
                shed_policy=shed.policy if shed else "reject", **pool_args)
            pool = managed
            if model.memory is not None:
                levels.extend([0.0] * (i + 1 - len(levels)))  # hosts added as the run goes
                sink: Any = (recorder if deployment is None
                             else HostMemory(recorder, levels, i))
                memory = MemoryTracker(env, model.memory, managed, sink)
            if agents.autoscale is not None:
                autoscaler = Autoscaler(env, agents.autoscale, managed, agents.count, recorder)
        else:
            pool = AgentPool(env, **pool_args)
        network = {
            name: sampler(dist, streams(f"{prefix}region.{region}.network.{name}"), base_dir)
            for name, dist in networks.items()}
        metered = deployment is not None and deployment.autoscale is not None
        host = kind(
            i, region, pool,
            cpu=(None if deployment is None or deployment.cpu is None
                 else (MeteredStation if metered and deployment.cpu.cores else Station)(
                     env, deployment.cpu, f"host{i}.cpu")),
            calls=(None if deployment is None or deployment.congestion is None
                   else Station(env, deployment.congestion, f"host{i}.calls")),
            connections=(None if deployment is None or deployment.connections is None
                         else MeteredPool(env, deployment.connections,
                                          max(self.warmup, env.now), self.horizon)),
            network=network)
        host.memory = memory
        if isinstance(host, ScaledHost):
            host.autoscaler = autoscaler
        self.built.append(host)
        return host

    def _class_steps(self, model: Model, runners: dict[str, RoleRunner], streams: Streams,
                     recorder: Recorder) -> list[list[Any]]:
        """What each class runs in its slot: its roles in order, or (for a class
        with any workflow form) one compiled workflow."""
        classes = model.workload.classes
        if all(is_plain(c.steps) for c in classes):
            return [[runners[cast(str, s)] for s in c.steps] for c in classes]
        spawn = sampler(model.agents.spawn, streams("workflow.spawn"), model.base_dir)
        engine = Engine(self.env, self.pool, recorder, spawn, self.memory)
        compiler = Compiler(engine, runners, streams, model.base_dir)
        return [[runners[cast(str, s)] for s in c.steps] if is_plain(c.steps)
                else [compiler.workflow(c.name, c.steps)] for c in classes]

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
        host = req.host = self.only_host or self.pick()
        host.active += 1
        cpu = host.cpu
        if self.router_work is not None:
            work = self.router_work()
            if work > 0:
                yield env.timeout(work) if cpu is None else cpu.serve(work).done
        req.admitted = env.now
        if env.now >= req.deadline:  # the client gave up while the router worked
            req.dequeued = env.now
            req.fail(Outcome.TIMEOUT)
            self.finish(req)
            return
        pool = host.pool
        got = pool.acquire(req.priority)
        if got is NO_ROOM or got is TURNED_AWAY:
            req.dequeued = env.now
            req.fail(Outcome.QUEUE_FULL if got is NO_ROOM else Outcome.SHED)
            self.finish(req)
            return
        if isinstance(got, Waiter):
            req.entry = got
            if not self.closed_loop and req.deadline < math.inf:
                self._watch(req, req.deadline - env.now)
            agent = yield got.event
            req.entry = None
            req.dequeued = env.now
            if agent is None or agent is TURNED_AWAY:
                req.fail(Outcome.TIMEOUT if agent is None else Outcome.SHED)
                self.finish(req)
                return
        else:
            agent = got
            req.dequeued = env.now
        req.agent = agent
        if self.managed:
            yield from self._serve_managed(req, agent)
            return
        for step in self.class_steps[req.cls]:
            if step.work_only:
                work = step.work()
                if work > 0:
                    yield env.timeout(work) if cpu is None else cpu.serve(work).done
                continue
            ok = yield from step.run(req)
            if not ok:
                break
        pool.release(agent)
        req.released = env.now
        self.finish(req)

    def _serve_managed(self, req: Request,
                       agent: ManagedAgent) -> Generator[simpy.Event, Any, None]:
        """Run *req*'s steps in *agent* with its memory followed and the agent able
        to crash under it (the request then fails with the crash's cause)."""
        env = self.env
        host = req.host
        pool = host.pool
        assert isinstance(pool, ManagedAgentPool)
        memory = host.memory
        survived = pool.attach(agent, req, env.active_process)  # type: ignore[arg-type]
        if survived and memory is not None:
            survived = memory.admit(req, agent)
        try:
            if survived:
                for step in self.class_steps[req.cls]:
                    ok = yield from step.run(req)
                    if memory is not None and not memory.grow(req, agent):
                        survived = False
                        break
                    if not ok:
                        break
        except simpy.Interrupt as crash:  # the agent crashed
            req.fail(Outcome(str(crash.cause)))
            req.released = env.now
            self.finish(req)
            return
        if not survived:
            req.fail(Outcome.OOM)
        else:
            pool.detach(agent, req)
            if memory is not None:
                memory.release(req, agent)
            pool.release(agent)
        req.released = env.now
        self.finish(req)

    def degrade(self, actions: Actions | None) -> None:
        """Apply a mode's actions (None: back to normal); whatever a mode does not
        list is normal in it."""
        actions = actions or Actions()
        cap = actions.max_output_tokens
        for name, runner in self.runners.items():
            output_tokens = self._normal_tokens[name]
            runner.output_tokens = output_tokens if cap is None else _capped(output_tokens, cap)
        # model downgrade and cache-only answers act where every call is routed
        # (RoleRunner.run), so they apply to fixed llms and to mixes alike
        self.controls.downgrade = dict(actions.downgrade)
        self.controls.cache_only = actions.cache_only
        pool = self.pool
        assert isinstance(pool, ManagedAgentPool)
        pool.shed_above = actions.shed_priority_above
        if actions.shed_priority_above is not None:
            pool.shed_waiting(actions.shed_priority_above)
        pool.set_concurrency(actions.concurrency or self.model.agents.concurrency)

    def finish(self, req: Request) -> None:
        req.host.active -= 1
        if self.degradation is not None:
            self.degradation.observe(req)
        now = self.env.now
        if now > req.deadline:  # the client stopped waiting first
            req.outcome = Outcome.TIMEOUT
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
            req.host.pool.leave(req.entry)
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
                req.outcome = Outcome.TIMEOUT
                req.end = req.deadline
            else:
                req.outcome = Outcome.UNFINISHED if req.outcome == Outcome.OK else req.outcome
            self.recorder.request(req)
        self.in_flight.clear()
        for client in self.billed:
            self.recorder.cost(client.name, client.billed_usd)
            kind = "llm" if isinstance(client, LLMClient) else "tool"
            self.recorder.demand(f"{kind}:{client.name}", client.provider.name, *client.demand)
        for limiter in self._limiters():
            for index in limiter.kinds():
                self.recorder.limit(limiter.label, KINDS[index], limiter.refused[index],
                                    limiter.failed[index])

    def pool_utilization(self) -> dict[str, float]:
        """Each connection pool's time-average connections in use over its size, in
        the measured window: ``provider_NAME_connections`` per provider, and
        ``host_connections`` for the hosts' pools together (a host an autoscaler added
        counts from when it was built; one it removed, to the window's end)."""
        found = {f"provider_{name}_connections": provider.pool.utilization()
                 for name, provider in self.providers.items() if provider.pool is not None}
        pools = [host.connections for host in self.built
                 if isinstance(host.connections, MeteredPool)]
        for pool in pools:
            pool.utilization()  # brings busy_seconds up to now
        offered = sum(p.capacity * max(0.0, p.end - p.start) for p in pools)
        if offered > 0:
            found["host_connections"] = sum(p.busy_seconds for p in pools) / offered
        return found

    def _limiters(self) -> list[RateLimiter]:
        """Every rate limiter of the run: organisation-wide ones, and those a limit
        declared per host or region made for each host or region that called."""
        found = [limiter for owner in self.limit_owners for limiter in owner.limits]
        for owner in self.limit_owners:
            if owner.scoped is not None:
                found += owner.scoped.limiters.values()
        return found
