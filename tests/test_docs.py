"""The documentation is checked against the code it describes.

Three claims, each over the Markdown files users read:

1. Every key of the model format (walked from its JSON Schema) is documented in
   ``models/README.md``, and every key documented there exists. A key is
   documented when its dotted YAML path is written as a code span in the first
   cell of a table row, or in a heading: `` `providers.<name>.limits.requests` ``.
   User-chosen map keys are written ``<name>``, list items ``[]``
   (``workload.classes[].steps``), and the keys of a distribution once, under
   ``<distribution>`` (``<distribution>.median``). A section used in several
   places (``limits`` under providers, llms and tools) is documented once: each
   of its keys must be documented under at least one of its places, and each
   place itself must be documented.
2. Every fenced ``yaml`` block in ``README.md`` and ``models/README.md`` is a
   valid model. A block with ``workload``, ``agents`` and ``roles`` is a whole
   model; any other block must be preceded by ``<!-- fragment -->`` and is
   validated merged into the minimal M/M/c model below (mappings merge key by
   key, except a mapping with ``kind`` or ``dist``, a choice among shapes, which
   replaces the base's value whole; lists and values replace). A block preceded
   by ``<!-- excerpt: tars.yaml -->`` is a fragment that must also appear, key
   for key, in ``models/tars.yaml``. A block preceded by
   ``<!-- file: NAME -->`` (any language) is a data file the other blocks of the
   same document may name; it is written to NAME in a scratch folder that serves
   as the models' folder.
3. Every ``tarsim ...`` command in a ``bash`` block of the documentation parses
   with the click CLI: the subcommand exists, its options are known and its
   values convert; model and experiment files it names exist.

``experiments/README.md`` is checked in the same way against the experiment
format, when both the file and ``tarsim.sweep`` exist.
"""

from __future__ import annotations

import copy
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from tarsim.cli import main
from tarsim.config import ConfigError, load_data, model_from_data, validate
from tarsim.config.model import Model

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MODELS_README = ROOT / "models" / "README.md"
EXPERIMENTS_README = ROOT / "experiments" / "README.md"
STUDIES = ROOT / "experiments" / "STUDIES.md"
TARS = ROOT / "models" / "tars.yaml"
DISTRIBUTION = "<distribution>"

BASE_MODEL: dict[str, Any] = {
    "name": "mmc",
    "workload": {
        "arrivals": {"kind": "poisson", "rate": 4},
        "classes": [{"name": "job", "steps": ["server"]}],
    },
    "agents": {"count": 1, "concurrency": 5},
    "roles": {"server": {"work": {"dist": "exponential", "mean": 1}}},
}
"""What a fragment is merged into: the M/M/c model (c = 5) of models/README.md."""


# ---------------------------------------------------------------- schema paths
@dataclass
class SchemaKeys:
    """The keys of a format: every path, grouped by the class field it comes from."""

    groups: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    """(owning definition, key) -> every path where that field appears."""
    places: set[str] = field(default_factory=set)
    """Every path a document may name: keys, and map and list items."""

    def add(self, owner: str, key: str, path: str) -> None:
        paths = self.groups.setdefault((owner, key), [])
        if path not in paths:
            paths.append(path)
        self.places.add(path)


def _is_distribution(definition: dict[str, Any]) -> bool:
    return "dist" in definition.get("properties", {})


def schema_keys(schema: dict[str, Any]) -> SchemaKeys:
    """Walk a JSON Schema: properties, ``$ref``s, anyOf/oneOf/allOf members, map
    values (``<name>``) and list items (``[]``); distributions once, at
    ``<distribution>``."""
    defs = schema.get("$defs", {})
    keys = SchemaKeys()
    walked_distributions: set[str] = set()

    def walk(node: Any, owner: str, path: str, seen: tuple[str, ...]) -> None:
        if not isinstance(node, dict):
            return
        ref = node.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            definition = defs[name]
            if _is_distribution(definition):
                if name not in walked_distributions:
                    walked_distributions.add(name)
                    walk(definition, name, DISTRIBUTION, (name,))
                return
            if name not in seen:
                walk(definition, name, path, (*seen, name))
            return
        for key, sub in node.get("properties", {}).items():
            sub_path = f"{path}.{key}" if path else key
            keys.add(owner, key, sub_path)
            walk(sub, owner, sub_path, seen)
        for combinator in ("anyOf", "oneOf", "allOf"):
            for member in node.get(combinator, []):
                walk(member, owner, path, seen)
        values = node.get("additionalProperties")
        if isinstance(values, dict):
            keys.places.add(f"{path}.<name>")
            walk(values, owner, f"{path}.<name>", seen)
        items = node.get("items")
        if isinstance(items, dict):
            keys.places.add(f"{path}[]")
            walk(items, owner, f"{path}[]", seen)

    walk(schema, schema.get("title", "root"), "", ())
    return keys


