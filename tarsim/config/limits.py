"""Bounds on what tarsim reads, so that a hostile or careless file is refused
quickly instead of holding the machine: file sizes (regular files only), YAML
alias expansion, nesting depth, and self-referencing documents.

A YAML alias is a reference: ``[*a, *a, *a]`` costs three nodes to parse but
each reference is expanded again wherever the data is walked or validated, so
nine levels of nine aliases (a 355-byte "billion laughs") stand for 9**9 nodes.
:func:`check_graph` counts the nodes a document stands for once aliases are
expanded, visiting each composed node once, and refuses documents above
:data:`MAX_NODES` or deeper than :data:`MAX_DEPTH` before anything walks them.
"""

from __future__ import annotations

import csv
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import yaml

from tarsim.config.errors import ConfigError, Problem

MAX_YAML_BYTES = 1024 * 1024
"""A model or experiment file: the largest shipped is under 20 KB."""
MAX_DATA_BYTES = 256 * 1024 * 1024
"""A data file (empirical samples, arrival traces, baselines)."""
MAX_NODES = 100_000
"""Values a YAML document may stand for once its aliases are expanded."""
MAX_DEPTH = 64
"""Nesting of mappings and lists in a YAML document."""
MAX_PROBLEMS = 50
"""Problems explained one by one; the rest are counted (a file of 45,000 unknown
keys is one mistake, not 45,000 messages)."""


def regular_file(path: Path, limit: int, field: str | None = None) -> Problem | None:
    """The problem with reading *path* (at most *limit* bytes), or None.

    Devices, pipes and folders are refused: ``/dev/zero`` never ends."""
    where = field or str(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return Problem(where, f"no such file {str(path)!r}" if field else "no such file",
                       has_value=False)
    except OSError as exc:
        return Problem(where, f"cannot be read ({exc.strerror})", has_value=False)
    if stat.S_ISDIR(info.st_mode):
        return Problem(where, "is a directory, not a file", has_value=False)
    if not stat.S_ISREG(info.st_mode):
        return Problem(where, f"must be a regular file, not a device or pipe: {str(path)!r}",
                       has_value=False)
    if info.st_size > limit:
        return Problem(where, f"is {info.st_size / 1e6:.1f} MB, above the "
                       f"{limit / 1e6:.0f} MB tarsim reads ({str(path)!r})", has_value=False)
    return None


def read_text(path: str | Path, limit: int = MAX_YAML_BYTES) -> str:
    """The UTF-8 text of the regular file at *path*, or a ConfigError."""
    file = Path(path)
    problem = regular_file(file, limit)
    if problem is not None:
        raise ConfigError([problem])
    try:
        with open(file, "rb") as handle:
            raw = handle.read(limit + 1)
    except OSError as exc:
        raise ConfigError([Problem(str(path), f"cannot be read ({exc.strerror})",
                                   has_value=False)]) from None
    if len(raw) > limit:  # grew since stat
        raise ConfigError([Problem(str(path), f"is above the {limit / 1e6:.0f} MB tarsim reads",
                                   has_value=False)])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(str(path), f"cannot be read ({exc})",
                                   has_value=False)]) from None


def check_data_file(path: Path) -> None:
    """Raise ``ValueError`` (as data-file readers do) unless *path* is a regular
    file within :data:`MAX_DATA_BYTES` (a missing file is left to the reader)."""
    if not path.exists():
        return
    problem = regular_file(path, MAX_DATA_BYTES, field="file")
    if problem is not None:
        raise ValueError(problem.rule)


def read_csv_rows(file: str, base_dir: Path, what: str) -> list[dict[str, str]]:
    """The rows of the CSV data file *file* (relative to *base_dir* unless absolute);
    ``ValueError`` (as data-file readers raise) naming the *what* (``file``,
    ``trace``) when it is too large, not a regular file or cannot be read."""
    path = Path(file) if Path(file).is_absolute() else base_dir / file
    check_data_file(path)
    try:
        with path.open(newline="") as handle:
            return list(csv.DictReader(handle))
    except OSError as exc:
        raise ValueError(f"cannot read {what} {str(path)!r}: {exc.strerror}") from None


def check_graph(root: yaml.Node) -> Problem | None:
    """A problem if the composed document *root* refers to itself, nests deeper
    than :data:`MAX_DEPTH`, or expands to more than :data:`MAX_NODES` values."""
    sizes: dict[int, int] = {}
    """Distinct node -> values it stands for, aliases expanded."""
    on_path: set[int] = {id(root)}
    stack: list[tuple[yaml.Node, Iterator[yaml.Node]]] = [(root, iter(_children(root)))]
    # Depth-first, without recursion: each distinct node is expanded once.
    while stack:
        node, kids = stack[-1]
        for kid in kids:
            ident = id(kid)
            if ident in sizes:
                continue
            if isinstance(kid, yaml.ScalarNode):
                sizes[ident] = 1
                continue
            if ident in on_path:
                return Problem("", "refers to itself (an alias inside its own anchor)",
                               line=kid.start_mark.line + 1, has_value=False)
            if len(stack) >= MAX_DEPTH:
                return Problem("", f"nests deeper than {MAX_DEPTH} levels",
                               line=kid.start_mark.line + 1, has_value=False)
            on_path.add(ident)
            stack.append((kid, iter(_children(kid))))
            break
        else:
            stack.pop()
            on_path.discard(id(node))
            size = 1 + sum(sizes[id(k)] for k in _children(node))
            sizes[id(node)] = size
            if len(sizes) > MAX_NODES:
                return _too_big(node, aliases=False)
            if size > MAX_NODES:
                return _too_big(node, aliases=True)
    return None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _too_big(node: yaml.Node, *, aliases: bool) -> Problem:
    rule = (f"stands for more than {MAX_NODES:,} values once its aliases are expanded "
            "(an alias bomb?)" if aliases else f"holds more than {MAX_NODES:,} values")
    return Problem("", rule, line=node.start_mark.line + 1, has_value=False)
