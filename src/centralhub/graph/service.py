"""The dependency graph of services and infrastructure components.

Edges point from a service to what it needs (``A -> B``: A depends on B). They come from each
registered instance's ``dependencies`` (registration field and ``metadata.dependencies``), from
``service_dependencies`` and component ``dependencies`` in ``infrastructure.yaml``. The graph
is rebuilt from those sources on every read (cheap: a few hundred nodes), so it is never stale.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from centralhub.core.errors import Conflict, NotFound
from centralhub.registry.service import InstanceRegistry

__all__ = ["DependencyCycle", "DependencyGraph", "Graph"]


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

    def find_cycle(self) -> list[str] | None:
        """One cycle as ``[a, b, ..., a]``, or ``None``."""
        white, grey, black = 0, 1, 2
        color = dict.fromkeys(self.edges, white)
        stack: list[str] = []

        def visit(node: str) -> list[str] | None:
            color[node] = grey
            stack.append(node)
            for dep in sorted(self.edges[node]):
                if color[dep] == grey:
                    return stack[stack.index(dep) :] + [dep]
                if color[dep] == white:
                    found = visit(dep)
                    if found:
                        return found
            stack.pop()
            color[node] = black
            return None

        for node in self.nodes:
            if color[node] == white:
                found = visit(node)
                if found:
                    return found
        return None

    def startup_order(self) -> list[str]:
        """Dependencies before dependents (ties alphabetical); ``DependencyCycle`` if impossible."""
        cycle = self.find_cycle()
        if cycle:
            raise DependencyCycle(cycle)
        remaining = {n: len(deps) for n, deps in self.edges.items()}
        ready = sorted(n for n, count in remaining.items() if count == 0)
        order: list[str] = []
        while ready:
            node = ready.pop(0)
            order.append(node)
            for dependent in self.reverse[node]:
                remaining[dependent] -= 1
                if remaining[dependent] == 0:
                    ready.append(dependent)
            ready.sort()
        return order

    def startup_levels(self) -> list[list[str]]:
        """The order as waves: everything in one level may start in parallel."""
        level: dict[str, int] = {}
        for node in self.startup_order():
            level[node] = 1 + max((level[d] for d in self.edges[node]), default=-1)
        waves: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
        for node, n in level.items():
            waves[n].append(node)
        return [sorted(w) for w in waves]

    def impact(self, name: str) -> dict[str, Any]:
        """Everything transitively affected if ``name`` is down, with its distance."""
        if name not in self.edges:
            raise NotFound(f"{name!r} is not in the dependency graph")
        distance: dict[str, int] = {}
        frontier = [name]
        depth = 0
        while frontier:
            depth += 1
            nxt: list[str] = []
            for node in frontier:
                for dependent in sorted(self.reverse[node]):
                    if dependent != name and dependent not in distance:
                        distance[dependent] = depth
                        nxt.append(dependent)
            frontier = nxt
        return {
            "name": name,
            "kind": self.kinds[name],
            "direct": sorted(n for n, d in distance.items() if d == 1),
            "affected": sorted(distance, key=lambda n: (distance[n], n)),
            "depth": distance,
        }

    def dependents_of(self, name: str) -> list[str]:
        """Transitive dependents of ``name``; empty when it is not in the graph."""
        if name not in self.edges:
            return []
        return list(self.impact(name)["affected"])

    # ------------------------------------------------------------------ exports
    def to_json(self) -> dict[str, Any]:
        cycle = self.find_cycle()
        return {
            "nodes": [{"name": n, "kind": self.kinds[n]} for n in self.nodes],
            "edges": [{"from": a, "to": b} for a in self.nodes for b in sorted(self.edges[a])],
            "cycle": cycle,
            "startup_order": None if cycle else self.startup_order(),
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


def _dot_escape(name: str) -> str:
    return name.replace("\\", "\\\\").replace('"', '\\"')


class DependencyGraph:
    """Builds :class:`Graph` snapshots from the registry and the infrastructure file."""

    def __init__(
        self,
        registry: InstanceRegistry,
        *,
        service_dependencies: Mapping[str, Iterable[str]] | None = None,
        components: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.registry = registry
        #: from ``infrastructure.yaml``: service -> components/services it requires
        self.service_dependencies = {k: list(v) for k, v in (service_dependencies or {}).items()}
        #: infrastructure component -> the components it depends on
        self.components = {k: list(v) for k, v in (components or {}).items()}

    def dependents_of(self, name: str, tenant: str | None = None) -> list[str]:
        """Everything transitively depending on ``name`` (alerts, infrastructure status)."""
        return self.build(tenant).dependents_of(name)

    def build(self, tenant: str | None = "default") -> Graph:
        """The graph of ``tenant``'s services (all tenants when ``None``) plus the infrastructure."""
        edges: dict[str, set[str]] = {}
        kinds: dict[str, str] = {}
        for name, component_deps in self.components.items():
            edges.setdefault(name, set()).update(component_deps)
            kinds[name] = "infrastructure"
        for name, requires in self.service_dependencies.items():
            edges.setdefault(name, set()).update(requires)
            kinds.setdefault(name, "service")
        for inst in self.registry.all_instances(tenant):
            edges.setdefault(inst.service_name, set()).update(inst.dependencies)
            kinds[inst.service_name] = "service"
        for targets in list(edges.values()):
            for dep in targets:
                kinds.setdefault(dep, "service")
        return Graph(edges, kinds)
