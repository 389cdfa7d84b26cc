"""Baselines from files as users have them: several at once, globs, and a load
tool's files of one run recognised together.

:func:`read_baselines` takes paths and glob patterns, recognises each file by its
content (the plain baseline CSV, Locust's stats / history / failures files, a raw
per-request CSV, a k6 summary JSON), groups a Locust run's files by their
``--csv`` prefix (files of that prefix beside a named one join it), and returns
one baseline of every row, in load order.
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any

from tarsim.calibrate.baseline import LOAD_KINDS, Baseline, BaselineRow, parse_baseline
from tarsim.calibrate.importers import LOCUST_SUFFIXES, LocustRun, detect, import_k6, import_locust
from tarsim.config.errors import ConfigError, Problem

GLOB_CHARS = "*?["
MAX_BYTES = 200_000_000
"""A load-test file larger than this is refused (a raw file of ~4 M requests)."""


def _read(path: Path) -> str:
    try:
        if not path.is_file():
            if path.exists():
                raise ConfigError([Problem(str(path), "is not a regular file",
                                           has_value=False)])
            raise ConfigError([Problem(str(path), "no such file", has_value=False)])
        if path.stat().st_size > MAX_BYTES:
            raise ConfigError([Problem(str(path), f"is larger than {MAX_BYTES / 1e6:g} MB",
                                       path.stat().st_size)])
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(str(path), f"cannot be read ({exc})",
                                   has_value=False)]) from None


def expand(patterns: list[str | Path]) -> list[Path]:
    """Files named by *patterns* (globs expanded, sorted), each once, in order."""
    files: list[Path] = []
    for pattern in patterns:
        text = str(pattern)
        if any(c in text for c in GLOB_CHARS):
            matches = sorted(glob.glob(text))
            if not matches:
                raise ConfigError([Problem("--baseline", "the pattern matches no file", text)])
            found = [Path(m) for m in matches]
        else:
            found = [Path(text)]
        files += [f for f in found if f not in files]
    return files


def _prefix(path: Path, kind: str) -> str | None:
    suffix = LOCUST_SUFFIXES.get(kind)
    if suffix is None or not path.name.endswith(suffix):
        return None
    return str(path)[: -len(suffix)]


def read_baselines(paths: list[str | Path] | str | Path, *, agents: int | None = None,
                   load: float | None = None, load_kind: str | None = None) -> Baseline:
    """One baseline from every file *paths* name (see the module docstring). *load*
    labels a single run whose files do not record it; *agents* and *load_kind*
    apply to every imported row."""
    if isinstance(paths, str | Path):
        paths = [paths]
    problems = []
    if agents is not None and agents < 1:
        problems.append(Problem("agents", "must be >= 1", agents))
    if load is not None and not 0 < load < float("inf"):
        problems.append(Problem("load", "must be a finite number > 0", load))
    if load_kind is not None and load_kind not in LOAD_KINDS:
        problems.append(Problem("load_kind", "must be one of concurrency, rate", load_kind))
    if not paths:
        problems.append(Problem("--baseline", "give at least one file", has_value=False))
    if problems:
        raise ConfigError(problems)
    options = {"agents": agents, "load": load, "load_kind": load_kind}
    plain: list[Baseline] = []
    runs: dict[str, LocustRun] = {}
    k6: list[tuple[str, str]] = []
    for path in expand(list(paths)):
        text = _read(path)
        kind = detect(text)
        if kind == "plain":
            given = [k for k, v in options.items() if v is not None]
            if given:
                raise ConfigError([Problem(str(path), "is a plain baseline CSV: import options "
                                           f"({', '.join(given)}) apply only to Locust, raw "
                                           "and k6 output", has_value=False)])
            plain.append(parse_baseline(text, str(path)))
        elif kind == "k6":
            k6.append((str(path), text))
        else:
            prefix = _prefix(path, kind) or str(path)
            run = runs.setdefault(prefix, LocustRun(prefix, {}))
            run.files[kind] = (str(path), text)
    for prefix, run in runs.items():  # the other files of each run, beside it
        for kind, suffix in LOCUST_SUFFIXES.items():
            sibling = Path(prefix + suffix)
            if kind not in run.files and sibling.is_file() and any(
                    _prefix(Path(p), k) for k, (p, _) in run.files.items()):
                text = _read(sibling)
                if detect(text) == kind:
                    run.files[kind] = (str(sibling), text)
    imported = len(runs) + len(k6)
    if load is not None and imported > 1:
        raise ConfigError([Problem("load", f"labels one run, but the files hold {imported} "
                                   "(a Locust history labels its own rows; give files "
                                   "without one separately)", load)])
    rows: list[BaselineRow] = []
    notes: list[str] = []
    for baseline in plain:
        rows += baseline.rows
        notes += baseline.notes
    for run in runs.values():
        raw, note = import_locust(run, load)
        rows += _rows(raw, agents, load_kind)
        notes.append(f"Imported from {', '.join(p for p, _ in run.files.values())} ({note}).")
    for source, text in k6:
        raw, note = import_k6(text, source, load)
        rows += _rows(raw, agents, load_kind)
        notes.append(f"Imported from {source} ({note}).")
    rows.sort(key=lambda r: (r.load_kind, r.load))
    source = ", ".join(str(p) for p in paths)
    return Baseline(rows=tuple(rows), source=source, notes=tuple(notes))


def _rows(raw: list[dict[str, Any]], agents: int | None,
          load_kind: str | None) -> list[BaselineRow]:
    return [BaselineRow(**{**row, "agents": agents, "load_kind": load_kind or row["load_kind"]})
            for row in raw]


def read_baseline(path: str | Path, **import_options: Any) -> Baseline:
    """A baseline from one file (and, for a Locust run, the files beside it of the
    same prefix)."""
    return read_baselines([path], **import_options)
