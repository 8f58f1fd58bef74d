"""Consul service and check IDs to hub instances, without a scan per request.

A Consul agent client reports its TTL check every few seconds by check ID; finding that ID by
walking every instance of the namespace made each report cost as much as the namespace is large.
The lookup remembers where an ID was found last and checks that the instance is still there and
still carries the ID (one dictionary read); only an ID it has not seen, or one that moved, costs
a scan, and the answer is remembered for the next report.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from centralhub.registry.models import Instance

__all__ = ["IdLookup"]

#: remembered IDs at most: a bound, so made-up IDs cannot grow memory without end
MAX_REMEMBERED = 100_000


class IdLookup:
    def __init__(self, registry: Any) -> None:
        self.registry = registry
        self._where: dict[tuple[str, str, str], tuple[str, str]] = {}

    def find(self, tenant: str, kind: str, wanted: str, id_of: Callable[[Instance], str]) -> Instance | None:
        """The instance of ``tenant`` whose ``id_of`` is ``wanted``; ``kind`` keeps service IDs
        and check IDs apart."""
        key = (tenant, kind, wanted)
        place = self._where.get(key)
        if place is not None:
            inst = self.registry.held(tenant, place[0], place[1])
            if inst is not None and id_of(inst) == wanted:
                return inst
            del self._where[key]
        for inst in self.registry.all_instances(tenant):
            if id_of(inst) == wanted:
                if len(self._where) >= MAX_REMEMBERED:
                    self._where.clear()
                self._where[key] = (inst.service_name, inst.id)
                return inst
        return None
