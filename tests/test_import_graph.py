"""The shape of the code (issue #16), read from the source of ``assistant/`` and ``actions/`` with :mod:`ast`.

- **No import circles.** Imports inside functions count as much as those at the top of a module: a deferred
  import is how a circle hides (``zalo → outbox → zalo`` did), and it still ties the two modules together.
  Only imports under ``if TYPE_CHECKING:`` are left out: they never run.
- **No room over 400 lines**: a longer module holds more than one job; split it, or name it in
  :data:`LONGER_ALLOWED` with the reason.
- **Rasa Core has one door**: only the engine package (:data:`RASA_CORE_PACKAGE`) imports ``rasa.core``.
- ``assistant/`` never imports ``actions/`` (the lifespan registers the actions by name).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("assistant", "actions")
MAX_LINES = 400

#: Modules allowed past MAX_LINES: path → why it is still one job. Empty: every room is small enough.
LONGER_ALLOWED: dict[str, str] = {}

#: The only package that may import ``rasa.core``: the engine, our one door to Rasa (ConversationEngine, and the
#: modules it installs that patch Rasa on purpose: in-process actions, the speed-ups, the tracker states).
RASA_CORE_PACKAGE = "assistant/engine/"


@dataclass(frozen=True)
class Import:
    """One import statement: who imports what, on which line."""

    module: str
    target: str
    line: int


@lru_cache(maxsize=1)
def module_files() -> dict[str, Path]:
    """Every module of the packages by dotted name (a package by its ``__init__.py``)."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _under_type_checking(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import of a module, at any depth (functions, methods, try blocks), except under TYPE_CHECKING."""
    found: list[ast.Import | ast.ImportFrom] = []
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If) and _under_type_checking(node):
            pending.extend(node.orelse)
            continue
        pending.extend(ast.iter_child_nodes(node))
    return found


def imports_of(module: str, path: Path) -> list[Import]:
    """What ``module`` imports, each name resolved to a module where it is one (``from a import b``: ``a.b``)."""
    names = set(module_files())
    out = []
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [Import(module, alias.name, node.lineno) for alias in node.names]
            continue
        base = node.module or ""
        if node.level:  # relative: from the module's package, one level up per extra dot
            package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join(package + ([node.module] if node.module else []))
        for alias in node.names:
            candidate = f"{base}.{alias.name}"
            out.append(Import(module, candidate if candidate in names else base, node.lineno))
    return out


def internal_graph() -> dict[str, set[str]]:
    """Module → the modules of our packages it imports (the nearest existing module of each target)."""
    files = module_files()
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        targets = set()
        for found in imports_of(module, path):
            target = found.target
            while target not in files and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in files and target != module:
                targets.add(target)
        graph[module] = targets
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_import_graph_finds_a_circle_hidden_in_a_function(tmp_path: Path) -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]
    source = "from x import y\n\ndef f():\n    from assistant import outbox\n\nif TYPE_CHECKING:\n    import rasa.core\n"
    (tmp_path / "m.py").write_text(source)
    targets = [i.target for i in imports_of("assistant.m", tmp_path / "m.py")]
    assert sorted(targets) == ["assistant.outbox", "x"]


def test_import_graph_has_no_circles() -> None:
    found = circles(internal_graph())
    assert found == [], "import circles (a deferred import counts too): " + "; ".join(" ↔ ".join(c) for c in found)


@pytest.mark.parametrize("package", PACKAGES)
def test_import_graph_no_room_over_400_lines(package: str) -> None:
    too_long = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES and name not in LONGER_ALLOWED:
            too_long[name] = lines
    assert too_long == {}, f"split these (or add them to LONGER_ALLOWED with the reason): {too_long}"


def test_import_graph_only_the_engine_imports_rasa_core() -> None:
    offenders = []
    for module, path in module_files().items():
        name = path.relative_to(ROOT).as_posix()
        for found in imports_of(module, path):
            outside = not name.startswith(RASA_CORE_PACKAGE)
            if (found.target == "rasa.core" or found.target.startswith("rasa.core.")) and outside:
                offenders.append(f"{name}:{found.line} imports {found.target}")
    assert offenders == [], "go through assistant/engine/: " + "; ".join(offenders)


def test_import_graph_assistant_never_imports_actions() -> None:
    graph = internal_graph()
    reaching = sorted(
        module
        for module, targets in graph.items()
        if module.split(".")[0] == "assistant" and any(t.split(".")[0] == "actions" for t in targets)
    )
    assert reaching == [], "assistant/ registers the actions by name, never imports them"
