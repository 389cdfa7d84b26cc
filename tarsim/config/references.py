"""Rules that span sections of a model: a class step naming a role, a role naming an
llm, an llm naming a provider, degradation naming llms. They work on the raw data so
that broken references are reported together with validation's problems."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

from tarsim.config.errors import Problem
from tarsim.config.workflow import check_steps
from tarsim.vocabulary import MODES


def did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _names(data: dict[str, Any], section: str) -> list[str]:
    value = data.get(section)
    return [str(k) for k in value] if isinstance(value, dict) else []


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def cross_check(data: Any) -> list[Problem]:
    """Every reference from one section to another that names nothing.

    Works on the raw data, so that broken references are reported together with
    the problems validation finds, not in a second round.
    """
    if not isinstance(data, dict):
        return []
    found: list[Problem] = []

    def ref(path: str, name: Any, section: str) -> None:
        if not isinstance(name, str):
            return
        known = _names(data, section)
        if name in known:
            return
        listing = ", ".join(repr(k) for k in known) if known else "none defined"
        found.append(Problem(path, f"must name one of {section} ({listing})", name,
                             hint=did_you_mean(name, known)))

    classes = _mapping(data.get("workload")).get("classes")
    for i, cls in enumerate(classes if isinstance(classes, list) else []):
        found += check_steps(f"workload.classes[{i}].steps", _mapping(cls).get("steps"),
                             _names(data, "roles"), did_you_mean)
    for name, role in _mapping(data.get("roles")).items():
        role = _mapping(role)
        ref(f"roles.{name}.llm", role.get("llm"), "llms")
        for tool in _mapping(role.get("tools")):
            ref(f"roles.{name}.tools.{tool}", tool, "tools")
    for name, llm in _mapping(data.get("llms")).items():
        ref(f"llms.{name}.provider", _mapping(llm).get("provider"), "providers")
    for name, tool_spec in _mapping(data.get("tools")).items():
        ref(f"tools.{name}.provider", _mapping(tool_spec).get("provider"), "providers")
    for model in _mapping(_mapping(data.get("routing")).get("mix")):
        ref(f"routing.mix.{model}", model, "llms")
    for name, role in _mapping(data.get("roles")).items():
        for model in _mapping(_mapping(role).get("mix")):
            ref(f"roles.{name}.mix.{model}", model, "llms")
    for tool in _mapping(_mapping(data.get("cache")).get("tools")):
        ref(f"cache.tools.{tool}", tool, "tools")
    found += _check_degradation(data, ref)
    regions = _mapping(data.get("deployment")).get("regions")
    for i, region in enumerate(regions if isinstance(regions, list) else []):
        for provider in _mapping(_mapping(region).get("network")):
            ref(f"deployment.regions[{i}].network.{provider}", provider, "providers")
    return found


def _check_degradation(data: dict[str, Any], ref: Callable[[str, Any, str], None]) -> list[Problem]:
    """Degradation rules that look at other sections: llm names in downgrades, a
    memory condition needs a memory limit, a lowered concurrency must be lower."""
    found: list[Problem] = []
    memory = _mapping(data.get("memory"))
    concurrency = _mapping(data.get("agents")).get("concurrency", 1)
    for mode in MODES[1:]:  # the degraded ones
        spec = _mapping(_mapping(data.get("degradation")).get(mode))
        path = f"degradation.{mode}"
        for part in ("enter", "exit"):
            given = _mapping(spec.get(part)).get("memory")
            if given is not None and memory.get("limit") is None:
                found.append(Problem(f"{path}.{part}.memory",
                                     "needs memory.limit (a share of the limit)", given))
        actions = _mapping(spec.get("actions"))
        for src, dst in _mapping(actions.get("downgrade")).items():
            ref(f"{path}.actions.downgrade.{src}", src, "llms")
            ref(f"{path}.actions.downgrade.{src}", dst, "llms")
        lowered = actions.get("concurrency")
        if (isinstance(lowered, int) and isinstance(concurrency, int)
                and lowered > concurrency):
            found.append(Problem(f"{path}.actions.concurrency",
                                 f"must be <= agents.concurrency ({concurrency})", lowered))
    return found
