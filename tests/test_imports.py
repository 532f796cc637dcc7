"""Imports go one way: the core never loads Flask, and no two modules need each other.

The Flask adapter (extension, decorators, context, request_check, signals, cli) sits on
a core that works without an app; within the package, a module that two others need
lives below both of them. Both rules are read from the source, so a lazy import inside a function
cannot hide a cycle.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parent.parent / "src" / "claimguard"
#: The modules that may import Flask; everything else is the core. The package's
#: ``__init__`` re-exports both, and loads each name only when it is first used.
ADAPTER = frozenset(
    {"extension", "decorators", "context", "request_check", "dpop_request", "signals", "cli"}
)
MODULES = sorted(path.stem for path in SOURCE.glob("*.py"))
CORE = [name for name in MODULES if name not in ADAPTER and name != "__init__"]


def _imports(module: str) -> set[str]:
    """The sibling modules ``module`` imports anywhere in its source (``from .x import``,
    ``from . import x``, under ``TYPE_CHECKING`` or inside a function alike)."""
    tree = ast.parse((SOURCE / f"{module}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
    return found & set(MODULES)


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph``, or ``None`` when it is acyclic (depth-first search)."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_the_module_list_is_read() -> None:
    assert {"validation", "extension", "reasons", "request_check"} <= set(MODULES)


def test_no_import_cycle_among_claimguards_modules() -> None:
    graph = {module: _imports(module) for module in MODULES}
    assert _cycle(graph) is None


def test_the_cycle_finder_finds_cycles() -> None:
    """Control: the check above would see a cycle, also a long one."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("module", CORE)
def test_the_core_never_imports_the_adapter(module: str) -> None:
    assert _imports(module) & ADAPTER == set()


def test_importing_the_core_loads_neither_flask_nor_werkzeug() -> None:
    """In a fresh interpreter: every core module imported, no Flask in ``sys.modules``."""
    names = ["claimguard", *(f"claimguard.{name}" for name in CORE)]
    code = (
        "import importlib, json, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('flask', 'werkzeug')]\n"
        "print(json.dumps(sorted(loaded)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(result.stdout) == []
