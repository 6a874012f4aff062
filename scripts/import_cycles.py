"""Import cycles in the tree: strongly-connected components of the module graph and of the package graphs.

`python scripts/import_cycles.py` builds the import graph with grimp (import-linter's engine; lazy
imports inside functions count, `if TYPE_CHECKING:` imports too) and prints every cycle it finds at three
levels: modules; inside every package, its children (modules and subpackages, each subpackage standing
for everything under it: the granularity of import-linter's layers); and the top-level units (gateway,
dedup, training, experiments, and each of codesieve's children: core, cli_io, testing, cli, app). Exit status 1 when any
level has a cycle, so `make check` can run it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable

import grimp

ROOTS = ("codesieve", "gateway", "dedup", "training", "experiments")


def strongly_connected(nodes: Iterable[str], edges: Callable[[str], Iterable[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative): the components with more than one node, or a node importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(nodes):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(edges(root)))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, todo = work[-1]
            if todo:
                nxt = todo.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(edges(nxt))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
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
                if len(component) > 1 or node in edges(node):
                    found.append(sorted(component))
    return found


def _folded(graph: grimp.ImportGraph, fold: Callable[[str], str]) -> Callable[[str], set[str]]:
    out: dict[str, set[str]] = {}
    for module in graph.modules:
        here = fold(module)
        out.setdefault(here, set()).update(
            fold(m) for m in graph.find_modules_directly_imported_by(module) if fold(m) != here
        )
    return lambda node: out.get(node, set())


def _child_of(package: str, module: str) -> str | None:
    """The child of `package` (a module or a subpackage) that holds `module`, or None outside it."""
    if not module.startswith(package + "."):
        return None
    return package + "." + module[len(package) + 1 :].split(".", 1)[0]


def _inside(graph: grimp.ImportGraph, package: str) -> Callable[[str], set[str]]:
    """The import graph among a package's children, each child standing for everything under it."""
    out: dict[str, set[str]] = {}
    for module in graph.find_descendants(package):
        here = _child_of(package, module)
        assert here is not None
        for imported in graph.find_modules_directly_imported_by(module):
            there = _child_of(package, imported)
            if there is not None and there != here:
                out.setdefault(here, set()).add(there)
    return lambda node: out.get(node, set())


def _unit(module: str) -> str:
    """The top-level package; codesieve's children (core, cli_io, testing, the top layer) each on their own."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "codesieve" and len(parts) > 1 else parts[0]


def main() -> int:
    graph = grimp.build_graph(*ROOTS, include_external_packages=False, cache_dir=None)
    modules = sorted(graph.modules)
    levels: list[tuple[str, list[str], Callable[[str], Iterable[str]]]] = [
        ("modules", modules, graph.find_modules_directly_imported_by),
    ]
    for package in sorted(m for m in modules if graph.find_children(m)):
        children = sorted(graph.find_children(package))
        levels.append((f"children of {package}", children, _inside(graph, package)))
    levels.append(("top-level units", sorted({_unit(m) for m in modules}), _folded(graph, _unit)))
    cycles = 0
    for name, nodes, edges in levels:
        components = strongly_connected(nodes, edges)
        cycles += len(components)
        sys.stdout.write(f"{name}: {len(nodes)} nodes, {len(components)} cycle(s)\n")
        for component in components:
            sys.stdout.write("  " + " <-> ".join(component) + "\n")
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main())
