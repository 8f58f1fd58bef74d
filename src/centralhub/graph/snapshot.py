"""The dependency graph as a value: an immutable snapshot and the questions it answers.

Edges point from a node to what it needs (``A -> B``: A depends on B). Ordering uses the
standard library's :class:`graphlib.TopologicalSorter` and every traversal is iterative, so a
chain of any length is ordered and analysed without touching the recursion limit.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from graphlib import CycleError, TopologicalSorter
from typing import Any

from centralhub.core.errors import Conflict, NotFound

__all__ = ["DependencyCycle", "Graph"]


class DependencyCycle(Conflict):
    """The declared dependencies contain a cycle; ``details["cycle"]`` names it in order."""

    code = "dependency_cycle"

    def __init__(self, cycle: list[str]) -> None:
        super().__init__("dependency cycle: " + " -> ".join(cycle), details={"cycle": cycle})
        self.cycle = cycle


class Graph:
    """An immutable snapshot: ``edges[a]`` is the set of nodes ``a`` depends on."""

    def __init__(self, edges: Mapping[str, Iterable[str]], kinds: Mapping[str, str]) -> None:
        self.edges: dict[str, set[str]] = {}
        for node, deps in edges.items():
            self.edges.setdefault(node, set()).update(deps)
            for dep in deps:
                self.edges.setdefault(dep, set())
        self.kinds = {n: kinds.get(n, "unknown") for n in self.edges}
        self.reverse: dict[str, set[str]] = {n: set() for n in self.edges}
        for node, deps in self.edges.items():
            for dep in deps:
                self.reverse[dep].add(node)

    @property
    def nodes(self) -> list[str]:
        return sorted(self.edges)

    def _sorter(self) -> TopologicalSorter[str]:
        """A prepared sorter; nodes and edges are fed in name order so results are repeatable."""
        sorter: TopologicalSorter[str] = TopologicalSorter()
        for node in self.nodes:
            sorter.add(node, *sorted(self.edges[node]))
        try:
            sorter.prepare()
        except CycleError as exc:
            raise DependencyCycle(_dependency_order(exc.args[1])) from None
        return sorter

    def find_cycle(self) -> list[str] | None:
        """One cycle as ``[a, b, ..., a]`` (``a`` depends on ``b``, ...), or ``None``."""
        try:
            self._sorter()
        except DependencyCycle as exc:
            return exc.cycle
        return None

    def startup_order(self) -> list[str]:
        """Dependencies before dependents (ties alphabetical); ``DependencyCycle`` if impossible."""
        sorter = self._sorter()
        ready = list(sorter.get_ready())
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            # the smallest name among everything startable now, so the order is one fixed answer
            node = heapq.heappop(ready)
            order.append(node)
            sorter.done(node)
            for nxt in sorter.get_ready():
                heapq.heappush(ready, nxt)
        return order

    def startup_levels(self, order: list[str] | None = None) -> list[list[str]]:
        """The order as waves: everything in one level may start in parallel."""
        level: dict[str, int] = {}
        for node in order if order is not None else self.startup_order():
            level[node] = 1 + max((level[d] for d in self.edges[node]), default=-1)
        waves: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
        for node, n in level.items():
            waves[n].append(node)
        return [sorted(w) for w in waves]

    def impact(self, name: str) -> dict[str, Any]:
        """Everything transitively affected if ``name`` is down, with its distance."""
        if name not in self.edges:
            raise NotFound(f"{name!r} is not in the dependency graph")
        distance = self._distances(name)
        return {
            "name": name,
            "kind": self.kinds[name],
            "direct": sorted(n for n, d in distance.items() if d == 1),
            "affected": sorted(distance, key=lambda n: (distance[n], n)),
            "depth": distance,
        }

    def dependents_of(self, name: str) -> list[str]:
        """Transitive dependents of ``name``, nearest first; empty when it is not in the graph."""
        if name not in self.edges:
            return []
        distance = self._distances(name)
        return sorted(distance, key=lambda n: (distance[n], n))

    def _distances(self, name: str) -> dict[str, int]:
        """Breadth-first over the reverse edges: each dependent of ``name`` and its distance."""
        distance: dict[str, int] = {}
        frontier = [name]
        depth = 0
        while frontier:
            depth += 1
            nxt: list[str] = []
            for node in frontier:
                for dependent in self.reverse[node]:
                    if dependent != name and dependent not in distance:
                        distance[dependent] = depth
                        nxt.append(dependent)
            frontier = nxt
        return distance

    # ------------------------------------------------------------------ exports
    def to_json(self) -> dict[str, Any]:
        try:
            order: list[str] | None = self.startup_order()
            cycle = None
        except DependencyCycle as exc:
            order, cycle = None, exc.cycle
        return {
            "nodes": [{"name": n, "kind": self.kinds[n]} for n in self.nodes],
            "edges": [{"from": a, "to": b} for a in self.nodes for b in sorted(self.edges[a])],
            "cycle": cycle,
            "startup_order": order,
        }

    def to_dot(self) -> str:
        lines = ["digraph dependencies {", "  rankdir=LR;"]
        for n in self.nodes:
            shape = "cylinder" if self.kinds[n] == "infrastructure" else "box"
            lines.append(f'  "{_dot_escape(n)}" [shape={shape}];')
        for a in self.nodes:
            for b in sorted(self.edges[a]):
                lines.append(f'  "{_dot_escape(a)}" -> "{_dot_escape(b)}";')
        lines.append("}")
        return "\n".join(lines) + "\n"

    def to_mermaid(self) -> str:
        ids = {n: f"n{i}" for i, n in enumerate(self.nodes)}
        lines = ["graph LR"]
        for n in self.nodes:
            label = n.replace('"', "'")
            lines.append(
                f'  {ids[n]}[("{label}")]' if self.kinds[n] == "infrastructure" else f'  {ids[n]}["{label}"]'
            )
        for a in self.nodes:
            for b in sorted(self.edges[a]):
                lines.append(f"  {ids[a]} --> {ids[b]}")
        return "\n".join(lines) + "\n"


def _dependency_order(found: list[str]) -> list[str]:
    """graphlib reports a cycle along "is needed by"; turn it around to read as "depends on"
    and start it at its smallest name, so the same cycle is always named the same way."""
    ring = list(reversed(found))[:-1]
    start = ring.index(min(ring))
    ring = ring[start:] + ring[:start]
    return [*ring, ring[0]]


def _dot_escape(name: str) -> str:
    return name.replace("\\", "\\\\").replace('"', '\\"')
