"""The layers of the code: a module imports only from its own layer or a lower one,
and the library never prints, exits or reads argv."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tarsim"

LAYERS = ["vocabulary", "config", "components", "run", "summary", "levels", "metrics",
          "executors", "sweep", "replications", "calibrate", "sensitivity", "scenarios",
          "report", "questions",
          "api_studies", "api", "cli_options", "cli_input", "cli_studies", "cli_calibrate",
          "cli"]
"""Lowest first. `tarsim/__init__.py` and `__main__.py` stand outside the layers."""


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "tarsim" or len(parts) < 2:
        return None
    return LAYERS.index(parts[1]) if parts[1] in LAYERS else None


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.name not in ("__init__.py",
                                                                     "__main__.py")
                  or p.parent != PACKAGE)


def imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return found


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    return ".".join(rel.parts)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_down_the_layers(path: Path) -> None:
    """No module imports from a higher layer."""
    own = layer_of(module_name(path))
    if own is None:
        return
    upward = [m for m in imports(path) if (layer_of(m) or -1) > own]
    assert not upward, f"{module_name(path)} imports from higher layers: {upward}"


@pytest.mark.parametrize("path", [p for p in modules() if not p.name.startswith("cli")],
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_library_does_not_print_or_exit(path: Path) -> None:
    """Only the CLI prints, exits or reads sys.argv."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in ("print", "exit", "quit"), f"{path}: {node.func.id}()"
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            assert (node.value.id, node.attr) not in (("sys", "exit"), ("sys", "argv")), path


SIBLINGS = ("sweep", "calibrate", "scenarios")
"""Packages side by side above the metrics: each stands on the layers below, not on
another sibling."""
DECLARED_SIBLING_IMPORTS: frozenset[tuple[str, str]] = frozenset()
"""(importer, imported) pairs of siblings allowed to depend on each other; declare
one here, with the reason, before adding such an import."""


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_siblings_do_not_import_each_other(path: Path) -> None:
    """sweep, calibrate and scenarios import one another only where declared."""
    own = module_name(path).split(".")
    if own[1] not in SIBLINGS:
        return
    crossing = [m for m in imports(path) if m.split(".")[0] == "tarsim" and len(m.split(".")) > 1
                and m.split(".")[1] in SIBLINGS and m.split(".")[1] != own[1]
                and (own[1], m.split(".")[1]) not in DECLARED_SIBLING_IMPORTS]
    assert not crossing, f"{module_name(path)} imports a sibling package: {crossing}"


def private_imports(path: Path) -> list[str]:
    """Names starting with ``_`` that *path* imports from another tarsim module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.startswith("tarsim"):
            found += [f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    return found


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_another_modules_private_names(path: Path) -> None:
    """A module uses another's public names only (``from x import _y`` reaches into
    x's private state)."""
    assert not private_imports(path), f"{module_name(path)}: {private_imports(path)}"


def internal_imports(path: Path) -> set[str]:
    """The tarsim modules *path* imports (any import, also under TYPE_CHECKING): a
    ``from package import name`` names the submodule when *name* is one."""
    found = set()
    own = module_name(path)
    package = own if path.name == "__init__.py" else own.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                found.add(sub if module_path(sub) is not None else source)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {m.removesuffix(".__init__") for m in found
            if m.startswith("tarsim.") and module_path(m) is not None} - {own}


def module_path(name: str) -> Path | None:
    """The file of tarsim module *name* (a package's ``__init__.py``), if there is one."""
    base = PACKAGE.parent.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def package_of(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rsplit(".", 1)[0]


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle of *graph* as a list of nodes (first = last), or [] when it is a DAG."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        stack.pop()
        return []

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return []


def packages() -> list[str]:
    return sorted({package_of(module_name(p), p).removesuffix(".__init__")
                   for p in PACKAGE.rglob("*.py")})


@pytest.mark.parametrize("package", packages())
def test_no_import_cycles_inside_a_package(package: str) -> None:
    """The modules directly in one package import one another along a DAG (a
    package's ``__init__`` counts as one of its modules)."""
    members = {}
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path).removesuffix(".__init__")
        if name == package or name.rsplit(".", 1)[0] == package:
            members[name] = path
    graph = {name: {m for m in internal_imports(path) if m in members}
             for name, path in members.items()}
    assert not find_cycle(graph), f"import cycle in {package}: {' -> '.join(find_cycle(graph))}"


def test_cycle_finder_finds_a_cycle() -> None:
    """The cycle check can fail: a two-module cycle is found, a chain is not."""
    assert find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) == []
