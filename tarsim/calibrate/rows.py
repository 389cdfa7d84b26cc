"""The baseline's rows and table: what one measured load level holds, the columns
and their units. Kept apart from :mod:`tarsim.calibrate.baseline` (reading and
writing the CSV) so that the importers of other tools' files build rows without
importing the reader, which dispatches to them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import pandas as pd

LOAD_KINDS = ("concurrency", "rate")
REQUIRED = ("load", "load_kind", "throughput", "p99")
OPTIONAL = ("agents", "error_rate", "memory_mb")
COLUMNS = ("load", "load_kind", "agents", "throughput", "p99", "error_rate", "memory_mb")
UNITS = {
    "load": "virtual users (concurrency) or requests/s (rate)",
    "agents": "agent processes",
    "throughput": "successful requests/s",
    "p99": "seconds",
    "error_rate": "fraction of requests",
    "memory_mb": "MB (10^6 bytes)",
}


@dataclass(frozen=True)
class BaselineRow:
    """One measured load level; rates per second, times in seconds, memory in MB."""

    load: float
    load_kind: str
    throughput: float
    p99: float
    agents: int | None = None
    error_rate: float | None = None
    memory_mb: float | None = None

    def metrics(self) -> dict[str, float]:
        """The measured metrics this row has (the ones a fit can compare)."""
        found = {"throughput": self.throughput, "p99": self.p99}
        if self.error_rate is not None:
            found["error_rate"] = self.error_rate
        if self.memory_mb is not None:
            found["memory_mb"] = self.memory_mb
        return found


@dataclass(frozen=True)
class Baseline:
    """Measured rows in load order, with their provenance."""

    rows: tuple[BaselineRow, ...]
    source: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([r.__dict__ for r in self.rows], columns=list(COLUMNS))

    def without(self, indices: Sequence[int]) -> Baseline:
        """The baseline less the rows at 0-based *indices*."""
        drop = set(indices)
        return replace(self, rows=tuple(r for i, r in enumerate(self.rows) if i not in drop))
