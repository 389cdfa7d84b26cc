"""Dotted paths into raw model data (``workload.classes[0].weight``): how they are
written, read and applied as overrides (``--set``, an experiment's ``set:`` and grid
axes), refusing a path into a named entry that does not exist."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from tarsim.config.errors import ConfigError, Problem
from tarsim.config.references import did_you_mean

Key = str | int
PathKey = tuple[Key, ...]


def format_path(path: Iterable[Key]) -> str:
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
    return text


def split_path(path: str) -> PathKey:
    """``"workload.classes[0].weight"`` or ``"workload.classes.0.weight"`` -> keys."""
    keys: list[Key] = []
    for part in path.replace("]", "").replace("[", ".").split("."):
        if part == "":
            continue
        keys.append(int(part) if part.isdigit() else part)
    return tuple(keys)


def apply_overrides(data: Any, overrides: Mapping[str, Any]) -> Any:
    """A copy of *data* with each dotted path set to its value (whole subtrees too)."""
    result = copy.deepcopy(data) if data is not None else {}
    problems: list[Problem] = []
    for dotted, value in overrides.items():
        keys = split_path(dotted)
        if not keys:
            problems.append(Problem("--set", "needs a path", dotted))
            continue
        node = result
        for depth, key in enumerate(keys[:-1]):
            child = _child(node, key)
            if child is None:
                if depth == 1 and keys[0] in NAMED_SECTIONS and isinstance(node, dict):
                    problems.append(_no_such_name(keys, node))
                    break
                if isinstance(node, dict) and node.get(key) is None:
                    node[key] = {}
                    child = node[key]
                else:
                    problems.append(
                        Problem(format_path(keys[: depth + 1]), "cannot be set: no such place",
                                dotted, has_value=False)
                    )
                    break
            node = child
        else:
            last = keys[-1]
            settable_item = isinstance(node, list) and isinstance(last, int) and last < len(node)
            if isinstance(node, dict) or settable_item:
                node[last] = value
            else:
                problems.append(
                    Problem(format_path(keys), "cannot be set: no such place", has_value=False)
                )
    if problems:
        raise ConfigError(problems)
    return result


NAMED_SECTIONS = ("roles", "llms", "providers", "tools")
"""Sections of entries by name: a path into a name that is not there is a typo (it
would create an entry nothing refers to), not a way to add one."""


def _no_such_name(keys: PathKey, entries: dict[Any, Any]) -> Problem:
    known = [str(k) for k in entries]
    hint = did_you_mean(str(keys[1]), known) or (f" (known: {', '.join(known)})" if known else "")
    return Problem(format_path(keys[:2]), f"no such entry in {keys[0]}: setting "
                   f"{format_path(keys)} would create one that nothing refers to (give the "
                   "whole entry to add one)", has_value=False, hint=hint)


def _child(node: Any, key: Key) -> Any:
    if isinstance(node, dict):
        value = node.get(key)
        return value if isinstance(value, dict | list) else None
    if isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
        value = node[key]
        return value if isinstance(value, dict | list) else None
    return None
