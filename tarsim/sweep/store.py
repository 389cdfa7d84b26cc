"""The results store: one JSON line per completed run, appended and fsync'd as each
run finishes, so that a sweep killed at any moment loses at most the runs in flight.

Each line carries its run's key (the point's key and the replication) and a CRC32
of its content. Reading checks every line: a truncated last line, a line that is
not JSON, or a line whose checksum does not match is dropped (and the file
rewritten without it, atomically), so its run is done again rather than trusted.
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RUNS_FILE = "runs.jsonl"


def _checksum(payload: str) -> str:
    return f"{zlib.crc32(payload.encode()):08x}"


def encode(key: str, replication: int, metrics: dict[str, Any]) -> str:
    """One line of the store (without its newline)."""
    payload = json.dumps({"key": key, "r": replication, "metrics": metrics},
                         sort_keys=True, allow_nan=True, separators=(",", ":"))
    return f"{_checksum(payload)} {payload}"


def decode(line: str) -> tuple[str, int, dict[str, Any]] | None:
    """The run in *line*, or None if the line is damaged."""
    crc, sep, payload = line.partition(" ")
    if not sep or _checksum(payload) != crc:
        return None
    try:
        data = json.loads(payload)
        return str(data["key"]), int(data["r"]), dict(data["metrics"])
    except (ValueError, KeyError, TypeError):
        return None


@dataclass
class RunStore:
    """The runs of one output folder, keyed by (point key, replication)."""

    path: Path
    runs: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    repaired: int = 0
    """Damaged lines found (and dropped) when the file was opened."""

    @classmethod
    def open(cls, folder: Path, *, fresh: bool) -> RunStore:
        """The store in *folder*: emptied when *fresh*, else read, checked and repaired."""
        folder.mkdir(parents=True, exist_ok=True)
        store = cls(folder / RUNS_FILE)
        if fresh:
            store.path.write_bytes(b"")
            return store
        if store.path.exists():
            store._read()
        return store

    def _read(self) -> None:
        raw = self.path.read_bytes()
        lines = raw.split(b"\n")
        complete, tail = lines[:-1], lines[-1]  # text after the last newline: cut short
        good: list[str] = []
        bad = 1 if tail else 0
        for chunk in complete:
            try:
                text = chunk.decode("utf-8")
            except UnicodeDecodeError:
                bad += 1
                continue
            run = decode(text)
            if run is None:
                bad += 1
                continue
            key, r, metrics = run
            if (key, r) in self.runs:
                continue  # a run done twice (possible only by hand): the first stands
            self.runs[(key, r)] = metrics
            good.append(text)
        self.repaired = bad
        if bad or len(good) != len(complete):
            # Rewrite only what was trusted, atomically, so the next append
            # does not land on a broken line.
            tmp = self.path.with_suffix(".tmp")
            with open(tmp, "w", encoding="utf-8") as out:
                out.write("".join(line + "\n" for line in good))
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)

    def has(self, key: str, replication: int) -> bool:
        return (key, replication) in self.runs

    def add(self, key: str, replication: int, metrics: dict[str, Any]) -> None:
        """Record one finished run, durably, before anything else happens."""
        line = encode(key, replication, metrics) + "\n"
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(line)
            out.flush()
            os.fsync(out.fileno())
        self.runs[(key, replication)] = metrics
