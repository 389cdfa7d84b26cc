"""The steps of a request class as a small workflow language.

A step is a role name (the role runs in the request's agent slot, as it always
did), or a mapping naming one of four forms:

* ``{steps: [...]}`` - a sequence, for use inside the other forms;
* ``{parallel: [...], join, agent, spawn}`` - the steps run at once, each in its
  own agent (a slot from the pool, a fresh sub-agent, or the caller's slot), and
  the request goes on when all finish, the first *k* finish, or the first
  succeeds;
* ``{repeat: [...], times | stop, max, context}`` - the steps run a number of
  rounds drawn per request (``times``), or until a coin with probability ``stop``
  comes up after a round (a geometric number of rounds); ``context`` makes later
  rounds' prompts carry the earlier rounds;
* ``{branch: [{p, steps}, ...]}`` - one alternative, drawn with its probability;
* ``{role: name, agent: spawn}`` - one role in its own agent.

Today's ``steps: [a, b]`` keeps its meaning. Rules that need the rest of the
model (every role named exists) and the nesting depth are checked by
:func:`check_steps` on the raw data, so they are reported with their YAML paths
together with every other problem.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, model_validator

from tarsim.config.base import Frozen, Probability
from tarsim.config.distributions import DurationDist, NumberDist
from tarsim.config.errors import Problem

MAX_DEPTH = 8
"""Forms nested deeper than this are refused: no workflow needs more, and a deeper
one is almost surely a mistake (a list pasted into itself)."""

AgentChoice = Literal["pool", "spawn", "same"]
"""Where a parallel step runs: a slot from the agent pool (waiting for one like a
request does), a fresh sub-agent spawned for it (its cold start and memory), or the
calling agent's own slot (concurrent calls from one agent)."""

STEP_FORMS = ("parallel", "repeat", "branch", "role", "steps")
"""The keys that name a step's form, in the order they are recognised."""


def _step_form(value: Any) -> str | None:
    """The form a raw step names; for a mapping with no form key, the form its keys
    look like a misspelling of (validation then says "unknown key; did you mean")."""
    if isinstance(value, str):
        return "name"
    if isinstance(value, dict):
        named = next((form for form in STEP_FORMS if form in value), None)
        if named is None:
            close = (difflib.get_close_matches(str(key), STEP_FORMS, n=1, cutoff=0.6)
                     for key in value)
            named = next((match[0] for match in close if match), None)
        return named
    for form, cls in _FORM_CLASSES.items():
        if isinstance(value, cls):
            return form
    return None


class Sequence(Frozen):
    """``{steps: [a, b]}``: the steps one after another (a branch of a parallel step)."""

    steps: Annotated[list[Step], Field(min_length=1)]


class RoleStep(Frozen):
    """``{role: name, agent: spawn}``: one role run in an agent of its own."""

    role: Annotated[str, Field(min_length=1)]
    agent: AgentChoice = "spawn"
    spawn: DurationDist | None = None
    """The sub-agent's cold start (``agent: spawn``); absent: ``agents.spawn``."""


class Parallel(Frozen):
    """Steps run at once, each in its own agent, joined by ``join``: ``all``,
    ``first_success`` (the first to succeed; the request fails only if all fail) or
    a number *k* (the first *k* to finish). Steps not waited for run on in their
    agents (and are billed), as an abandoned sub-agent does."""

    parallel: Annotated[list[Step], Field(min_length=1)]
    join: Literal["all", "first_success"] | Annotated[int, Field(ge=1)] = "all"
    agent: AgentChoice = "pool"
    spawn: DurationDist | None = None
    """A spawned sub-agent's cold start (``agent: spawn``); absent: ``agents.spawn``."""

    @model_validator(mode="after")
    def _k_fits(self) -> Parallel:
        if isinstance(self.join, int) and self.join > len(self.parallel):
            raise ValueError(f"join must be at most the number of parallel steps "
                             f"({len(self.parallel)}), got {self.join}")
        return self


class Context(Frozen):
    """A loop whose prompts grow: round *r* (from 0) adds to each LLM call's input
    ``grow`` x *r* tokens plus ``carry`` x (the output tokens of rounds before it,
    plus ``tool_tokens`` for each of their tool calls). With prompt caching
    (``cache.context.mode: prompt``) that carried part is the prompt's cached prefix:
    read from the cache, not counted toward input-token limits."""

    grow: Annotated[float, Field(ge=0)] = 0.0
    carry: Probability = 0.0
    tool_tokens: Annotated[float, Field(ge=0)] = 0.0

    @model_validator(mode="after")
    def _grows(self) -> Context:
        if self.grow == 0 and self.carry == 0:
            raise ValueError("give grow, carry or both, got both 0 (the context never grows)")
        return self


class Repeat(Frozen):
    """Steps run in rounds: ``times`` rounds (a count drawn per request, rounded), or
    until a stop with probability ``stop`` after each round (1/stop rounds on
    average), at most ``max``."""

    repeat: Annotated[list[Step], Field(min_length=1)]
    times: NumberDist | None = None
    stop: Probability | None = None
    max: Annotated[int, Field(ge=1)] | None = None
    context: Context | None = None

    @model_validator(mode="after")
    def _stops(self) -> Repeat:
        if self.times is None and self.stop is None:
            raise ValueError("a loop needs a stopping rule: times (rounds drawn per "
                             "request) or stop (the probability of stopping after a "
                             "round), got neither")
        if self.times is not None and self.stop is not None:
            raise ValueError("give times or stop, not both, got both")
        if self.stop == 0 and self.max is None:
            raise ValueError("stop 0 never stops: give stop > 0 or a max, got stop 0 "
                             "and no max")
        return self

    def mean_rounds(self) -> float:
        """Rounds per request on average (for demand estimates)."""
        if self.stop is not None:
            p, cap = self.stop, self.max
            if cap is None:
                return 1.0 / p
            return float(cap) if p == 0 else (1.0 - (1.0 - p) ** cap) / p
        assert self.times is not None
        mean = self.times.mean()
        return mean if self.max is None else min(mean, float(self.max))


