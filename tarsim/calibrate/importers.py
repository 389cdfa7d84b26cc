"""Importers: real load-test output turned into baseline rows.

- A Locust run (``locust --csv PREFIX``) writes ``PREFIX_stats.csv`` (cumulative,
  one row per endpoint plus ``Aggregated``), ``PREFIX_stats_history.csv``
  (appended every second, with the ``User Count``) and ``PREFIX_failures.csv``
  (failures by error). Given any of them, the files of the same prefix beside it
  are read together (:class:`LocustRun`):

  - the load (users) is the history's ``User Count``: one row per plateau of
    constant count (its first sample, where the count changed, is skipped).
    Throughput and error rate come from the change of the cumulative totals over
    the plateau; p99 is the last sample's ``99%``. A run of one plateau with its
    ``_stats.csv`` takes the Aggregated row (the whole run) instead;
  - without a history, a ``_stats.csv`` needs the load given;
  - a given load that differs from the history's count is refused;
  - ``_failures.csv`` must account for the stats' failures (files of one run),
    and its errors are listed in the notes;
  - a raw per-request file of the same prefix (``PREFIX_requests.csv``, below)
    replaces Locust's quantile with the exact one of the successful requests.

  Locust's percentiles are of *all* requests, failures included, and rounded to
  2 significant digits: such a row's p99 says so (``p99_of: all``), and the fit
  compares it with the simulated p99 of all finished requests.
- The raw per-request CSV (``timestamp,latency,ok,name``; ``name`` optional): one
  line per request, ``timestamp`` its start in seconds (Unix or any origin),
  ``latency`` in seconds, ``ok`` 1 or 0. Its row's p99 is the exact quantile of
  the successful requests' latencies (``p99_of: successes``); a file on its own
  drops its first and last second (ramp-up, users stopped mid-request) and needs
  the load given.
- k6 end-of-test summary JSON (``handleSummary``, or the legacy ``--summary-export``):
  one row from ``http_reqs``, ``http_req_failed`` and ``http_req_duration`` (the
  ``{expected_response:true}`` sub-metric when present: successful requests only);
  the load defaults to the maximum of ``vus_max``. ``p(99)`` must be in
  ``summaryTrendStats``: k6 leaves it out by default.

Locust and k6 measure neither agents nor memory: ``agents`` may be given, memory
stays empty. Throughput is successful requests per second, as in the baseline.
Every cell is checked (:mod:`tarsim.calibrate.tables`): a missing or repeated
column, a value that is not a finite number, or failures above requests is a
ConfigError naming the file, the line and the column.
Formats: docs/sources.md, section 5.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tarsim.calibrate.tables import Row, Table, read_table
from tarsim.config.errors import ConfigError, Problem

LOCUST_STATS_HEAD = "Type,Name,Request Count,Failure Count"
LOCUST_HISTORY_HEAD = "Timestamp,User Count,Type,Name"
LOCUST_FAILURES_HEAD = "Method,Name,Error,Occurrences"
RAW_COLUMNS = ("timestamp", "latency", "ok")
LOCUST_SUFFIXES = {"locust_stats": "_stats.csv", "locust_history": "_stats_history.csv",
                   "locust_failures": "_failures.csv", "raw": "_requests.csv"}
STATS_COLUMNS = ("Name", "Request Count", "Failure Count", "Requests/s", "99%")
HISTORY_COLUMNS = ("Timestamp", "User Count", "Name", "99%", "Total Request Count",
                   "Total Failure Count")
RAW_EDGE_S = 1.0
"""A raw file on its own: seconds left out at each end (ramp-up, users stopped)."""


def detect(text: str) -> str:
    """Which format *text* is: ``locust_stats``, ``locust_history``,
    ``locust_failures``, ``raw``, ``k6`` or ``plain``."""
    head = text.lstrip("\ufeff").lstrip()
    first = head.split("\n", 1)[0].strip()
    if head.startswith(LOCUST_STATS_HEAD):
        return "locust_stats"
    if head.startswith(LOCUST_HISTORY_HEAD):
        return "locust_history"
    if head.startswith(LOCUST_FAILURES_HEAD):
        return "locust_failures"
    if head.startswith("{"):
        return "k6"
    if set(RAW_COLUMNS) <= {c.strip().lower() for c in first.split(",")}:
        return "raw"
    return "plain"


@dataclass
class LocustRun:
    """The files of one Locust run (one ``--csv`` prefix): kind -> (path, text)."""

    prefix: str
    files: dict[str, tuple[str, str]]


# ---------------------------------------------------------------- Locust
def import_locust(run: LocustRun, load: float | None) -> tuple[list[dict[str, Any]], str]:
    """Rows of one Locust run (see the module docstring)."""
    stats = _stats_table(*run.files["locust_stats"]) if "locust_stats" in run.files else None
    plateaus = _plateaus(*run.files["locust_history"]) if "locust_history" in run.files \
        else None
    failures = _failures(*run.files["locust_failures"]) \
        if "locust_failures" in run.files else None
    raw = _raw_table(*run.files["raw"]) if "raw" in run.files else None
    where = ", ".join(path for path, _ in run.files.values())
    if plateaus is not None:
        counts = sorted({users for users, *_ in plateaus})
        if load is not None and load not in counts:
            raise ConfigError([Problem("load", "does not match the user count the Locust "
                                       f"history records ({', '.join(f'{c:g}' for c in counts)}"
                                       " users): leave it out, the history labels its rows",
                                       load)], run.files["locust_history"][0])
    if stats is not None and failures is not None:
        stated = stats[1]
        if failures[0] != stated:
            raise ConfigError([Problem("Occurrences", "must add up to the stats file's "
                                       f"Aggregated Failure Count ({stated:g}): are these two "
                                       "files of one run?", failures[0])],
                              run.files["locust_failures"][0])
    rows: list[dict[str, Any]] = []
    if plateaus is not None and (stats is None or len(plateaus) > 1 or raw is not None):
        for users, t0, t1, requests, failed, p99_ms in plateaus:
            row = {"load": users, "load_kind": "concurrency", "p99_of": "all",
                   "throughput": (requests - failed) / (t1 - t0), "p99": p99_ms / 1000.0,
                   "error_rate": failed / requests}
            if raw is not None:
                row.update(_raw_metrics(raw, t0, t1, run.files["raw"][0]))
            rows.append(row)
        note = ("Locust run, one row per plateau of the history's User Count; "
                + ("throughput, errors and the exact p99 of successful requests from the raw "
                   "per-request file" if raw is not None else
                   "p99 is Locust's 99% of all requests (failures included), cumulative"))
    elif stats is not None:
        label = load if plateaus is None else plateaus[0][0]
        if label is None:
            raise ConfigError([Problem("load", "is required for a Locust *_stats.csv without "
                                       "its *_stats_history.csv, which records the user count "
                                       "(give the -u users)", has_value=False)],
                              run.files["locust_stats"][0])
        count, failed, rate, p99_ms = stats
        rows.append({"load": float(label), "load_kind": "concurrency", "p99_of": "all",
                     "throughput": rate * (1 - failed / count), "p99": p99_ms / 1000.0,
                     "error_rate": failed / count})
        note = ("Locust stats, Aggregated row" + (", users from the history" if plateaus else "")
                + "; p99 is Locust's 99% of all requests (failures included), bucketed")
    elif raw is not None:
        if load is None:
            raise ConfigError([Problem("load", "is required for a raw per-request file "
                                       "without its Locust history (give the users)",
                                       has_value=False)], run.files["raw"][0])
        rows.append({"load": float(load), "load_kind": "concurrency",
                     **_raw_alone(raw, run.files["raw"][0])})
        note = "raw per-request file; the exact p99 of successful requests"
    else:
        raise ConfigError([Problem(where, "holds no stats, history or per-request file of the "
                                   "run (a *_failures.csv alone has no throughput or latency)",
                                   has_value=False)])
    if failures is not None and failures[1]:
        note += "; failures: " + "; ".join(f"{n:g} x {e}" for e, n in failures[1])
    return rows, note


def _stats_table(path: str, text: str) -> tuple[float, float, float, float]:
    """Request Count, Failure Count, Requests/s and 99% (ms) of the Aggregated row."""
    table = read_table(text, path, STATS_COLUMNS, "row")
    aggregated = [r for r in table.rows if r.get("Name") == "Aggregated"]
    if not aggregated:
        raise ConfigError([Problem("Name", "no Aggregated row in the Locust stats file",
                                   has_value=False)], path)
    row = aggregated[0]
    count = table.number(row, "Request Count")
    failed = table.number(row, "Failure Count")
    rate = table.number(row, "Requests/s")
    p99 = table.number(row, "99%")
    _counts(table, row, count, failed, "Request Count", "Failure Count")
    table.check()
    return count, failed, rate, p99


def _counts(table: Table, row: Row, count: float, failed: float, total: str,
            failures: str) -> None:
    if count == 0:
        table.problem(row, total, "must be > 0 (no request was made)", row.get(total))
    elif failed > count:
        table.problem(row, failures, f"must be at most the {total} ({count:g}): more "
                      "failures than requests is impossible", row.get(failures))


Plateau = tuple[float, float, float, float, float, float]
"""users, t0, t1, requests, failures, p99 in ms."""


def _plateaus(path: str, text: str) -> list[Plateau]:
    table = read_table(text, path, HISTORY_COLUMNS, "row")
    samples = []
    for row in (r for r in table.rows if r.get("Name") == "Aggregated"):
        users = table.number(row, "User Count")
        stamp = table.number(row, "Timestamp")
        total = table.number(row, "Total Request Count")
        failed = table.number(row, "Total Failure Count")
        p99 = table.number(row, "99%", missing="N/A")
        if failed > total:
            _counts(table, row, total, failed, "Total Request Count", "Total Failure Count")
        if users > 0:
            samples.append((users, stamp, total, failed, p99, row))
    table.check()
    runs: list[list[tuple[Any, ...]]] = []
    for sample in samples:
        if runs and runs[-1][0][0] == sample[0]:
            runs[-1].append(sample)
        else:
            runs.append([sample])
    out: list[Plateau] = []
    for run in runs:
        steady = run[1:]  # the first sample straddles the change of user count
        if len(steady) < 2:
            continue
        (users, t0, n0, f0, *_), (_, t1, n1, f1, p99, last) = steady[0], steady[-1]
        if n1 < n0 or f1 < f0:
            table.problem(last, "Total Request Count", "cumulative totals must not fall "
                          f"within a plateau (from {n0:g} requests, {f0:g} failures)",
                          f"{n1:g}, {f1:g}")
            continue
        if t1 <= t0 or n1 - n0 <= 0 or math.isnan(p99):
            continue
        out.append((users, t0, t1, n1 - n0, f1 - f0, p99))
    table.check()
    if not out:
        raise ConfigError([Problem("User Count", "no plateau of constant user count with at "
                                   "least 3 samples and requests in the Locust history",
                                   has_value=False)], path)
    return out


def _failures(path: str, text: str) -> tuple[float, list[tuple[str, float]]]:
    """Total occurrences and (error, occurrences) of a Locust failures file."""
    table = read_table(text, path, ("Error", "Occurrences"), "row")
    found = [(r.get("Error"), table.number(r, "Occurrences")) for r in table.rows]
    table.check()
    return float(sum(n for _, n in found)), found


# ---------------------------------------------------------------- raw per-request
def _raw_table(path: str, text: str) -> np.ndarray:
    """(start, latency, ok) per request, every cell checked."""
    lowered = text.lstrip("\ufeff")
    head, _, body = lowered.partition("\n")
    table = read_table(head.lower() + "\n" + body, path, RAW_COLUMNS, "request")
    out = np.empty((len(table.rows), 3))
    for k, row in enumerate(table.rows):
        ok = row.get("ok").strip().lower()
        if ok not in ("0", "1", "true", "false"):
            table.problem(row, "ok", "must be 1 or 0 (true or false)", row.get("ok"))
        out[k] = (table.number(row, "timestamp", minimum=None),
                  table.number(row, "latency"), ok in ("1", "true"))
    if not table.rows:
        table.problems.append(Problem("", "has no requests", has_value=False))
    table.check()
    return out


def _raw_metrics(raw: np.ndarray, t0: float, t1: float, path: str) -> dict[str, Any]:
    """Throughput, errors and exact success-only p99 of the requests started in [t0, t1)."""
    inside = raw[(raw[:, 0] >= t0) & (raw[:, 0] < t1)]
    ok = inside[inside[:, 2] == 1.0]
    if len(ok) == 0:
        raise ConfigError([Problem("timestamp", f"no successful request started between {t0:g}"
                                   f" and {t1:g} (the history's plateau): is this file of the "
                                   "same run?", has_value=False)], path)
    return {"throughput": len(ok) / (t1 - t0), "error_rate": 1.0 - len(ok) / len(inside),
            "p99": float(np.quantile(ok[:, 1], 0.99)), "p99_of": "successes"}


def _raw_alone(raw: np.ndarray, path: str) -> dict[str, Any]:
    t0 = float(raw[:, 0].min()) + RAW_EDGE_S
    t1 = float((raw[:, 0] + raw[:, 1]).max()) - RAW_EDGE_S
    if t1 <= t0:
        raise ConfigError([Problem("timestamp", f"spans under {2 * RAW_EDGE_S:g} s: too short "
                                   "to measure a throughput", has_value=False)], path)
    return _raw_metrics(raw, t0, t1, path)


# ---------------------------------------------------------------- k6
def _values(metric: Any) -> dict[str, Any]:
    """A k6 metric's statistics: under ``values`` (handleSummary) or flat (legacy)."""
    if not isinstance(metric, dict):
        return {}
    values = metric.get("values", metric)
    return values if isinstance(values, dict) else {}