# ---------------------------------------------------------------- Markdown
CODE_SPAN = re.compile(r"`([^`]+)`")
CELL_SPLIT = re.compile(r"(?<!\\)\|")
MARKER = re.compile(r"^<!--\s*(.*?)\s*-->$")


@dataclass
class Block:
    """A fenced code block, its language, the marker before it and its line."""

    language: str
    text: str
    marker: str | None
    line: int


def blocks(text: str) -> Iterator[Block]:
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        fence = lines[i].strip()
        if fence.startswith("```"):
            language = fence[3:].strip()
            start = i
            body: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                body.append(lines[i])
                i += 1
            marker = None
            before = start - 1
            while before >= 0 and not lines[before].strip():
                before -= 1
            if before >= 0:
                match = MARKER.match(lines[before].strip())
                marker = match.group(1) if match else None
            yield Block(language, "\n".join(body) + "\n", marker, start + 1)
        i += 1


def prose_lines(text: str) -> Iterator[str]:
    """The lines outside fenced code blocks."""
    inside = False
    for line in text.splitlines():
        if line.strip().startswith("```"):
            inside = not inside
            continue
        if not inside:
            yield line


@dataclass
class Documented:
    paths: set[str]
    """Paths named in a key table's first cell or in a heading."""
    table_paths: list[str]
    """Paths named in the first cell of tables whose first header is ``key``."""


def documented(text: str) -> Documented:
    paths: set[str] = set()
    table_paths: list[str] = []
    key_table = False
    previous_was_row = False
    for line in prose_lines(text):
        stripped = line.strip()
        if stripped.startswith("#"):
            paths.update(CODE_SPAN.findall(stripped))
            previous_was_row = False
        elif stripped.startswith("|"):
            cells = [c.strip() for c in CELL_SPLIT.split(stripped.strip("|"))]
            if not previous_was_row:  # a header row
                key_table = cells[0].lower() == "key"
            else:
                spans = CODE_SPAN.findall(cells[0])
                paths.update(spans)
                if key_table:
                    table_paths += spans
            previous_was_row = True
        else:
            previous_was_row = False
    return Documented(paths, table_paths)


def check_documented(schema: dict[str, Any], doc: Path, *, shared: Path | None = None) -> None:
    """Fail listing every key of *schema* that *doc* does not document, and every
    key row of *doc* that names no key. Distribution keys may instead be
    documented in *shared* (the model reference, which the other pages link to)."""
    keys = schema_keys(schema)
    found = documented(doc.read_text(encoding="utf-8"))
    named = set(found.paths)
    if shared is not None:
        named |= {p for p in documented(shared.read_text(encoding="utf-8")).paths
                  if p.startswith(DISTRIBUTION)}
    missing = dict.fromkeys(
        " or ".join(f"`{p}`" for p in paths)
        for paths in keys.groups.values()
        if not any(p in named for p in paths)
    )
    unknown = sorted({p for p in found.table_paths if p not in keys.places})
    problems = [f"undocumented: {m}" for m in missing]
    problems += [f"documented but not in the schema: `{p}`" for p in unknown]
    assert not problems, f"{doc.relative_to(ROOT)}:\n" + "\n".join(problems)


def test_every_model_key_is_documented():
    """Every key of the model's JSON Schema has a row (or heading) in
    models/README.md, and every key row names a real key."""
    check_documented(Model.model_json_schema(by_alias=True), MODELS_README)


def test_the_schema_walk_finds_nested_and_shared_keys():
    """The walk reaches keys under maps, lists, unions and shared sections, so
    the documentation test can fail for any of them."""
    keys = schema_keys(Model.model_json_schema(by_alias=True))
    groups = keys.groups
    assert "providers.<name>.limits.requests" in groups[("Limits", "requests")]
    assert "llms.<name>.limits.requests" in groups[("Limits", "requests")]
    assert "workload.classes[].steps" in groups[("RequestClass", "steps")]
    assert "workload.arrivals.users" in groups[("ClosedArrivals", "users")]
    assert "<distribution>.p99" in keys.places
    assert "cache.tools.<name>.lru.ttl" in keys.places
    doc = "| key |\n|---|\n| `providers.<name>.limits.requests` |\n"
    assert documented(doc).paths == {"providers.<name>.limits.requests"}


