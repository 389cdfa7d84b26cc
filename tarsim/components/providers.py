"""Hosted APIs and tools as the requests see them: the call path of one LLM or tool call.

An LLM call lasts network latency + time to first token + output tokens /
output rate; a tool call lasts network latency + the tool's work. A call fails
with ``api_error`` with the provider's error probability (the error arrives
after the network round trip and the time to first token, when no output has
streamed), or with ``timeout`` when it would outlast the provider's timeout.
Failed calls are not billed.

Every call goes through :meth:`Provider.call`, a SimPy generator the role
``yield from``s: rate limits, connection pools, retries and circuit breakers
belong there, in front of and around the timed part.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Generator
from typing import Any

import simpy

from tarsim.components.requests import API_ERROR, TIMEOUT, Request
from tarsim.components.streams import Streams
from tarsim.config.distributions import Draw, batched, is_zero, sampler
from tarsim.config.model import LLM, Provider as ProviderSpec, Role, Tool as ToolSpec

CallGen = Generator[simpy.Event, Any, bool]


def _zero() -> float:
    return 0.0


class Provider:
    """One hosted API (Anthropic, OpenAI, a search API) and its failure modes."""

    def __init__(self, env: simpy.Environment, name: str, spec: ProviderSpec | None,
                 streams: Streams, base_dir: Any) -> None:
        self.env = env
        self.name = name
        spec = spec or ProviderSpec()
        self.network: Draw = (
            _zero if is_zero(spec.network)
            else sampler(spec.network, streams(f"provider.{name}.network"), base_dir)
        )
        self.error_rate = spec.errors.rate
        self.uniform: Draw = (
            batched(streams(f"provider.{name}.errors").random) if self.error_rate > 0 else _zero
        )
        self.timeout = math.inf if spec.timeout is None else spec.timeout

    def call(self, req: Request, to_first_byte: float, streaming: float) -> CallGen:
        """Wait out one call; return True on success, else mark *req* failed."""
        env = self.env
        first = self.network() + to_first_byte
        if self.error_rate > 0 and self.uniform() < self.error_rate:
            if first >= self.timeout:
                yield env.timeout(self.timeout)
                req.fail(TIMEOUT)
            else:
                yield env.timeout(first)
                req.fail(API_ERROR)
            return False
        total = first + streaming
        if total > self.timeout:
            yield env.timeout(self.timeout)
            req.fail(TIMEOUT)
            return False
        yield env.timeout(total)
        return True


NO_PROVIDER = "(none)"


class LLMClient:
    """Calls to one model: its latency, its prices, and its provider's call path."""

    def __init__(self, env: simpy.Environment, name: str, spec: LLM, provider: Provider,
                 streams: Streams, base_dir: Any) -> None:
        self.name = name
        self.provider = provider
        self.first_token: Draw = (
            _zero if is_zero(spec.first_token)
            else sampler(spec.first_token, streams(f"llm.{name}.first_token"), base_dir)
        )
        self.seconds_per_token = 0.0 if spec.output_rate is None else 1.0 / spec.output_rate
        self.input_usd = spec.price.input_per_mtok / 1e6
        self.output_usd = spec.price.output_per_mtok / 1e6

    def call(self, req: Request, input_tokens: int, output_tokens: int) -> CallGen:
        req.api_calls += 1
        ok = yield from self.provider.call(
            req, self.first_token(), output_tokens * self.seconds_per_token
        )
        if ok:
            req.input_tokens += input_tokens
            req.output_tokens += output_tokens
            req.cost_usd += input_tokens * self.input_usd + output_tokens * self.output_usd
        return ok


class ToolClient:
    """Calls to one tool (web search, browser) through its provider."""

    def __init__(self, env: simpy.Environment, name: str, spec: ToolSpec, provider: Provider,
                 streams: Streams, base_dir: Any) -> None:
        self.name = name
        self.provider = provider
        self.work: Draw = (
            _zero if is_zero(spec.work)
            else sampler(spec.work, streams(f"tool.{name}.work"), base_dir)
        )

    def call(self, req: Request) -> CallGen:
        req.tool_calls += 1
        ok = yield from self.provider.call(req, self.work(), 0.0)
        return ok


class RoleRunner:
    """One step of a request in its agent slot: work, then LLM calls, then tool calls."""

    def __init__(self, env: simpy.Environment, name: str, spec: Role,
                 llm: LLMClient | None, tools: list[tuple[ToolClient, int]],
                 streams: Streams, base_dir: Any) -> None:
        self.env = env
        self.name = name
        self.work: Draw = (
            _zero if is_zero(spec.work)
            else sampler(spec.work, streams(f"role.{name}.work"), base_dir)
        )
        self.llm = llm
        self.calls = spec.llm_calls
        self.input_tokens = _token_draw(spec.input_tokens, streams, f"role.{name}.input_tokens",
                                        base_dir)
        self.output_tokens = _token_draw(spec.output_tokens, streams,
                                         f"role.{name}.output_tokens", base_dir)
        self.tools = [(tool, count) for tool, count in tools if count > 0]

    def run(self, req: Request) -> CallGen:
        """Carry out the step; False if a call failed (the request has its cause)."""
        work = self.work()
        if work > 0:
            yield self.env.timeout(work)
        llm = self.llm
        if llm is not None:
            for _ in range(self.calls):
                ok = yield from llm.call(req, self.input_tokens(), self.output_tokens())
                if not ok:
                    return False
        for tool, count in self.tools:
            for _ in range(count):
                ok = yield from tool.call(req)
                if not ok:
                    return False
        return True


def _token_draw(spec: Any, streams: Streams, name: str, base_dir: Any) -> Callable[[], int]:
    if is_zero(spec):
        return itertools.repeat(0).__next__
    draw = sampler(spec, streams(name), base_dir)
    return lambda: round(draw())
