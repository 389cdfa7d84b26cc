"""The results store: one SQLite database per output folder, one row per finished
run (its metrics, or the error it failed with), committed as each run finishes,
so that a sweep killed at any moment loses at most the runs in flight.

SQLite makes each write atomic (a run is stored whole or not at all) and keys the
table by (point key, replication), so a point's runs are found by the index. The
point key hashes everything that decides a run, data files' contents and the
tarsim version included (see :func:`tarsim.sweep.points.point_key`), so a stored
run is reused only by the exact point that made it.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tarsim.config import ConfigError, Problem
from tarsim.config.outputs import LOCK_FILE

if TYPE_CHECKING:
    from tarsim.executors import Outcome

RUNS_FILE = "runs.sqlite"
OLD_RUNS_FILE = "runs.jsonl"
"""The JSON-lines store of earlier versions: its keys are stale, so it is never read."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    key TEXT NOT NULL,
    replication INTEGER NOT NULL,
    metrics TEXT,
    error TEXT,
    PRIMARY KEY (key, replication)
) WITHOUT ROWID
"""


def encode(metrics: dict[str, Any]) -> str:
    """A run's metrics as JSON text (floats round-trip exactly)."""
    return json.dumps(metrics, sort_keys=True, allow_nan=True, separators=(",", ":"))


@dataclass
class RunStore:
    """The runs of one output folder (in memory when *path* is None), keyed by
    (point key, replication); failed runs kept apart with their errors."""

    path: Path | None
    runs: dict[str, dict[int, dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(dict))
    failures: dict[tuple[str, int], str] = field(default_factory=dict)
    repaired: int = 0
    """Damaged runs found (and dropped) when the store was opened."""
    _db: sqlite3.Connection | None = None

    @classmethod
    def memory(cls) -> RunStore:
        return cls(None)

    @classmethod
    def open(cls, folder: Path, *, fresh: bool, retry_failed: bool = False) -> RunStore:
        """The store in *folder*: emptied when *fresh*, else read (forgetting its
        failed runs when *retry_failed*, so that they are run again)."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / RUNS_FILE
        store = cls(path)
        try:
            db = sqlite3.connect(path, isolation_level=None, timeout=30.0)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute(_SCHEMA)
        except sqlite3.Error as exc:
            raise ConfigError([Problem("--out", f"cannot hold the results store ({exc})",
                                       str(path))]) from None
        store._db = db
        if fresh:
            db.execute("DELETE FROM runs")
        elif retry_failed:
            db.execute("DELETE FROM runs WHERE error IS NOT NULL")
        store._read()
        return store

    def _read(self) -> None:
        assert self._db is not None
        damaged = []
        for key, r, text, error in self._db.execute(
                "SELECT key, replication, metrics, error FROM runs ORDER BY key, replication"):
            if error is not None:
                self.failures[(key, r)] = error
                continue
            try:
                self.runs[key][r] = dict(json.loads(text))
            except (TypeError, ValueError):
                damaged.append((key, r))
        for key, r in damaged:  # a row edited by hand: done again, not trusted
            self._db.execute("DELETE FROM runs WHERE key = ? AND replication = ?", (key, r))
        self.repaired = len(damaged)

    def count(self) -> int:
        return sum(len(runs) for runs in self.runs.values())

    def runs_of(self, key: str) -> dict[int, dict[str, Any]]:
        """The finished runs of one point, by replication."""
        return self.runs.get(key, {})

    def failures_of(self, key: str) -> dict[int, str]:
        return {r: e for (k, r), e in self.failures.items() if k == key}

    def has(self, key: str, replication: int) -> bool:
        return replication in self.runs.get(key, {}) or (key, replication) in self.failures

    def add(self, key: str, replication: int, metrics: dict[str, Any]) -> None:
        """Record one finished run, durably, before anything else happens."""
        self._write(key, replication, encode(metrics), None)
        self.runs[key][replication] = metrics

    def add_failure(self, key: str, replication: int, error: str) -> None:
        """Record one failed run with its error."""
        self._write(key, replication, None, error)
        self.failures[(key, replication)] = error

    def keep(self, outcome: Outcome) -> None:
        """Record a run as the runner returned it: its metrics, or its failure."""
        task = outcome.task
        if outcome.metrics is None:
            self.add_failure(task.key, task.replication, outcome.error or "failed")
        else:
            self.add(task.key, task.replication, outcome.metrics)

    def _write(self, key: str, replication: int, text: str | None, error: str | None) -> None:
        if self._db is not None:
            try:
                self._db.execute("INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?)",
                                 (key, replication, text, error))
            except sqlite3.Error as exc:  # a full disk, a folder made read-only
                raise ConfigError([Problem("--out", f"cannot store a run ({exc})",
                                           str(self.path))]) from None

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def open_store(out: Path | None, resume: bool, retry_failed: bool = False,
               what: str = "sweep") -> RunStore:
    """The results store in *out*, or one in memory. Without *resume*, a folder whose
    store holds runs is refused, so that no results are overwritten by accident; with
    *retry_failed*, the runs that failed before are forgotten, so that they run again.
    *what* names the job in the message (a sweep, a study)."""
    if out is None:
        return RunStore.memory()
    if out.exists() and not out.is_dir():
        raise ConfigError([Problem("--out", "is a file, not a folder", str(out))])
    if not resume and holds_runs(out):
        raise ConfigError([Problem(
            "--out", f"already holds the runs of a {what}: add --resume to continue them, "
            "or choose another folder", str(out))])
    return RunStore.open(out, fresh=not resume, retry_failed=retry_failed)


def made_by_tarsim(folder: Path) -> bool:
    """Whether *folder* holds a sweep's results (so a new sweep may refuse or resume)."""
    return any((folder / name).exists()
               for name in (RUNS_FILE, OLD_RUNS_FILE, "manifest.json", LOCK_FILE))


def holds_runs(folder: Path) -> bool:
    """Whether *folder* holds a results store with runs in it."""
    path = folder / RUNS_FILE
    if not path.is_file():
        return False
    try:
        with contextlib.closing(sqlite3.connect(path)) as db:
            return bool(db.execute("SELECT 1 FROM runs LIMIT 1").fetchone())
    except sqlite3.Error:
        return path.stat().st_size > 0
