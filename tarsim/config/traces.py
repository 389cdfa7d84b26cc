"""Arrival traces: recorded request timestamps (and classes) read from CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tarsim.config.limits import read_csv_rows


def load_trace(spec: Any, base_dir: Path) -> tuple[np.ndarray, list[str] | None]:
    """Arrival times in seconds from the trace's start, sorted, and their classes.

    Times are shifted so that the first arrival is at its offset from the
    smallest timestamp (absolute Unix timestamps work as well as relative ones).
    Raises ``ValueError`` naming the file and what is wrong with it.
    """
    rows = read_csv_rows(spec.file, base_dir, "trace")
    if not rows:
        raise ValueError(f"trace {spec.file!r} has no rows")
    columns = list(rows[0])
    for column in (spec.time_column, spec.class_column):
        if column is not None and column not in columns:
            raise ValueError(f"trace {spec.file!r} has no column {column!r} (columns: {columns})")
    try:
        times = np.array([float(row[spec.time_column]) for row in rows], dtype=float)
    except (TypeError, ValueError):
        raise ValueError(
            f"column {spec.time_column!r} of {spec.file!r} must hold numbers"
        ) from None
    if not np.isfinite(times).all():
        raise ValueError(f"column {spec.time_column!r} of {spec.file!r} must hold finite numbers")
    order = np.argsort(times, kind="stable")
    times = times[order] - times.min() if times.min() > 1e6 else times[order]
    if (times < 0).any():
        raise ValueError(f"column {spec.time_column!r} of {spec.file!r} must not be negative")
    classes = None
    if spec.class_column is not None:
        raw = [rows[i][spec.class_column] for i in order]
        classes = [str(c) for c in raw]
    return times, classes
