"""The memory view of each service's current configuration: what reads answer from.

Every service reads its configuration at start and whenever it is told of a change, so the
current version of each (tenant, service) is kept here, loaded in one query at start and kept
coherent by this replica's own writes and by the other replicas' broadcasts. A held version is
answered only while no newer revision is known: another replica's change, announced on the bus
or found by the revision check, makes it stale, and a stale copy is never answered as current
(the read goes to the database instead, or is refused with 503 when the database is down).

The window in which a replica can still answer the previous revision after another replica
acknowledged a write is the time the bus takes to carry the announcement (well under a
millisecond on one host); a lost announcement is caught by the revision check within
``safety_poll_interval`` (see :mod:`centralhub.config.watch`).

Answers are serialized once per revision and per what a caller may see (secrets decrypted or
masked), so a read of an unchanged configuration costs a dictionary look-up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from centralhub.config.models import ConfigVersion
from centralhub.config.secrets import masked_paths
from centralhub.config.watch import Key, RevisionWatcher
from centralhub.core.database import is_storage_failure
from centralhub.core.errors import StorageUnavailable

#: ``render(version, full) -> body``: the answer to a caller who may (or may not) see secrets
Renderer = Callable[[ConfigVersion, bool], bytes]


class CurrentVersions:
    """Newest stored version per (tenant, service), as stored (secrets sealed)."""

    def __init__(self, watcher: RevisionWatcher) -> None:
        self.watcher = watcher
        self._held: dict[Key, ConfigVersion] = {}
        #: per key: ((revision, global revision), whether it holds secrets, {full: body})
        self._bodies: dict[Key, tuple[tuple[int, int], bool, dict[bool, bytes]]] = {}
        #: set once the start-up load succeeded: until then a missing key proves nothing
        self.loaded = False
        #: reads answered from a serialized body, and reads that had to render one
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._held)

    def remember(self, version: ConfigVersion) -> None:
        """Keep ``version`` unless a newer one is held; it also advances the known revision."""
        key = (version.tenant_id, version.service_name)
        held = self._held.get(key)
        if held is None or version.revision >= held.revision:
            if held is None or version.revision > held.revision:
                self._bodies.pop(key, None)
            self._held[key] = version
        self.watcher.advance(key, version.revision)

    def remember_all(self, versions: Iterable[ConfigVersion]) -> None:
        for version in versions:
            self.remember(version)

    def replace_all(self, versions: Iterable[ConfigVersion]) -> None:
        """Hold exactly ``versions`` (a restored backup may have removed or rewritten some)."""
        self._held.clear()
        self._bodies.clear()
        self.remember_all(versions)
        self.loaded = True

    def fresh(self, key: Key) -> ConfigVersion | None:
        """The held version of ``key`` when it is current as far as this replica knows.

        ``None`` when nothing is held, when a newer revision is known, or while the shared bus
        is disconnected (other replicas' changes would not reach this replica then)."""
        held = self._held.get(key)
        if held is None or held.revision < self.watcher.known(key) or not self.following():
            return None
        return held

    def authoritative(self, key: Key) -> tuple[bool, ConfigVersion | None]:
        """``(True, current)`` when memory knows the current version of ``key`` (``None``: none
        stored yet), ``(False, None)`` when the database must be asked."""
        if not self.loaded or not self.following():
            return False, None
        held = self.fresh(key)
        if held is not None:
            return True, held
        if key not in self._held and self.watcher.known(key) == 0:
            return True, None
        return False, None

    def following(self) -> bool:
        """Whether other replicas' changes reach this replica: an in-process bus has no other
        replica on it (the revision check covers replicas sharing a database without NATS)."""
        bus = self.watcher.bus
        return bus.name == "memory" or bus.connected

    def body(self, version: ConfigVersion, full: bool, render: Renderer) -> bytes:
        """The answer for ``version`` (the current one, or the current one merged with the
        current global one), rendered once per (revision, global revision) and visibility."""
        key = (version.tenant_id, version.service_name)
        stamp = (version.revision, version.global_revision)
        held = self._held.get(key)
        if (held.revision if held is not None else 0) != version.revision:
            self.misses += 1
            return render(version, full)  # not the current version: nothing to cache it under
        cached = self._bodies.get(key)
        if cached is None or cached[0] != stamp:
            cached = (stamp, bool(masked_paths(version.config)), {})
            self._bodies[key] = cached
        # without secrets both callers see the same document: one body serves them all
        variant = full if cached[1] else True
        out = cached[2].get(variant)
        if out is None:
            self.misses += 1
            out = cached[2][variant] = render(version, variant)
        else:
            self.hits += 1
        return out

    def instead_of(self, key: Key, error: Exception) -> ConfigVersion:
        """The held version of ``key`` in place of a read that failed with ``error``.

        Anything but an outage is re-raised; without a current copy the read is refused with
        :class:`StorageUnavailable`."""
        if not is_storage_failure(error):
            raise error
        held = self._held.get(key)
        if held is not None and held.revision >= self.watcher.known(key):
            return held
        raise StorageUnavailable(
            f"the database is unreachable and no current configuration of {key[1]!r} is held in memory"
        ) from error
