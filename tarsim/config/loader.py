"""Files in, validated models out: YAML with line numbers, ``--set`` overrides,
and pydantic's errors turned into :class:`ConfigError` problems users can act on.

Every problem in a file is reported at once, with its YAML path (``agents.count``,
``workload.classes[1].steps[0]``), its line where the file has one, the rule and
the value, and a "did you mean" for unknown keys.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from tarsim.config.distributions import load_empirical
from tarsim.config.errors import ConfigError, Problem
from tarsim.config.limits import MAX_DEPTH, MAX_PROBLEMS, check_graph, read_text
from tarsim.config.model import Model
from tarsim.config.paths import Key, PathKey, apply_overrides, format_path, split_path
from tarsim.config.references import cross_check, did_you_mean
from tarsim.config.workload import TraceArrivals

M = TypeVar("M", bound=BaseModel)


# ---------------------------------------------------------------- YAML with lines
class _LineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader (libyaml's parser where installed: ten times faster on large
    files) that also notes the line of every key and item, and reads only
    true/false as booleans (as YAML 1.2 does): YAML 1.1 would read the key of
    ``retry.on`` as the boolean True. Values such as ``yes`` still validate as
    booleans where the model wants one."""


_BOOL = "tag:yaml.org,2002:bool"
_LineLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_LineLoader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def _read_yaml(text: str, source: str) -> tuple[Any, dict[PathKey, int]]:
    """Parse *text* safely; return the data and a map from path to 1-based line."""
    try:
        loader = _LineLoader(text)
        try:
            node = loader.get_single_node()
            bound = check_graph(node) if node is not None else None
            if bound is not None:
                raise ConfigError([bound], source)
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except RecursionError:  # a parser without libyaml, on brackets nested thousands deep
        raise ConfigError([Problem("", f"nests deeper than {MAX_DEPTH} levels",
                                   has_value=False)], source) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            [Problem("", f"is not valid YAML: {problem}", line=line, has_value=False)], source
        ) from None
    lines: dict[PathKey, int] = {}
    problems: list[Problem] = []
    if node is not None:
        _note_lines(node, (), lines, problems, set())
    if problems:
        raise ConfigError(problems, source)
    return data, lines


