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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tarsim.calibrate.rows import (  # noqa: F401  (re-exported: the baseline's public names)
    COLUMNS,
    LOAD_KINDS,
    OPTIONAL,
    REQUIRED,
    UNITS,
    Baseline,
    BaselineRow,
)
from tarsim.config.errors import ConfigError, Problem
from tarsim.config.units import parse_duration, parse_rate, parse_size


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
        if "load" in values and not values["load"] > 0:
            problems.append(Problem(f"rows[{len(rows)}].load", "must be > 0", row["load"],
                                    line=line))
        rows.append(values)
    if not rows and not problems:
        problems.append(Problem("", "has no data rows", has_value=False))
    if problems:
        raise ConfigError(problems, source)
    built = tuple(BaselineRow(**values) for values in rows)
    return Baseline(rows=built, source=source, notes=tuple(notes))


def read_baseline(path: str | Path, **import_options: Any) -> Baseline:
    """A baseline from a file: the plain CSV, or a load tool's output recognised by
    its content (Locust ``*_stats.csv`` / ``*_stats_history.csv``, k6 summary JSON),
    imported with *import_options* (``agents``, ``load``, ``load_kind``)."""
    from tarsim.calibrate.importers import detect, import_file

    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(str(path), "no such file", has_value=False)]) from None
    except IsADirectoryError:
        raise ConfigError([Problem(str(path), "is a directory, not a file",
                                   has_value=False)]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(str(path), f"cannot be read ({exc})",
                                   has_value=False)]) from None
    kind = detect(text)
    if kind == "plain":
        if import_options:
            raise ConfigError([Problem(str(path), "is a plain baseline CSV: import options "
                                       f"({', '.join(import_options)}) apply only to Locust "
                                       "and k6 output", has_value=False)])
        return parse_baseline(text, str(path))
    return import_file(text, kind, str(path), **import_options)


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
                         _cell(r.p99, "s"), error, _cell(r.memory_mb, "")])
    return out.getvalue()
