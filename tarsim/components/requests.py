"""A request as it travels through the system (its outcomes: :class:`tarsim.vocabulary.Outcome`)."""

from __future__ import annotations

import math
from typing import Any

from tarsim.vocabulary import Outcome

NAN = math.nan
OK = Outcome.OK
"""Bound once: every request starts with it (a module global reads faster than an
enum member)."""


class Request:
    """Mutable state of one request; its row is written to the recorder when it ends.

    Times are simulation seconds: *arrival*, *admitted* (the router is done and it
    asks for an agent slot), *dequeued* (it got a slot or left the queue),
    *released* (its slot was freed) and *end* (what the client saw: the response,
    the error, or the timeout).
    """

    __slots__ = (
        "admitted",
        "agent",
        "api_calls",
        "arrival",
        "cache_hits",
        "cache_lookups",
        "cls",
        "cost_usd",
        "deadline",
        "dequeued",
        "end",
        "entry",
        "failed_attempts",
        "flow",
        "host",
        "id",
        "input_tokens",
        "outcome",
        "output_tokens",
        "priority",
        "rate_limited",
        "released",
        "responded",
        "retries",
        "tool_calls",
    )

    def __init__(self, rid: int, cls: int, priority: int, arrival: float, deadline: float) -> None:
        self.id = rid
        self.cls = cls
        self.priority = priority
        self.arrival = arrival
        self.deadline = deadline
        self.admitted = NAN
        self.dequeued = NAN
        self.released = NAN
        self.end = NAN
        self.outcome = OK
        self.agent: Any = None
        self.entry: Any = None
        self.flow: Any = None
        """Seconds by phase (``workflow.PHASES``) when its class runs a workflow."""
        self.host: Any = None
        """The host the balancer sent it to (tarsim.components.hosts.Host)."""
        self.responded: Any = None
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost_usd = 0.0
        self.api_calls = 0
        self.tool_calls = 0
        self.retries = 0
        """Attempts beyond the first, over all of its calls."""
        self.failed_attempts = 0
        """Attempts of its calls that failed, whatever the status."""
        self.rate_limited = 0
        """429s its attempts got."""
        self.cache_hits = 0
        self.cache_lookups = 0

    def fail(self, outcome: Outcome) -> None:
        """Mark the request failed with *outcome*, keeping the first cause."""
        if self.outcome == Outcome.OK:
            self.outcome = outcome