class Alternative(Frozen):
    """One way a branch can go: its probability, its steps (none: go on) and a name
    for its counts and spans (absent: its position, ``b0``, ``b1``, ...)."""

    p: Probability
    steps: list[Step] = []
    name: Annotated[str, Field(min_length=1)] | None = None


class Branch(Frozen):
    """One alternative per request, drawn with the alternatives' probabilities."""

    branch: Annotated[list[Alternative], Field(min_length=2)]

    @model_validator(mode="after")
    def _sums_to_one(self) -> Branch:
        total = math.fsum(alt.p for alt in self.branch)
        if abs(total - 1.0) > 1e-9:
            shown = " + ".join(f"{alt.p:g}" for alt in self.branch)
            raise ValueError(f"probabilities must sum to 1, got {shown} = {total:.6g}")
        names = [alt.name for alt in self.branch if alt.name is not None]
        if len(set(names)) != len(names):
            raise ValueError(f"alternative names must be unique, got {names}")
        return self


_FORM_CLASSES: dict[str, type[Frozen]] = {
    "parallel": Parallel, "repeat": Repeat, "branch": Branch, "role": RoleStep,
    "steps": Sequence,
}

Step = Annotated[
    Annotated[str, Tag("name")]
    | Annotated[Parallel, Tag("parallel")]
    | Annotated[Repeat, Tag("repeat")]
    | Annotated[Branch, Tag("branch")]
    | Annotated[RoleStep, Tag("role")]
    | Annotated[Sequence, Tag("steps")],
    Discriminator(
        _step_form,
        custom_error_type="unknown_step",
        custom_error_message=("a step must be a role name or a mapping with one of "
                              "parallel, repeat, branch, role, steps"),
    ),
]

for _cls in (Sequence, Parallel, Repeat, Alternative, Branch):
    _cls.model_rebuild()


def is_plain(steps: list[Any]) -> bool:
    """True for today's form: role names only, run one after another in one slot."""
    return all(isinstance(step, str) for step in steps)


def children(step: Any) -> list[Any]:
    """The steps directly inside *step* (a validated step)."""
    if isinstance(step, Parallel):
        return list(step.parallel)
    if isinstance(step, Repeat):
        return list(step.repeat)
    if isinstance(step, Sequence):
        return list(step.steps)
    if isinstance(step, Branch):
        return [s for alt in step.branch for s in alt.steps]
    return []


def role_visits(steps: list[Any]) -> dict[str, float]:
    """The mean number of times each role runs per request (every parallel step
    runs, even those not waited for; branches weigh by their probabilities)."""
    visits: dict[str, float] = {}

    def walk(items: list[Any], weight: float) -> None:
        for step in items:
            if isinstance(step, str):
                visits[step] = visits.get(step, 0.0) + weight
            elif isinstance(step, RoleStep):
                visits[step.role] = visits.get(step.role, 0.0) + weight
            elif isinstance(step, Branch):
                for alt in step.branch:
                    walk(alt.steps, weight * alt.p)
            elif isinstance(step, Repeat):
                walk(step.repeat, weight * step.mean_rounds())
            else:
                walk(children(step), weight)

    walk(steps, 1.0)
    return visits


def _raw_children(step: Any) -> Iterator[tuple[str, Any]]:
    """(path suffix, child) for each step directly inside a raw (unvalidated) step."""
    if not isinstance(step, dict):
        return
    for key in ("parallel", "repeat", "steps"):
        items = step.get(key)
        if isinstance(items, list):
            for i, child in enumerate(items):
                yield f".{key}[{i}]", child
            return
    alts = step.get("branch")
    if isinstance(alts, list):
        for i, alt in enumerate(alts):
            items = alt.get("steps") if isinstance(alt, dict) else None
            for j, child in enumerate(items if isinstance(items, list) else []):
                yield f".branch[{i}].steps[{j}]", child


def check_steps(path: str, steps: Any, roles: list[str],
                did_you_mean: Any) -> list[Problem]:
    """Every role a (raw) steps list names that is not defined, and every form
    nested deeper than MAX_DEPTH, each with its path."""
    found: list[Problem] = []
    listing = ", ".join(repr(k) for k in roles) if roles else "none defined"

    def ref(where: str, name: Any) -> None:
        if isinstance(name, str) and name not in roles:
            found.append(Problem(where, f"must name one of roles ({listing})", name,
                                 hint=did_you_mean(name, roles)))

    def walk(where: str, step: Any, depth: int) -> None:
        if isinstance(step, str):
            ref(where, step)
            return
        if not isinstance(step, dict):
            return
        if "role" in step:
            ref(f"{where}.role", step["role"])
        if depth > MAX_DEPTH and any(form in step for form in STEP_FORMS if form != "role"):
            found.append(Problem(where, f"nests workflow forms more than {MAX_DEPTH} deep",
                                 has_value=False))
            return
        for suffix, child in _raw_children(step):
            walk(where + suffix, child, depth + 1)

    for j, step in enumerate(steps if isinstance(steps, list) else []):
        walk(f"{path}[{j}]", step, 1)
    return found
