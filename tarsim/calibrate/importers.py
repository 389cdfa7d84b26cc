"""Importers: real load-test output turned into baseline rows.

- Locust ``PREFIX_stats.csv`` (cumulative, one row per endpoint plus ``Aggregated``):
  one baseline row from the Aggregated line. The file has no user count, so the
  load (users) must be given.
- Locust ``PREFIX_stats_history.csv`` (appended every second): one baseline row per
  plateau of constant ``User Count``. Throughput and error rate come from the change
  of the cumulative totals over the plateau (its first sample, where the count
  changed, is skipped); p99 is the last sample's ``99%``, which Locust computes
  cumulatively unless ``--csv-full-history`` was used (then over its last ~10 s).
- k6 end-of-test summary JSON (``handleSummary``, or the legacy ``--summary-export``):
  one row from ``http_reqs``, ``http_req_failed`` and ``http_req_duration`` (the
  ``{expected_response:true}`` sub-metric when present: successful requests only);
  the load defaults to the maximum of ``vus_max`` (constant-VU executors are
  closed loops). ``p(99)`` must be in ``summaryTrendStats``: k6 leaves it out by
  default.

Locust and k6 measure neither agents nor memory: ``agents`` may be given, memory
stays empty. Throughput is successful requests per second, as in the baseline.
Formats: docs/sources.md, section 5.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from tarsim.calibrate.baseline import LOAD_KINDS, Baseline, BaselineRow
from tarsim.config.errors import ConfigError, Problem

LOCUST_STATS_HEAD = "Type,Name,Request Count,Failure Count"
LOCUST_HISTORY_HEAD = "Timestamp,User Count,Type,Name"


def detect(text: str) -> str:
    """Which format *text* is: ``locust_stats``, ``locust_history``, ``k6`` or ``plain``."""
    head = text.lstrip("\ufeff").lstrip()
    if head.startswith(LOCUST_STATS_HEAD):
        return "locust_stats"
    if head.startswith(LOCUST_HISTORY_HEAD):
        return "locust_history"
    if head.startswith("{"):
        return "k6"
    return "plain"


def import_file(text: str, kind: str, source: str, *, agents: int | None = None,
                load: float | None = None, load_kind: str | None = None) -> Baseline:
    """Rows from one load tool's output (see the module docstring)."""
    problems = []
    if agents is not None and agents < 1:
        problems.append(Problem("agents", "must be >= 1", agents))
    if load is not None and not load > 0:
        problems.append(Problem("load", "must be > 0", load))
    if load_kind is not None and load_kind not in LOAD_KINDS:
        problems.append(Problem("load_kind", "must be one of concurrency, rate", load_kind))
    if problems:
        raise ConfigError(problems, source)
    importer = {"locust_stats": _locust_stats, "locust_history": _locust_history,
                "k6": _k6_summary}[kind]
    raw, note = importer(text, source, load)
    rows = [BaselineRow(**{**row, "agents": agents,
                           "load_kind": load_kind or row["load_kind"]}) for row in raw]
    notes = (f"Imported from {source} ({note}).",)
    return Baseline(rows=tuple(rows), source=source, notes=notes)


