"""cwmetrics_core's modules import each other without a cycle (type-only imports too).

A cycle (``_model`` <-> ``_wire`` was one, through a ``TYPE_CHECKING`` import) makes the
import order matter and hides which concern depends on which.
"""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parent.parent / "cwmetrics_core"


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module == "cwmetrics_core":
            found.add("__init__")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "cwmetrics_core."
        ):
            found.add((node.module or "").split(".")[1])
    return found


def test_no_import_cycles_in_the_core() -> None:
    graph = {p.stem: _imports(p) - {p.stem} for p in CORE.glob("*.py") if p.stem != "__init__"}
    graph = {name: {d for d in deps if d in graph} for name, deps in graph.items()}
    cycles: list[list[str]] = []

    def visit(name: str, path: list[str]) -> None:
        for dep in sorted(graph[name]):
            if dep in path:
                cycles.append([*path[path.index(dep) :], dep])
            elif not any(dep in c for c in cycles):
                visit(dep, [*path, dep])

    for name in sorted(graph):
        visit(name, [name])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)
