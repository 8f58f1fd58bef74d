"""The dependency graph of services and infrastructure components.

Edges point from a service to what it needs (``A -> B``: A depends on B). They come from each
registered instance's ``dependencies`` (registration field and ``metadata.dependencies``), from
``service_dependencies`` and component ``dependencies`` in ``infrastructure.yaml``. The graph
is rebuilt from those sources on every read, so it is never stale.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from centralhub.graph.snapshot import DependencyCycle, Graph

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
