"""The repository stands on its own: no file refers to a path outside it (the design
notes and research files it was built from are not shipped; docs/sources.md holds the
facts they gave), and outputs are kept out of git."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEXT = {".py", ".md", ".yaml", ".yml", ".toml", ".csv", ".ipynb", ".txt", ".sh", ".cfg"}
OUTSIDE_NAMES = re.compile(r"shared/(seed|reference)|DESIGN\.md|STYLE\.md|llm-api-facts|"
                           r"des-anchors")
RELATIVE = re.compile(r"(?<![\w.])((?:\.\./)+[\w./-]*)")


def _tracked() -> list[Path]:
    try:
        names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                               check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / n for n in names if Path(n).suffix in TEXT and (ROOT / n).is_file()]


def test_no_file_refers_to_a_path_outside_the_repository():
    """No tracked text file names the design notes or research files, and every
    relative path with ``../`` outside tests/ (which build hostile paths on purpose)
    resolves, from the file's folder, to a place inside the repository
    (``../models/tars.yaml`` from experiments/ does; ``../shared/...`` from the top
    would not)."""
    this = Path(__file__).resolve()
    outside = []
    for path in _tracked():
        if path.resolve() == this:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for lineno, line in enumerate(text.splitlines(), 1):
            if OUTSIDE_NAMES.search(line):
                outside.append(f"{path.relative_to(ROOT)}:{lineno}: {line.strip()[:80]}")
            # tests build hostile paths on purpose (../../x must be refused)
            for ref in [] if path.parts[-2] == "tests" else RELATIVE.findall(line):
                target = (path.parent / ref).resolve()
                if not target.is_relative_to(ROOT):
                    outside.append(f"{path.relative_to(ROOT)}:{lineno}: {ref}")
    assert outside == []


def test_outputs_are_ignored_and_not_committed():
    """results/ (sweep outputs, reports) and the schema file the README writes are in
    .gitignore, and nothing under results/ is tracked."""
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "results/" in ignored and "tarsim-model.schema.json" in ignored
    assert not [p for p in _tracked() if p.relative_to(ROOT).parts[0] == "results"]
