"""The package's modules import each other without circles.

Every ``import`` of every module under ``src/visionflow`` is read with :mod:`ast` — at the top of
the module and inside functions alike (a lazy import inside a function still ties the two modules
together); imports under ``if TYPE_CHECKING:`` are for type checkers only and are left out. The
graph of module → imported module must be acyclic.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "visionflow"


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _type_checking_only(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth, except those under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        children = list(ast.iter_child_nodes(node))
        if _type_checking_only(node):
            children = [c for c in children if c not in node.body]  # type: ignore[attr-defined]
        stack.extend(children)


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                # "from pkg import mod" imports the module pkg.mod; "from mod import name" mod
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                    for a in node.names
                ]
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def _path(graph: dict[str, set[str]], start: str, component: set[str]) -> list[str]:
    """One circle through ``start`` inside ``component``, for the failure message."""
    trail = [start]
    seen = {start}
    while True:
        nxt = sorted(graph[trail[-1]] & component)
        if start in nxt and len(trail) > 1:
            return [*trail, start]
        unvisited = [n for n in nxt if n not in seen]
        if not unvisited:
            return [*trail, nxt[0]] if nxt else trail
        trail.append(unvisited[0])
        seen.add(unvisited[0])


def _describe(graph: dict[str, set[str]], cycles: list[list[str]]) -> str:
    return "\n".join(" -> ".join(_path(graph, c[0], set(c))) for c in cycles)


def test_the_graph_reader_sees_lazy_imports() -> None:
    graph = _graph()

    # validate imports detect_kind inside validate_file, nvinfer's reader at the top
    assert "visionflow.compat.deepstream.detect" in graph["visionflow.validate"]
    assert "visionflow.infer.config" in graph["visionflow.compat.deepstream.nvinfer"]
    # cli imports App only for type checkers, and app at run time inside a function
    assert "visionflow.app" in graph["visionflow.cli"]


def test_the_cycle_finder_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

    assert _cycles(graph) == [["a", "b", "c"]]
    assert _describe(graph, _cycles(graph)) == "a -> b -> c -> a"


def test_the_inference_config_does_not_import_the_deepstream_front_end() -> None:
    graph = _graph()
    reachable, todo = set(), ["visionflow.infer.config"]
    while todo:
        for nxt in graph[todo.pop()] - reachable:
            reachable.add(nxt)
            todo.append(nxt)

    assert not {m for m in reachable if m.startswith("visionflow.compat.")}


def test_the_package_has_no_import_circles() -> None:
    graph = _graph()
    cycles = _cycles(graph)

    assert cycles == [], _describe(graph, cycles)