# ---------------------------------------------------------------- YAML examples
def merge(base: Any, fragment: Any) -> Any:
    """*fragment* over *base*: mappings merge key by key, except mappings that
    choose a shape (``kind``, ``dist``), which replace; anything else replaces."""
    if not (isinstance(base, dict) and isinstance(fragment, dict)):
        return copy.deepcopy(fragment)
    if "kind" in fragment or "dist" in fragment:
        return copy.deepcopy(fragment)
    merged = copy.deepcopy(base)
    for key, value in fragment.items():
        merged[key] = merge(base[key], value) if key in base else copy.deepcopy(value)
    return merged


def contained(part: Any, whole: Any, path: str = "") -> list[str]:
    """Where *part* differs from *whole* (every key of *part* with its value)."""
    if isinstance(part, dict):
        if not isinstance(whole, dict):
            return [f"{path or '.'}: a mapping in the excerpt, not in the file"]
        problems = []
        for key, value in part.items():
            sub = f"{path}.{key}" if path else str(key)
            if key not in whole:
                problems.append(f"{sub}: not in the file")
            else:
                problems += contained(value, whole[key], sub)
        return problems
    return [] if part == whole else [f"{path}: {part!r} in the excerpt, {whole!r} in the file"]


def is_whole_model(data: Any) -> bool:
    return isinstance(data, dict) and {"workload", "agents", "roles"} <= set(data)


def write_data_files(doc: Path, folder: Path) -> None:
    for block in blocks(doc.read_text(encoding="utf-8")):
        if block.marker and block.marker.startswith("file:"):
            target = folder / block.marker.split(":", 1)[1].strip()
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.text, encoding="utf-8")


def model_examples(doc: Path) -> list[Block]:
    return [b for b in blocks(doc.read_text(encoding="utf-8"))
            if b.language == "yaml" and not (b.marker or "").startswith("file:")]


def read_yaml(text: str, folder: Path) -> Any:
    """*text* read as tarsim reads a model file (its YAML rules, not PyYAML's defaults)."""
    path = folder / "example.yaml"
    path.write_text(text, encoding="utf-8")
    return load_data(path)[0]


def check_model_example(doc: Path, block: Block, folder: Path) -> None:
    """Fail unless *block* is a valid model, a valid marked fragment, or a true
    excerpt of the model file it names (which its own tests validate whole)."""
    where = f"{doc.relative_to(ROOT)}, line {block.line}"
    data = read_yaml(block.text, folder)
    marker = block.marker or ""
    if marker.startswith("excerpt:"):
        source = ROOT / "models" / marker.split(":", 1)[1].strip()
        differences = contained(data, load_data(source)[0])
        if differences:
            pytest.fail(f"{where}: not an excerpt of {source.name}: {differences}")
        return
    if not is_whole_model(data):
        if marker != "fragment":
            pytest.fail(f"{where}: a yaml block that is not a whole model (workload, agents, "
                        f"roles) needs <!-- fragment --> before it")
        data = merge(BASE_MODEL, data)
    try:
        model_from_data(data, base_dir=folder)
    except ConfigError as exc:
        pytest.fail(f"{where}: the example does not validate:\n{exc.describe()}")


MODEL_DOCS = [README, MODELS_README]


@pytest.mark.parametrize(
    ("doc", "block"),
    [pytest.param(doc, block, id=f"{doc.relative_to(ROOT)}:{block.line}")
     for doc in MODEL_DOCS if doc.exists() for block in model_examples(doc)],
)
def test_every_model_example_validates(doc: Path, block: Block, tmp_path: Path):
    """Each yaml example is a valid model, or a marked fragment that is valid
    merged into the M/M/c model (and, for an excerpt, is what tars.yaml says)."""
    write_data_files(doc, tmp_path)
    check_model_example(doc, block, tmp_path)


