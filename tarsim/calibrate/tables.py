"""CSV tables of load-tool output, read as strictly as the model loader reads YAML.

Every importer reads its CSV through :func:`read_table`: a header with no
duplicated column and every required column, and cells that :func:`number` turns
into finite numbers. A problem is a :class:`ConfigError` naming the file, the line
(its row) and the column, with the value found; all problems of a file at once.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

from tarsim.config.base import repeated
from tarsim.config.errors import ConfigError, Problem


@dataclass(frozen=True)
class Row:
    """One data line of a table: its cells by column, and its line in the file."""

    cells: dict[str, str]
    line: int

    def __getitem__(self, column: str) -> str:
        return self.cells[column]

    def get(self, column: str, default: str = "") -> str:
        return self.cells.get(column, default)


class Table:
    """The rows of one CSV file, and the problems found while reading its cells."""

    def __init__(self, rows: list[Row], source: str, what: str) -> None:
        self.rows = rows
        self.source = source
        self.what = what
        self.problems: list[Problem] = []

    def number(self, row: Row, column: str, *, minimum: float | None = 0.0,
               missing: str | None = None) -> float:
        """The cell as a finite number (>= *minimum* when given); a problem naming
        the row and column otherwise (NaN then stands in, so reading goes on).
        *missing*: the text a tool writes for "no value" (Locust's ``N/A``), NaN."""
        text = row.get(column).strip()
        if missing is not None and text == missing:
            return math.nan
        try:
            value = float(text)
        except ValueError:
            value = math.nan
            rule = "must be a number"
        else:
            rule = "must be a finite number" if not math.isfinite(value) else ""
            if not rule and minimum is not None and value < minimum:
                rule = f"must be >= {minimum:g}"
        if rule:
            self.problems.append(Problem(f"{self.what}.{column}", rule, text, line=row.line))
            return math.nan
        return value

    def problem(self, row: Row, column: str, rule: str, value: object) -> None:
        self.problems.append(Problem(f"{self.what}.{column}", rule, value, line=row.line))

    def check(self) -> None:
        """Raise every problem found so far."""
        if self.problems:
            raise ConfigError(self.problems, self.source)


def read_table(text: str, source: str, required: Sequence[str], what: str) -> Table:
    """The rows of CSV *text*; a ConfigError if its header repeats a column or lacks
    one of *required*. *what* names the table's rows in messages (``row``)."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in next(reader, [])]
    problems = []
    twice = repeated(header)
    if twice:
        problems.append(Problem("columns", "each column must appear once; repeated: "
                                + ", ".join(twice), header, line=1))
    missing = [c for c in required if c not in header]
    if missing:
        problems.append(Problem("columns", "missing required column(s) " + ", ".join(missing),
                                header, line=1))
    if problems:
        raise ConfigError(problems, source)
    rows = []
    for number, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            problems.append(Problem(what, f"must have {len(header)} cells like the header",
                                    len(cells), line=number))
            continue
        rows.append(Row(dict(zip(header, cells, strict=True)), number))
    if problems:
        raise ConfigError(problems, source)
    return Table(rows, source, what)