def _note_lines(
    node: yaml.Node, path: PathKey, lines: dict[PathKey, int], problems: list[Problem],
    seen_nodes: set[int],
) -> None:
    """Note the line of every key and item, walking each composed node once: the
    values under a repeated alias take the line of the path that refers to them."""
    lines.setdefault(path, node.start_mark.line + 1)
    if id(node) in seen_nodes:
        return
    seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                problems.append(
                    Problem(format_path((*path, key)), "is given twice", has_value=False,
                            line=key_node.start_mark.line + 1)
                )
            seen.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _note_lines(value_node, (*path, key), lines, problems, seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _note_lines(item, (*path, index), lines, problems, seen_nodes)


# ---------------------------------------------------------------- overrides
def parse_override(text: str) -> tuple[str, Any]:
    """``"agents.count=10"`` -> ``("agents.count", 10)``; the value is read as YAML."""
    path, sep, value = text.partition("=")
    if not sep or not path.strip():
        raise ConfigError([Problem("--set", "must look like PATH=VALUE", text)])
    try:
        parsed = _read_yaml(value, "--set")[0] if value.strip() else None
    except ConfigError as exc:
        rule = "; ".join(p.rule for p in exc.problems)
        raise ConfigError([Problem(path.strip(), f"override value: {rule}", value)]) from None
    return path.strip(), parsed


# ---------------------------------------------------------------- validation
def validate(
    cls: type[M],
    data: Any,
    *,
    source: str | None = None,
    lines: Mapping[PathKey, int | None] | None = None,
    extra: list[Problem] | None = None,
) -> M:
    """Validate *data* as *cls*, or raise one ConfigError listing every problem
    (with *extra* problems found by other checks of the same data)."""
    lines = lines or {}
    if not isinstance(data, dict):
        raise ConfigError(
            [Problem("", "the file must hold a mapping of sections", _kind(data))], source
        )
    problems = [_with_line(p, lines) for p in extra or []]
    try:
        result = cls.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        problems = [_problem(cls, data, error, lines)
                    for error in errors[:MAX_PROBLEMS]] + problems
        if len(errors) > MAX_PROBLEMS:
            problems.append(Problem("", f"... and {len(errors) - MAX_PROBLEMS} more problems",
                                    has_value=False))
        raise ConfigError(_unique(problems), source) from None
    if problems:
        raise ConfigError(problems, source)
    return result


def _with_line(problem: Problem, lines: Mapping[PathKey, int | None]) -> Problem:
    if problem.line is not None:
        return problem
    line = _line_of(split_path(problem.path), lines)
    return Problem(problem.path, problem.rule, problem.value, line, problem.has_value,
                   problem.hint)


def _kind(data: Any) -> str:
    return "an empty file" if data is None else type(data).__name__


def _unique(problems: list[Problem]) -> list[Problem]:
    seen: set[str] = set()
    out = []
    for problem in problems:
        if str(problem) not in seen:
            seen.add(str(problem))
            out.append(problem)
    return out


def _problem(
    cls: type[BaseModel], data: Any, error: Any, lines: Mapping[PathKey, int | None]
) -> Problem:
    path, known = _resolve(cls, data, error["loc"])
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    line = _line_of(path, lines)
    shown = format_path(path)
    if kind == "extra_forbidden":
        hint = did_you_mean(str(path[-1]), known) if known else ""
        if known and not hint:
            hint = f" (known: {', '.join(known)})"
        return Problem(shown, "unknown key", has_value=False, line=line, hint=hint)
    if kind == "missing":
        return Problem(shown, "is required", has_value=False, line=line)
    rule = _rule(kind, error["msg"], ctx)
    if kind in TAG_FIELDS and isinstance(value, dict):
        field = TAG_FIELDS[kind]
        given = value.get(field)
        choices = [c.strip() for c in rule.split("one of", 1)[-1].split(",")]
        if given is None:
            return Problem(shown, f"needs '{field}': {rule.split('must be ', 1)[-1]}",
                           has_value=False, line=line)
        return Problem(f"{shown}.{field}" if shown else field,
                       rule.replace(f"{field} ", "", 1), given,
                       line=_line_of((*path, field), lines) or line,
                       hint=did_you_mean(str(given), choices))
    has_value = ", got " not in rule
    return Problem(shown, rule, value, line=line, has_value=has_value)


TAG_FIELDS = {"unknown_distribution": "dist", "unknown_arrivals": "kind",
              "unknown_analysis": "kind"}
"""Custom error types of tagged unions, and the key that names the member."""


def _rule(kind: str, msg: str, ctx: Mapping[str, Any]) -> str:
    simple = {
        "greater_than_equal": lambda: f"must be >= {ctx.get('ge')}",
        "greater_than": lambda: f"must be > {ctx.get('gt')}",
        "less_than_equal": lambda: f"must be <= {ctx.get('le')}",
        "less_than": lambda: f"must be < {ctx.get('lt')}",
        "int_type": lambda: "must be a whole number",
        "int_parsing": lambda: "must be a whole number",
        "int_from_float": lambda: "must be a whole number",
        "float_type": lambda: "must be a number",
        "float_parsing": lambda: "must be a number",
        "finite_number": lambda: "must be a finite number",
        "string_type": lambda: "must be a string",
        "bool_type": lambda: "must be true or false",
        "bool_parsing": lambda: "must be true or false",
        "dict_type": lambda: "must be a mapping",
        "model_type": lambda: "must be a mapping",
        "model_attributes_type": lambda: "must be a mapping",
        "list_type": lambda: "must be a list",
        "too_short": lambda: f"must have at least {ctx.get('min_length')} item(s)",
        "string_too_short": lambda: "must not be empty",
    }
    if kind in simple:
        return simple[kind]()
    if msg.startswith("Value error, "):
        return msg[len("Value error, "):]
    return msg.replace("Input should be", "must be")


def _line_of(path: PathKey, lines: Mapping[PathKey, int | None]) -> int | None:
    """The line of *path*, or of its nearest ancestor in the file; None for what a
    ``--set`` put there (marked None) and for what only the top level holds (the
    top level's line is that of the file's first key, which says nothing)."""
    if not path:
        return lines.get(())
    for cut in range(len(path), 0, -1):
        if path[:cut] in lines:
            return lines[path[:cut]]
    return None


def _resolve(cls: type[BaseModel], data: Any, loc: tuple[Any, ...]) -> tuple[PathKey, list[str]]:
    """Turn pydantic's *loc* into the path in the user's data (dropping union tags)
    and the keys known at the last mapping, for "did you mean"."""
    path: list[Key] = []
    node: Any = data
    typ: Any = cls
    known: list[str] = _keys_of(typ)
    for elem in loc:
        typ = _unwrap(typ)
        if _is_union(typ):
            member = _union_member(typ, elem)
            if member is not None:
                typ = member
                known = _keys_of(_unwrap(typ))
                continue
        if isinstance(node, dict) and elem in node:
            known = _keys_of(typ)
            node = node[elem]
            path.append(elem)
            typ = _field_type(typ, elem)
        elif isinstance(node, list) and isinstance(elem, int) and 0 <= elem < len(node):
            node = node[elem]
            path.append(elem)
            typ = _item_type(typ)
        elif isinstance(elem, str) and not isinstance(node, dict | list):
            continue  # a tag or validator name under a scalar
        elif isinstance(node, dict) and isinstance(elem, str):
            known = _keys_of(typ)
            path.append(elem)  # a missing or unknown key
            node = None
            typ = _field_type(typ, elem)
    return tuple(path), known


def _unwrap(typ: Any) -> Any:
    while typing.get_origin(typ) is typing.Annotated:
        typ = typing.get_args(typ)[0]
    return typ


def _is_union(typ: Any) -> bool:
    return typing.get_origin(typ) in (typing.Union, types.UnionType)


def _union_member(typ: Any, tag: Any) -> Any:
    for member in typing.get_args(typ):
        for meta in getattr(member, "__metadata__", ()):
            if getattr(meta, "tag", None) == tag:
                return typing.get_args(member)[0]
    return None


def _keys_of(typ: Any) -> list[str]:
    typ = _unwrap(typ)
    if isinstance(typ, type) and issubclass(typ, BaseModel):
        return [f.alias or name for name, f in typ.model_fields.items()]
    if _is_union(typ):
        for member in typing.get_args(typ):
            keys = _keys_of(member)
            if keys:
                return keys
    return []


def _field_type(typ: Any, key: Any) -> Any:
    typ = _unwrap(typ)
    if _is_union(typ):
        members = [m for m in typing.get_args(typ) if m is not type(None)]
        typ = _unwrap(members[0]) if len(members) == 1 else typ
    if isinstance(typ, type) and issubclass(typ, BaseModel):
        for name, field in typ.model_fields.items():
            if key in (name, field.alias):
                return field.annotation if not field.metadata else typing.Annotated[
                    (field.annotation, *field.metadata)
                ]
        return None
    if typing.get_origin(typ) is dict:
        return typing.get_args(typ)[1]
    return None


def _item_type(typ: Any) -> Any:
    typ = _unwrap(typ)
    if typing.get_origin(typ) is list:
        return typing.get_args(typ)[0]
    return None


# ---------------------------------------------------------------- files
def load_data(path: str | Path) -> tuple[Any, dict[PathKey, int]]:
    """The raw data and line map of a YAML file."""
    return _read_yaml(read_text(path), str(path))


def model_from_data(
    data: Any,
    *,
    base_dir: Path,
    source: str | None = None,
    lines: Mapping[PathKey, int | None] | None = None,
) -> Model:
    """Validate raw model data, check cross-references and data files."""
    lines = lines or {}
    model = validate(Model, data, source=source, lines=lines, extra=cross_check(data))
    problems = check_files(model, base_dir)
    if problems:
        raise ConfigError([_with_line(p, lines) for p in problems], source)
    model._base_dir = base_dir
    return model


def load_model(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Model:
    """Read, override and validate the model file at *path*."""
    data, found = load_data(path)
    lines: dict[PathKey, int | None] = dict(found)
    if overrides:
        data = apply_overrides(data, overrides)
        lines = {k: v for k, v in lines.items() if not _overridden(k, overrides)}
        lines.update({split_path(p): None for p in overrides})  # from --set: no line
    base_dir = Path(path).resolve().parent
    return model_from_data(data, base_dir=base_dir, source=str(path), lines=lines)


def _overridden(key: PathKey, overrides: Mapping[str, Any]) -> bool:
    return any(key[: len(split_path(p))] == split_path(p) for p in overrides)


def with_overrides(model: Model, overrides: Mapping[str, Any]) -> Model:
    """A new model: *model* with each dotted path set to its value, revalidated."""
    data = model.model_dump(by_alias=True, exclude_none=True)
    data = apply_overrides(data, overrides)
    return model_from_data(data, base_dir=model.base_dir)


def check_files(model: Model, base_dir: Path) -> list[Problem]:
    """Problems with the data files a model names (empirical distributions, traces)."""
    problems: list[Problem] = []
    for path, spec in _walk(model, ()):
        if getattr(spec, "dist", None) == "empirical":
            try:
                load_empirical(spec, base_dir)
            except ValueError as exc:
                problems.append(Problem(format_path((*path, "file")), str(exc), has_value=False))
        elif isinstance(spec, TraceArrivals):
            from tarsim.config.traces import load_trace

            try:
                _, classes = load_trace(spec, base_dir)
            except ValueError as exc:
                problems.append(Problem(format_path((*path, "file")), str(exc), has_value=False))
                continue
            known = [c.name for c in model.workload.classes]
            unknown = sorted(set(classes or []) - set(known))
            if unknown:
                problems.append(Problem(
                    format_path((*path, "class_column")),
                    f"trace {spec.file!r} names classes that workload.classes lacks: {unknown}",
                    has_value=False,
                ))
    return problems


def _walk(node: Any, path: PathKey) -> Iterable[tuple[PathKey, Any]]:
    if isinstance(node, BaseModel):
        yield path, node
        for name, field in type(node).model_fields.items():
            yield from _walk(getattr(node, name), (*path, field.alias or name))
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, (*path, index))