def test_the_model_reference_has_examples():
    """models/README.md starts from a whole model and has many examples, so the
    example test above cannot pass by finding none."""
    examples = model_examples(MODELS_README)
    assert is_whole_model(yaml.safe_load(examples[0].text))  # no key of it is YAML-1.1 odd
    assert len(examples) >= 20


def test_a_wrong_example_is_caught(tmp_path: Path):
    """The example check fails on an invalid fragment, on an unmarked fragment and
    on an excerpt that misquotes tars.yaml."""
    bad = [
        Block("yaml", "agents: {count: 0}\n", "fragment", 1),
        Block("yaml", "agents: {count: 2}\n", None, 1),
        Block("yaml", "agents: {count: 6}\n", "excerpt: tars.yaml", 1),
    ]
    for block in bad:
        with pytest.raises(pytest.fail.Exception):
            check_model_example(MODELS_README, block, tmp_path)


def test_merge_replaces_a_choice_of_shape():
    """A fragment's arrivals replace the base's (other kinds take other keys),
    while plain sections merge."""
    merged = merge(BASE_MODEL, {"workload": {"arrivals": {"kind": "closed", "users": 3}},
                                "agents": {"count": 4}})
    assert merged["workload"]["arrivals"] == {"kind": "closed", "users": 3}
    assert merged["workload"]["classes"] == BASE_MODEL["workload"]["classes"]
    assert merged["agents"] == {"count": 4, "concurrency": 5}


# ---------------------------------------------------------------- CLI commands
SHELL_BREAKS = {";", "&&", "||", "|", "&", "(", ")", ">", ">>", "<", "2>", "2>&1"}
DOCS_WITH_COMMANDS = [README, MODELS_README, EXPERIMENTS_README, STUDIES,
                      *sorted((ROOT / "docs").glob("*.md"))]


def tarsim_commands(script: str) -> list[list[str]]:
    """The argument lists of every ``tarsim`` (or ``python -m tarsim``) command
    in a shell script."""
    script = script.replace("\\\n", " ")
    found = []
    for line in script.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(lexer)
        current: list[str] | None = None
        for k, word in enumerate(words):
            if word in SHELL_BREAKS or set(word) <= set(";&|<>()"):
                if current is not None:
                    found.append(current)
                current = None
                continue
            if current is not None:
                current.append(word)
            elif Path(word).name == "tarsim" or (
                    word == "tarsim" and k >= 2 and words[k - 1] == "-m"):
                current = []
        if current is not None:
            found.append(current)
    return found


def check_command(args: list[str]) -> str | None:
    """Why *args* would not parse as a tarsim command line, or None."""
    if not args:
        return "no subcommand"
    if args[0] in ("--version", "--help", "-h"):
        return None
    command = main.commands.get(args[0])
    if command is None:
        return f"no command {args[0]!r} (known: {', '.join(sorted(main.commands))})"
    try:
        ctx = command.make_context(args[0], list(args[1:]))
    except click.exceptions.Exit:
        return None  # --help
    except click.ClickException as exc:
        return exc.format_message()
    for param in command.params:
        value = ctx.params.get(param.name or "")
        if (isinstance(param, click.Argument) and isinstance(value, str)
                and value.endswith((".yaml", ".yml")) and not (ROOT / value).is_file()):
            return f"no such file {value!r} (commands run from the repository root)"
    return None


def documented_commands() -> list[tuple[str, list[str]]]:
    found = []
    for doc in DOCS_WITH_COMMANDS:
        if not doc.exists():
            continue
        for block in blocks(doc.read_text(encoding="utf-8")):
            if block.language in ("bash", "sh", "shell", "console"):
                for args in tarsim_commands(block.text):
                    found.append((f"{doc.relative_to(ROOT)}:{block.line}", args))
    return found


def test_every_documented_command_parses():
    """Each tarsim command in the docs names a real subcommand with known
    options and valid values, and the files it names exist."""
    commands = documented_commands()
    assert any(where.startswith("README.md") for where, _ in commands)
    problems = [f"{where}: tarsim {' '.join(args)}: {why}"
                for where, args in commands if (why := check_command(args)) is not None]
    assert not problems, "\n".join(problems)


