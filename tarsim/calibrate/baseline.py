"""Baselines: measured load-test results as one table, read from and written to CSV.

A baseline row is one load level of a load test: the load (``concurrency``:
closed-loop virtual users, or ``rate``: an open-loop arrival rate), the agents
the system ran with, and what was measured: successful throughput, p99
latency, error rate and process memory. The CSV has one header line with the
columns below; values may carry their unit (``7.5/s``, ``2500ms``, ``3%``,
``5MB``) and bare numbers are in the column's unit (per second, seconds, a
fraction, MB). Lines starting with ``#`` before the header are the provenance
note: where the numbers come from. An empty error or memory cell means "not
measured", and the calibrator then leaves that metric of that row out.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from tarsim.config.errors import ConfigError, Problem
from tarsim.config.units import parse_duration, parse_rate, parse_size

LOAD_KINDS = ("concurrency", "rate")
REQUIRED = ("load", "load_kind", "throughput", "p99")
OPTIONAL = ("agents", "error_rate", "memory_mb", "p99_of")
COLUMNS = ("load", "load_kind", "agents", "throughput", "p99", "error_rate", "memory_mb",
           "p99_of")
P99_OF = ("successes", "all")
"""Which requests a row's p99 is of: the successful ones (tarsim's latency), or all
finished ones, failures included (what Locust reports)."""
UNITS = {
    "load": "virtual users (concurrency) or requests/s (rate)",
    "agents": "agent processes",
    "throughput": "successful requests/s",
    "p99": "seconds",
    "error_rate": "fraction of requests",
    "memory_mb": "MB (10^6 bytes)",
    "p99_of": "successes (default) or all: the requests the p99 is of",
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
    p99_of: str = "successes"
    """``successes``: the p99 of successful requests; ``all``: of every finished
    request, failures included (Locust's percentiles)."""

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


# ---------------------------------------------------------------- cells
def _fraction(text: str) -> float:
    percent = text.endswith("%")
    try:
        value = float(text[:-1] if percent else text)
    except ValueError:
        raise ValueError("must be a fraction such as 0.03 or a percentage such as '3%'")\
            from None
    value = value / 100.0 if percent else value
    if not 0.0 <= value <= 1.0:
        raise ValueError("must be between 0 and 1 (0% and 100%)")
    return value


def _megabytes(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return parse_size(text) / 1e6
    except ValueError:
        raise ValueError("must be a size in MB such as 5.2, or with a unit: '5MB', '512KiB'")\
            from None


def _load(kind: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        if kind == "rate":
            return parse_rate(text.strip())
        try:
            return float(text)
        except ValueError:
            raise ValueError("must be a number of virtual users for load_kind concurrency")\
                from None
    return parse


def _agents(text: str) -> int:
    value = float(text)
    if value != int(value) or value < 1:
        raise ValueError("must be a whole number >= 1")
    return int(value)


def _p99_of(text: str) -> str:
    value = text.strip().lower()
    if value not in P99_OF:
        raise ValueError("must be one of successes, all")
    return value


def _positive(parse: Callable[[str], float], allow_zero: bool = True) -> Callable[[str], float]:
    def checked(text: str) -> float:
        value = parse(text.strip())
        if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
            raise ValueError("must be a finite number >= 0" if allow_zero else "must be > 0")
        return value
    return checked


PARSERS: dict[str, Callable[[str], Any]] = {
    "throughput": _positive(lambda t: parse_rate(t)),
    "p99": _positive(lambda t: parse_duration(t), allow_zero=False),
    "error_rate": _fraction,
    "memory_mb": _positive(_megabytes),
    "agents": _agents,
    "p99_of": _p99_of,
}


# ---------------------------------------------------------------- reading
def parse_baseline(text: str, source: str = "") -> Baseline:
    """A baseline from the CSV text of the plain format; every bad cell is reported
    at once as a :class:`ConfigError` naming its row, column, line and value."""
    lines = text.splitlines()
    notes = []
    first = 0
    while first < len(lines) and (lines[first].startswith("#") or not lines[first].strip()):
        if lines[first].startswith("#"):
            notes.append(lines[first][1:].strip())
        first += 1
    body = "\n".join(lines[first:])
    reader = csv.reader(io.StringIO(body))
    header = [h.strip() for h in next(reader, [])]
    if not header:
        raise ConfigError([Problem("", "has no header line; expected columns "
                                   + ", ".join(COLUMNS), has_value=False)], source)
    problems = []
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        problems.append(Problem("columns", f"missing required column(s) {', '.join(missing)} "
                                f"(columns: {', '.join(COLUMNS)})", header, line=first + 1))
    unknown = [c for c in header if c not in COLUMNS]
    if unknown:
        problems.append(Problem("columns", f"unknown column(s) {', '.join(unknown)} "
                                f"(columns: {', '.join(COLUMNS)})", header, line=first + 1))
    if problems:
        raise ConfigError(problems, source)
    rows: list[dict[str, Any]] = []
    for number, cells in enumerate(reader):
        line = first + 2 + number
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            problems.append(Problem(f"rows[{len(rows)}]", f"must have {len(header)} cells",
                                    len(cells), line=line))
            continue
        row = dict(zip(header, (c.strip() for c in cells), strict=True))
        values: dict[str, Any] = {}
        kind = row["load_kind"].lower()
        if kind not in LOAD_KINDS:
            problems.append(Problem(f"rows[{len(rows)}].load_kind",
                                    "must be one of concurrency, rate", row["load_kind"],
                                    line=line))
        else:
            values["load_kind"] = kind
        for column, text in row.items():
            if column == "load_kind":
                continue
            parse = _load(kind) if column == "load" else PARSERS[column]
            if not text:
                if column in REQUIRED:
                    problems.append(Problem(f"rows[{len(rows)}].{column}", "is required",
                                            has_value=False, line=line))
                continue
            try:
                values[column] = parse(text)
            except ValueError as exc:
                problems.append(Problem(f"rows[{len(rows)}].{column}", str(exc), text, line=line))
        if "load" in values and not 0 < values["load"] < math.inf:
            problems.append(Problem(f"rows[{len(rows)}].load", "must be > 0 and finite",
                                    row["load"], line=line))
        rows.append(values)
    if not rows and not problems:
        problems.append(Problem("", "has no data rows", has_value=False))
    if problems:
        raise ConfigError(problems, source)
    built = tuple(BaselineRow(**values) for values in rows)
    return Baseline(rows=built, source=source, notes=tuple(notes))


# ---------------------------------------------------------------- writing
def _cell(value: Any, unit: str) -> str:
    if value is None:
        return ""
    return f"{value:g}{unit}"


def format_baseline(baseline: Baseline) -> str:
    """The plain CSV text of *baseline* (units written into the cells)."""
    out = io.StringIO()
    for note in baseline.notes:
        out.write(f"# {note}\n" if note else "#\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in baseline.rows:
        load = _cell(r.load, "/s" if r.load_kind == "rate" else "")
        error = "" if r.error_rate is None else f"{r.error_rate * 100:g}%"
        writer.writerow([load, r.load_kind, _cell(r.agents, ""), _cell(r.throughput, "/s"),
                         _cell(r.p99, "s"), error, _cell(r.memory_mb, ""), r.p99_of])
    return out.getvalue()
