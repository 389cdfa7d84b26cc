"""A role's step as a request runs it in its agent slot: work, then LLM calls
(each through the context cache, the model mix and any downgrade), then tool
calls. The call path of each call is :mod:`tarsim.components.providers`."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import simpy

from tarsim.components.providers import CallGen, ContextCache, LLMClient, ToolClient
from tarsim.components.requests import Request
from tarsim.components.routing import Controls, Mixer
from tarsim.components.sampling import Draw, draw_of, sampler
from tarsim.components.streams import Streams
from tarsim.config.distributions import is_zero
from tarsim.config.model import Role
from tarsim.vocabulary import Outcome

PHASE_LLM, PHASE_TOOLS, PHASE_WORK = 3, 4, 5
"""Where a workflow step's time goes in ``req.flow`` (see ``workflow.PHASES``)."""


class RoleRunner:
    """One step of a request in its agent slot: work, then LLM calls, then tool calls."""

    def __init__(self, env: simpy.Environment, name: str, spec: Role,
                 llm: LLMClient | None, tools: list[tuple[ToolClient, int]],
                 streams: Streams, base_dir: Any, *,
                 mixer: Callable[[], LLMClient] | None = None,
                 clients: dict[str, LLMClient] | None = None,
                 context: ContextCache | None = None,
                 controls: Controls | None = None) -> None:
        self.env = env
        self.name = name
        self.work: Draw = draw_of(spec.work, streams, f"role.{name}.work", base_dir)
        self.llm = llm
        self.mixer = mixer
        self.clients = clients or ({} if llm is None else {llm.name: llm})
        self.context = context
        self.controls = controls if controls is not None else Controls()
        self.calls = spec.llm_calls if (llm is not None or mixer is not None) else 0
        self.max_tokens = spec.max_tokens
        self.input_tokens = _token_draw(spec.input_tokens, streams, f"role.{name}.input_tokens",
                                        base_dir)
        self.output_tokens = _token_draw(spec.output_tokens, streams,
                                         f"role.{name}.output_tokens", base_dir)
        self.tools = [(tool, count) for tool, count in tools if count > 0]
        self.work_only = self.calls == 0 and not self.tools
        """Nothing but work: the request lifecycle times it inline (no generator)."""

    def run(self, req: Request, frame: Any = None) -> CallGen:
        """Carry out the step; False if a call failed (the request has its cause).

        Inside a workflow *frame* is given: the step's time is added to the
        request's phases (``req.flow``) and, in a loop with a growing context,
        each call's input carries the earlier rounds (``frame.loop``)."""
        env = self.env
        work = self.work()
        flow = None if frame is None else req.flow
        loop = None if frame is None else frame.loop
        if work > 0:
            host = req.host
            cpu = None if host is None else host.cpu
            if cpu is None:
                yield env.timeout(work)
            else:  # processor-shared on the host's CPU: its time is the sojourn
                start = env.now
                yield cpu.serve(work).done
                work = env.now - start
            if flow is not None:
                flow[PHASE_WORK] += work
        if self.calls:
            controls = self.controls
            context = self.context
            for _ in range(self.calls):
                input_tokens = self.input_tokens()
                carried = 0
                if loop is not None:
                    carried = loop.carried()
                    input_tokens += carried
                output_tokens = self.output_tokens()
                if self.max_tokens is not None and output_tokens > self.max_tokens:
                    output_tokens = self.max_tokens  # the API stops at max_tokens
                prompt_hit = None
                if context is not None:
                    req.cache_lookups += 1
                    hit = context.lookup(env.now)
                    req.cache_hits += hit
                    if not context.respond:
                        prompt_hit = hit
                    elif hit:
                        latency = context.latency()
                        if latency > 0:
                            yield env.timeout(latency)
                        continue
                if controls.cache_only and prompt_hit is None:
                    req.fail(Outcome.SHED)  # degraded to cache-only answers, and this one missed
                    return False
                llm = self.llm if self.mixer is None else self.mixer()
                assert llm is not None  # calls > 0 needs an llm or a mix
                if controls.downgrade:
                    llm = self.clients.get(controls.downgrade.get(llm.name, llm.name), llm)
                if flow is None:
                    ok = yield from llm.call(req, input_tokens, output_tokens, self.max_tokens,
                                             prompt_hit)
                else:
                    start = env.now
                    ok = yield from llm.call(req, input_tokens, output_tokens, self.max_tokens,
                                             prompt_hit, carried)
                    flow[PHASE_LLM] += env.now - start
                    if loop is not None and ok:
                        loop.note(output_tokens, 0)
                if not ok:
                    return False
        for tool, count in self.tools:
            for _ in range(count):
                start = env.now
                ok = yield from tool.call(req)
                if flow is not None:
                    flow[PHASE_TOOLS] += env.now - start
                    if loop is not None and ok:
                        loop.note(0, 1)
                if not ok:
                    return False
        return True


def role_mixer(name: str, spec: Role, routing_mix: dict[str, float] | None,
               clients: dict[str, LLMClient], streams: Streams) -> Mixer[LLMClient] | None:
    """The draw of a model for each of a role's calls, when a mix applies to it."""
    if spec.mix is not None:
        return Mixer(spec.mix, clients, streams(f"role.{name}.mix"))
    if routing_mix is not None and spec.llm_calls > 0:
        return Mixer(routing_mix, clients, streams(f"routing.mix.{name}"))
    return None


def _token_draw(spec: Any, streams: Streams, name: str, base_dir: Any) -> Callable[[], int]:
    if is_zero(spec):
        return itertools.repeat(0).__next__
    draw = sampler(spec, streams(name), base_dir)
    return lambda: round(draw())
