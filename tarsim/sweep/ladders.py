"""Each configuration's loads taken from the highest down, so that work is not spent
on a configuration that cannot be recommended.

A tier recommends a configuration only if it meets the SLOs at every one of the
tier's loads. So once a configuration is shown to fail at one load (its verdict
``fails``: a lower CI bound beyond an SLO), or screening shows it cannot meet them
there, none of its other loads can change the answer, and they are not simulated
(``skipped``, with the reason). Loads are taken from the highest, where a
configuration is most likely to fail; the lower ones run only while every higher
one meets the SLOs or is still uncertain. This is sound whatever the model: a
skipped point belongs to a configuration with a decided failure.

A point two ladders share (two tiers with the same configuration and load) runs
if either needs it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from tarsim.sweep.points import Point, load_label
from tarsim.sweep.stats import FAILS

Verdict = Callable[[str], "str | None"]
"""A point key -> its verdict once decided, else None."""


@dataclass(frozen=True)
class Ladder:
    """One configuration of one tier: its points' keys and loads, highest load first."""

    keys: tuple[str, ...]
    loads: tuple[str, ...]


def ladders(points: Iterable[Point]) -> list[Ladder]:
    """The (tier, configuration) ladders of *points*, each highest load first."""
    groups: dict[tuple[str, str], list[Point]] = {}
    for point in points:
        groups.setdefault((point.tier, point.config), []).append(point)
    found = []
    for members in groups.values():
        members.sort(key=lambda p: -p.load if math.isfinite(p.load) else math.inf)
        keys, loads = [], []
        for point in members:
            if point.key not in keys:
                keys.append(point.key)
                loads.append(load_label(point.load_kind, point.load))
        found.append(Ladder(tuple(keys), tuple(loads)))
    return found


def next_needed(ladder: Ladder, runnable: Mapping[str, object],
                decided: Verdict) -> str | None:
    """The ladder's highest point still to decide, or None when it needs nothing more:
    every point decided, or one shown unable to meet the SLOs (screened: not in
    *runnable*, or ``fails``)."""
    for key in ladder.keys:
        if key not in runnable:
            return None
        verdict = decided(key)
        if verdict is None:
            return key
        if verdict == FAILS:
            return None
    return None


def skip_reasons(all_ladders: Iterable[Ladder], runnable: Mapping[str, object],
            decided: Verdict) -> dict[str, str]:
    """Point key -> why it was not simulated, for the points below a ladder's first
    screened or failing load that no ladder ran."""
    reasons: dict[str, str] = {}
    for ladder in all_ladders:
        cause = ""
        for key, load in zip(ladder.keys, ladder.loads, strict=True):
            if cause:
                if key in runnable and decided(key) is None:
                    reasons.setdefault(key, cause)
                continue
            if key not in runnable:
                cause = f"not simulated: the configuration is screened at {load}"
            elif decided(key) == FAILS:
                cause = f"not simulated: the configuration fails the SLOs at {load}"
    return reasons
