"""Dependencies between interp's subpackages point one way: no import cycles.

Every import counts, wherever it sits: at the top of a module, inside a function (a late import
hides an arrow from a reader, not from the design) or under `if TYPE_CHECKING:`. A node is a
subpackage (`interp/probes/`) or a top-level module (`interp/stats.py`); `kernels/` is the node
`kernels`, since it installs as `interp.kernels`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "interp"

# Cycles not broken yet, each with the arrows that make it. Anything else found fails the test.
ALLOWED_CYCLES: dict[frozenset[str], str] = {}


def module_name(path: Path) -> str:
    """`interp/probes/probe.py` -> `interp.probes.probe`; `kernels/x.py` -> `interp.kernels.x`."""
    if path.is_relative_to(PACKAGE):
        parts = ["interp", *path.relative_to(PACKAGE).with_suffix("").parts]
    else:
        parts = ["interp", "kernels", *path.relative_to(ROOT / "kernels").with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str, is_package: bool) -> set[str]:
    """Every module an import statement in `source` names, at any depth, relative ones resolved.

    `from a.b import c` names `a.b` and `a.b.c` (c may be a submodule).

    >>> sorted(imported_modules("def f():\\n    from ..x import y\\n", "interp.a.b", False))
    ['interp.x', 'interp.x.y']
    """
    package = module.split(".") if is_package else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            named = ".".join([*base, *([node.module] if node.module else [])])
            found.add(named)
            found.update(f"{named}.{alias.name}" for alias in node.names)
    return found


def node_of(module: str) -> str | None:
    """The subpackage or top-level module that `module` belongs to; None outside interp."""
    parts = module.split(".")
    if parts[0] != "interp" or len(parts) < 2:
        return None
    name = parts[1]
    exists = (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").is_file() or name == "kernels"
    return name if exists else None  # `from interp import __version__` names no layer


def import_graph() -> dict[str, dict[str, set[str]]]:
    """`graph[a][b]` = the files of node a that import something of node b (b != a)."""
    files = [*PACKAGE.rglob("*.py"), *(ROOT / "kernels").rglob("*.py")]
    graph: dict[str, dict[str, set[str]]] = {}
    for path in files:
        module = module_name(path)
        here = node_of(module)
        if here is None:  # interp/__init__.py: the lazy facade, names every layer by string
            continue
        graph.setdefault(here, {})
        source = path.read_text(encoding="utf-8")
        for name in imported_modules(source, module, path.name == "__init__.py"):
            there = node_of(name)
            if there is not None and there != here:
                graph[here].setdefault(there, set()).add(str(path.relative_to(ROOT)))
    return graph


def cycles(edges: Mapping[str, Iterable[str]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one node: each is a cycle of imports.

    >>> [sorted(group) for group in cycles({"a": ["b"], "b": ["a", "c"], "c": []})]
    [['a', 'b']]
    """
    nodes = set(edges) | {b for targets in edges.values() for b in targets}
    reach: dict[str, set[str]] = {}
    for start in nodes:
        seen, todo = set(), [start]
        while todo:
            for nxt in edges.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        reach[start] = seen
    found: list[frozenset[str]] = []
    for a in sorted(nodes):
        group = frozenset({a} | {b for b in reach[a] if a in reach[b]})
        if len(group) > 1 and group not in found:
            found.append(group)
    return found


def describe(group: frozenset[str], graph: Mapping[str, Mapping[str, set[str]]]) -> str:
    arrows = [
        f"  {a} -> {b}: {', '.join(sorted(files))}"
        for a in sorted(group)
        for b, files in sorted(graph.get(a, {}).items())
        if b in group
    ]
    return f"cycle {sorted(group)}:\n" + "\n".join(arrows)


def test_no_import_cycles_between_subpackages():
    graph = import_graph()
    found = cycles(graph)
    unexpected = [describe(g, graph) for g in found if g not in ALLOWED_CYCLES]
    assert not unexpected, "imports go both ways:\n" + "\n".join(unexpected)
    # An allowed cycle that is gone should leave the list, so the list only ever shrinks.
    stale = [sorted(g) for g in ALLOWED_CYCLES if g not in found]
    assert not stale, f"these allowed cycles are gone; remove them from ALLOWED_CYCLES: {stale}"


def test_the_graph_sees_late_relative_and_type_only_imports(tmp_path):
    source = (
        "from typing import TYPE_CHECKING\n"
        "import interp.hooks.names\n"
        "if TYPE_CHECKING:\n"
        "    from interp.store import artifacts\n"
        "def f():\n"
        "    from ..probes.probe import LinearProbe\n"
        "    from . import aggregators\n"
    )
    names = imported_modules(source, "interp.directions.direction_set", is_package=False)
    assert {node_of(n) for n in names} >= {"hooks", "store", "probes", "directions"}
    assert "interp.directions.aggregators" in names


def test_kernels_import_nothing_of_interp():
    """kernels/ runs on torch and triton alone (and installs without the rest)."""
    assert import_graph().get("kernels", {}) == {}


def test_typed_results_are_data_below_studies_and_reports():
    """interp/results holds what studies return and reports read: it imports neither, so a report
    never reaches back into a study and a study may hand its result to a report."""
    reached = set(import_graph().get("results", {}))
    assert not reached & {"experiments", "reports", "cli", "models", "capture"}, reached