def test_a_wrong_command_is_caught():
    """The command check rejects an unknown subcommand, an unknown option, a bad
    value and a missing model file, and finds commands inside shell syntax."""
    assert check_command(["runn", "models/tars.yaml"]) is not None
    assert check_command(["run", "models/tars.yaml", "--replicates", "3"]) is not None
    assert check_command(["run", "models/tars.yaml", "--duration", "soon"]) is not None
    assert check_command(["check", "models/nothing.yaml"]) is not None
    assert check_command(["run", "models/tars.yaml", "-r", "3", "--format", "json"]) is None
    script = ('for x in 1 2; do\n  .venv/bin/tarsim run m.yaml --set "a={b: $x}" \\\n'
              '      -r 3 > out.json; done\npython -m tarsim schema | head\n')
    assert tarsim_commands(script) == [["run", "m.yaml", "--set", "a={b: $x}", "-r", "3"],
                                       ["schema"]]


# ---------------------------------------------------------------- experiments
def experiment_spec() -> Any:
    """The experiment format's pydantic class, or a skip when it is not there."""
    if not EXPERIMENTS_README.exists():
        pytest.skip("experiments/README.md is not written yet")
    try:
        from tarsim.sweep.experiment import ExperimentSpec  # type: ignore[import-not-found]
    except ImportError:
        pytest.skip("tarsim.sweep (the experiment format) is not built yet")
    return ExperimentSpec


def test_every_experiment_key_is_documented():
    """Every key of the experiment format has a row (or heading) in
    experiments/README.md, and every key row names a real key."""
    spec = experiment_spec()
    check_documented(spec.model_json_schema(by_alias=True), EXPERIMENTS_README,
                     shared=MODELS_README)


def test_every_experiment_example_validates(tmp_path: Path):
    """Each yaml block in experiments/README.md is a valid experiment, or a marked
    fragment that is valid merged into one that names models/tars.yaml."""
    spec = experiment_spec()
    base = {"model": "../models/tars.yaml"}
    for block in blocks(EXPERIMENTS_README.read_text(encoding="utf-8")):
        if block.language != "yaml" or (block.marker or "").startswith("file:"):
            continue
        data = read_yaml(block.text, tmp_path)
        if not (isinstance(data, dict) and "model" in data):
            assert block.marker == "fragment", (
                f"experiments/README.md, line {block.line}: needs <!-- fragment -->")
            data = merge(base, data)
        try:
            validate(spec, data)
        except ConfigError as exc:
            pytest.fail(f"experiments/README.md, line {block.line}:\n{exc.describe()}")


# ---------------------------------------------------------------- studies
def test_every_study_key_is_documented():
    """Every key of the study format has a row in experiments/STUDIES.md, and every
    key row names a real key."""
    from tarsim.sensitivity.study import StudySpec

    check_documented(StudySpec.model_json_schema(by_alias=True), STUDIES)


def test_every_study_example_validates(tmp_path: Path):
    """Each yaml block marked ``<!-- study -->`` in experiments/STUDIES.md is a valid
    study (its model, parameters and outputs checked), with the document's
    ``<!-- file: -->`` blocks as its folder."""
    from tarsim.sensitivity.loader import study_from_data

    write_data_files(STUDIES, tmp_path)
    studies = [b for b in blocks(STUDIES.read_text(encoding="utf-8")) if b.marker == "study"]
    assert studies
    for block in studies:
        try:
            study_from_data(yaml.safe_load(block.text), tmp_path)
        except ConfigError as exc:
            pytest.fail(f"experiments/STUDIES.md, line {block.line}:\n{exc.describe()}")


# ---------------------------------------------------------------- Python examples
def python_examples() -> list[Block]:
    return [b for b in blocks(README.read_text(encoding="utf-8")) if b.language == "python"]


def test_the_readme_has_a_python_what_if():
    """The README shows a what-if in Python of at most three lines, so the run
    test below cannot pass by finding none."""
    examples = python_examples()
    assert examples
    assert any(len(b.text.strip().splitlines()) <= 3 for b in examples)


@pytest.mark.parametrize("block", python_examples(), ids=lambda b: f"README.md:{b.line}")
def test_every_python_example_runs(block: Block, monkeypatch: pytest.MonkeyPatch):
    """Each python block of the README runs from the repository root without an
    error (its horizons are short), and its last line gives a value."""
    monkeypatch.chdir(ROOT)
    *body, last = block.text.strip().splitlines()
    namespace: dict[str, Any] = {}
    exec(compile("\n".join(body), f"README.md:{block.line}", "exec"), namespace)
    value = eval(compile(last, f"README.md:{block.line}", "eval"), namespace)
    assert value is not None
