"""When each instance next needs a look from the TTL reaper.

Scanning every instance on every reaper pass costs time in proportion to the whole registry
each second, and stalls every request for as long. The queue hands the reaper only instances
whose recorded deadline has passed. Heartbeats do not touch it: a deadline is a lower bound,
so when one comes up the reaper checks the instance's real ``last_seen`` and, if it was
heartbeating meanwhile, schedules it again at its new deadline. Each instance thus comes up
about once per TTL, whatever the heartbeat rate.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable


class ExpiryQueue:
    """Instance ids ordered by the time they are due; at most one live entry per id."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, str]] = []
        #: each scheduled id's due time; heap entries that disagree with it are stale
        self._due: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, instance_id: object) -> bool:
        return instance_id in self._due

    def due_at(self, instance_id: str) -> float | None:
        return self._due.get(instance_id)

    def schedule(self, instance_id: str, due: float) -> None:
        """Make ``instance_id`` come up no later than ``due`` (an earlier schedule stands)."""
        current = self._due.get(instance_id)
        if current is not None and current <= due:
            return
        self._due[instance_id] = due
        heapq.heappush(self._heap, (due, instance_id))
        self._compact()

    def schedule_many(self, entries: Iterable[tuple[str, float]]) -> None:
        """:meth:`schedule` for many ids at once: one heapify when they are many beside the
        queue (a first load), a push each when they are few (each later chunk of a load)."""
        added: list[tuple[float, str]] = []
        for instance_id, due in entries:
            current = self._due.get(instance_id)
            if current is None or due < current:
                self._due[instance_id] = due
                added.append((due, instance_id))
        if len(added) * 4 >= len(self._heap):
            self._heap.extend(added)
            heapq.heapify(self._heap)
        else:
            for entry in added:
                heapq.heappush(self._heap, entry)

    def discard(self, instance_id: str) -> None:
        """Forget ``instance_id`` (its heap entry goes when it comes up)."""
        self._due.pop(instance_id, None)

    def pop_due(self, now: float) -> list[str]:
        """The ids due at ``now`` or before, earliest first; they are no longer scheduled."""
        out: list[str] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            due, instance_id = heapq.heappop(heap)
            if self._due.get(instance_id) == due:
                del self._due[instance_id]
                out.append(instance_id)
        return out

    def _compact(self) -> None:
        # discarded and superseded entries wait in the heap until due; should they come to
        # outnumber the live ones (many removals with long TTLs), rebuild without them
        if len(self._heap) > 2 * len(self._due) + 1024:
            self._heap = [(d, i) for i, d in self._due.items()]
            heapq.heapify(self._heap)