def _k6_number(values: dict[str, Any], key: str, where: str,
               problems: list[Problem]) -> float:
    value = values.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or value < 0:
        problems.append(Problem(f"{where}.{key}", "must be a finite number >= 0", value))
        return math.nan
    return float(value)


def import_k6(text: str, source: str, load: float | None) -> tuple[list[dict[str, Any]], str]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError([Problem("", f"is not valid JSON ({exc.msg}, line {exc.lineno})",
                                   has_value=False)], source) from None
    metrics = data.get("metrics") if isinstance(data, dict) else None
    if not isinstance(metrics, dict):
        raise ConfigError([Problem("metrics", "is missing: not a k6 summary JSON",
                                   has_value=False)], source)
    problems: list[Problem] = []
    reqs = _values(metrics.get("http_reqs"))
    failed = _values(metrics.get("http_req_failed"))
    success_only = "http_req_duration{expected_response:true}"
    name = success_only if _values(metrics.get(success_only)) else "http_req_duration"
    duration = _values(metrics.get(name))
    if "rate" not in reqs:
        problems.append(Problem("metrics.http_reqs.rate", "is required", has_value=False))
    rate = _k6_number(reqs, "rate", "metrics.http_reqs", problems) if "rate" in reqs else 0.0
    if "p(99)" not in duration:
        problems.append(Problem("metrics.http_req_duration.p(99)",
                                "is required: add 'p(99)' to options.summaryTrendStats",
                                has_value=False))
        p99 = math.nan
    else:
        p99 = _k6_number(duration, "p(99)", f"metrics.{name}", problems)
    error = _k6_number(failed, "rate" if "rate" in failed else "value",
                       "metrics.http_req_failed", problems) if failed else 0.0
    if error > 1:
        problems.append(Problem("metrics.http_req_failed.rate", "must be a fraction <= 1",
                                error))
    vus = _values(metrics.get("vus_max")) or _values(metrics.get("vus"))
    key = "max" if "max" in vus else "value"
    recorded = vus.get(key)
    if load is not None and isinstance(recorded, int | float) and recorded != load:
        problems.append(Problem("load", f"does not match the {recorded:g} VUs the k6 summary "
                                "records (metrics.vus_max): leave it out", load))
    if load is None:
        if key not in vus:
            problems.append(Problem("metrics.vus_max", "is missing: give the load",
                                    has_value=False))
        else:
            load = _k6_number(vus, key, "metrics.vus_max", problems)
            if load == 0:
                problems.append(Problem(f"metrics.vus_max.{key}", "must be > 0", load))
    if problems:
        raise ConfigError(problems, source)
    of = "successes" if name == success_only else "all"
    return ([{"load": float(load), "load_kind": "concurrency",  # type: ignore[arg-type]
              "throughput": rate * (1 - error), "p99": p99 / 1000.0,
              "error_rate": error, "p99_of": of}],
            "k6 summary: http_reqs rate x (1 - http_req_failed), p(99) of "
            + ("successful " if of == "successes" else "all ") + "http_req_duration; "
            "load = vus_max")
