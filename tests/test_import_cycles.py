"""The package's import graph has no cycle: modules import each other at module level only one way.

Imports made inside functions are counted too, as edges of the same graph: an import hidden in a function to dodge
a cycle is still a cycle in the design (the modules depend on each other), so one that would close a cycle at
module level fails the test like a module-level cycle. Imports inside functions that close no cycle (the app
factory wiring its blueprints, optional heavy dependencies loaded on first use) are not the test's business.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "archestra"


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom, top: str = "archestra") -> list[str]:
    if node.level == 0:
        base = node.module or ""
    else:
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, *([node.module] if node.module else [])])
    if not base.startswith(top):
        return []
    # ``from . import x`` names submodules; ``from .m import f`` names the module m.
    return [f"{base}.{alias.name}" for alias in node.names] if node.module is None else [base]


def import_graph(function_level: bool, root: Path = ROOT) -> dict[str, set[str]]:
    """module -> the archestra modules it imports (at module level; with ``function_level`` also inside
    functions). ``if TYPE_CHECKING:`` imports are left out: they never run."""
    return {name: {target for target, _ in edges} for name, edges in import_edges(function_level, root).items()}


def import_edges(function_level: bool, root: Path = ROOT) -> dict[str, set[tuple[str, bool]]]:
    """module -> ``(imported module, imported inside a function)`` for each archestra module it imports."""
    modules = {_module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[tuple[str, bool]]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        is_package = path.name == "__init__.py"

        def visit(nodes, in_function: bool) -> None:
            for node in nodes:
                if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                    continue
                inner = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                if isinstance(node, ast.ImportFrom) and (function_level or not in_function):
                    targets = _resolve(name, is_package, node, root.name)
                elif isinstance(node, ast.Import) and (function_level or not in_function):
                    targets = [a.name for a in node.names if a.name.startswith(root.name)]
                else:
                    targets = []
                for target in targets:
                    while target not in modules and "." in target:  # ``from pkg import name`` of a non-module
                        target = target.rsplit(".", 1)[0]
                    # A module importing its own package (``from . import bp``: Flask's blueprint idiom, the
                    # package's __init__ importing its route modules) is how a package is assembled, not a cycle
                    # between two designs; every other edge counts.
                    if target in modules and target != name and not name.startswith(f"{target}."):
                        graph[name].add((target, in_function))
                visit(ast.iter_child_nodes(node), inner)

        visit(tree.body, False)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def function_level_cycles(root: Path = ROOT) -> list[tuple[list[str], list[str]]]:
    """Each cycle of the graph with imports inside functions counted, with the imports inside functions that close
    it (``"a -> b"``): removing any of them, or making it module level and breaking the cycle, is the fix."""
    edges = import_edges(True, root)
    graph = {name: {target for target, _ in found} for name, found in edges.items()}
    return [(cycle, sorted(f"{name} -> {target}" for name in cycle for target, inside in edges[name]
                           if inside and target in cycle))
            for cycle in cycles(graph)]


def test_no_import_cycle_at_module_level():
    assert cycles(import_graph(function_level=False)) == []


def test_no_import_inside_a_function_closes_a_cycle():
    """An import moved into a function to dodge a cycle still fails: the cycle is in the design."""
    assert function_level_cycles() == []


def test_an_import_inside_a_function_that_closes_a_cycle_is_found(tmp_path):
    package = tmp_path / "archestra"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .b import helper\n")
    (package / "b.py").write_text("def helper():\n    from .a import x\n    return x\n")
    (package / "c.py").write_text("def lazy():\n    from . import a\n    return a\n")  # no cycle: not reported

    assert cycles(import_graph(False, package)) == []
    assert function_level_cycles(package) == [(["archestra.a", "archestra.b"], ["archestra.b -> archestra.a"])]
