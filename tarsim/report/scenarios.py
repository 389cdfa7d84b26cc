"""The scenario table: one row per scenario (name, type, purpose, key result), as
Markdown, like the seed's table of its 17 load tests."""

from __future__ import annotations

from collections.abc import Sequence

from tarsim.scenarios.runner import ScenarioResult

HEADER = ("Scenario", "Type", "Purpose", "Key result")


def _cell(text: str) -> str:
    # a pipe would end the cell; a newline would end the row
    return " ".join(text.split()).replace("|", "\\|")


def scenario_table(results: Sequence[ScenarioResult]) -> str:
    """The results as a Markdown table."""
    rows = [HEADER, tuple("---" for _ in HEADER)]
    rows += [(r.name, r.type, r.purpose, r.key) for r in results]
    return "\n".join("| " + " | ".join(_cell(c) for c in row) + " |" for row in rows)