def _number(value: str, what: str, source: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError([Problem(what, "must be a number", value)], source) from None


def _locust_stats(text: str, source: str, load: float | None) -> tuple[list[dict[str, Any]], str]:
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    aggregated = [r for r in rows if r.get("Name") == "Aggregated"]
    if not aggregated:
        raise ConfigError([Problem("Aggregated", "no Aggregated row in the Locust stats file",
                                   has_value=False)], source)
    if load is None:
        raise ConfigError([Problem("load", "is required for a Locust *_stats.csv, which does "
                                   "not record the user count (give the -u users)",
                                   has_value=False)], source)
    row = aggregated[0]
    count = _number(row["Request Count"], "Request Count", source)
    failures = _number(row["Failure Count"], "Failure Count", source)
    if count <= 0:
        raise ConfigError([Problem("Request Count", "must be > 0", row["Request Count"])],
                          source)
    rate = _number(row["Requests/s"], "Requests/s", source)
    p99_ms = _number(row["99%"], "99%", source)
    error = failures / count
    return ([{"load": float(load), "load_kind": "concurrency", "throughput": rate * (1 - error),
              "p99": p99_ms / 1000.0, "error_rate": error}],
            "Locust stats, Aggregated row; p99 is Locust's bucketed approximation")


def _locust_history(text: str, source: str,
                    load: float | None) -> tuple[list[dict[str, Any]], str]:
    rows = [r for r in csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
            if r.get("Name") == "Aggregated"]
    if load is not None:
        raise ConfigError([Problem("load", "comes from the User Count column of a Locust "
                                   "history file; do not give it", load)], source)
    samples = []
    for r in rows:
        users = _number(r["User Count"], "User Count", source)
        if users <= 0:
            continue
        samples.append((users, _number(r["Timestamp"], "Timestamp", source),
                        _number(r["Total Request Count"], "Total Request Count", source),
                        _number(r["Total Failure Count"], "Total Failure Count", source),
                        r["99%"]))
    plateaus: list[list[tuple[float, float, float, float, str]]] = []
    for sample in samples:
        if plateaus and plateaus[-1][0][0] == sample[0]:
            plateaus[-1].append(sample)
        else:
            plateaus.append([sample])
    out = []
    for plateau in plateaus:
        steady = plateau[1:]  # the first sample straddles the change of user count
        if len(steady) < 2:
            continue
        (users, t0, n0, f0, _), (_, t1, n1, f1, p99) = steady[0], steady[-1]
        requests, failures = n1 - n0, f1 - f0
        if t1 <= t0 or requests <= 0 or p99 == "N/A":
            continue
        error = failures / requests
        out.append({"load": users, "load_kind": "concurrency",
                    "throughput": (requests - failures) / (t1 - t0),
                    "p99": _number(p99, "99%", source) / 1000.0, "error_rate": error})
    if not out:
        raise ConfigError([Problem("User Count", "no plateau of constant user count with at "
                                   "least 3 samples in the Locust history", has_value=False)],
                          source)
    return out, ("Locust stats history, one row per plateau of User Count; p99 is the last "
                 "sample's 99% (cumulative unless --csv-full-history)")


def _values(metric: Any) -> dict[str, Any]:
    """A k6 metric's statistics: under ``values`` (handleSummary) or flat (legacy)."""
    if not isinstance(metric, dict):
        return {}
    values = metric.get("values", metric)
    return values if isinstance(values, dict) else {}


def _k6_summary(text: str, source: str, load: float | None) -> tuple[list[dict[str, Any]], str]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError([Problem("", f"is not valid JSON ({exc.msg}, line {exc.lineno})",
                                   has_value=False)], source) from None
    metrics = data.get("metrics") if isinstance(data, dict) else None
    if not isinstance(metrics, dict):
        raise ConfigError([Problem("metrics", "is missing: not a k6 summary JSON",
                                   has_value=False)], source)
    problems = []
    reqs = _values(metrics.get("http_reqs"))
    failed = _values(metrics.get("http_req_failed"))
    duration = _values(metrics.get("http_req_duration{expected_response:true}")) \
        or _values(metrics.get("http_req_duration"))
    if "rate" not in reqs:
        problems.append(Problem("metrics.http_reqs.rate", "is required", has_value=False))
    if "p(99)" not in duration:
        problems.append(Problem("metrics.http_req_duration.p(99)",
                                "is required: add 'p(99)' to options.summaryTrendStats",
                                has_value=False))
    error = failed.get("rate", failed.get("value", 0.0))
    if load is None:
        vus = _values(metrics.get("vus_max")) or _values(metrics.get("vus"))
        load = vus.get("max", vus.get("value"))
        if load is None:
            problems.append(Problem("metrics.vus_max", "is missing: give the load",
                                    has_value=False))
    if problems:
        raise ConfigError(problems, source)
    rate = float(reqs["rate"])
    return ([{"load": float(load), "load_kind": "concurrency",  # type: ignore[arg-type]
              "throughput": rate * (1 - float(error)), "p99": float(duration["p(99)"]) / 1000.0,
              "error_rate": float(error)}],
            "k6 summary: http_reqs rate x (1 - http_req_failed), p(99) of successful "
            "http_req_duration; load = vus_max")
