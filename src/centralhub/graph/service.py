"""The dependency graph of services and infrastructure components.

Edges point from a service to what it needs (``A -> B``: A depends on B). They come from each
registered instance's ``dependencies`` (registration field and ``metadata.dependencies``), from
``service_dependencies`` and component ``dependencies`` in ``infrastructure.yaml``.

A snapshot is kept until a service's dependencies change: every new alert asks for the graph,
and rebuilding it from every registered instance each time would make a wave of alerts (many
instances expiring together) cost the number of alerts times the size of the registry. A
registry change marks its service; the next read recomputes only the marked services'
dependencies, and builds a new snapshot only when one of them differs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from centralhub.graph.snapshot import DependencyCycle, Graph

ServiceKey = tuple[str, str]

if TYPE_CHECKING:
    from centralhub.registry.service import InstanceRegistry

__all__ = ["DependencyCycle", "DependencyGraph", "Graph"]


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
        #: per (tenant, service) with instances: the union of their dependencies
        self._needs: dict[ServiceKey, frozenset[str]] = {}
        #: services changed since the last read; ``None`` until the first read takes them all
        self._stale: set[ServiceKey] | None = None
        #: snapshots by tenant (``None``: all tenants)
        self._graphs: dict[str | None, Graph] = {}
        registry.add_change_listener(self._on_change)

    def _on_change(self, tenant: str, service: str) -> None:
        # inline on every registry change: keep it a set insertion
        if self._stale is not None:
            self._stale.add((tenant, service))

    def _refresh(self) -> None:
        if self._stale is None:
            needs: dict[ServiceKey, set[str]] = {}
            for inst in self.registry.all_instances():
                needs.setdefault((inst.tenant_id, inst.service_name), set()).update(inst.dependencies)
            self._needs = {key: frozenset(deps) for key, deps in needs.items()}
            self._stale = set()
            self._graphs.clear()
            return
        stale, self._stale = self._stale, set()
        for key in stale:
            instances = self.registry.instances(*key)
            now = frozenset(d for i in instances for d in i.dependencies) if instances else None
            if now == self._needs.get(key):
                continue
            if now is None:
                del self._needs[key]
            else:
                self._needs[key] = now
            self._graphs.pop(key[0], None)
            self._graphs.pop(None, None)

    def dependents_of(self, name: str, tenant: str | None = None) -> list[str]:
        """Everything transitively depending on ``name`` (alerts, infrastructure status)."""
        return self.build(tenant).dependents_of(name)

    def build(self, tenant: str | None = "default") -> Graph:
        """The graph of ``tenant``'s services (all tenants when ``None``) plus the infrastructure."""
        self._refresh()
        graph = self._graphs.get(tenant)
        if graph is None:
            graph = self._graphs[tenant] = self._assemble(tenant)
        return graph

    def _assemble(self, tenant: str | None) -> Graph:
        edges: dict[str, set[str]] = {}
        kinds: dict[str, str] = {}
        for name, component_deps in self.components.items():
            edges.setdefault(name, set()).update(component_deps)
            kinds[name] = "infrastructure"
        for name, requires in self.service_dependencies.items():
            edges.setdefault(name, set()).update(requires)
            kinds.setdefault(name, "service")
        for (service_tenant, service), needs in self._needs.items():
            if tenant is None or service_tenant == tenant:
                edges.setdefault(service, set()).update(needs)
                kinds[service] = "service"
        for targets in list(edges.values()):
            for dep in targets:
                kinds.setdefault(dep, "service")
        return Graph(edges, kinds)
