"""The memory copy of each service's current configuration, answered while the database is down.

A service that reads its configuration at start must not fail to start because the hub's
database is briefly unreachable: the hub keeps the newest stored version of every service it has
loaded, read or written, and serves it when a read cannot reach the database. The copy is kept
coherent by this replica's own writes and reads, and it is served only while no newer revision
is known: another replica's change, announced on the bus or found by the revision check, makes
it stale, and a stale copy is never answered (the read is refused with 503 instead).
"""

from __future__ import annotations

from collections.abc import Iterable

from centralhub.config.models import ConfigVersion
from centralhub.config.watch import Key, RevisionWatcher
from centralhub.core.database import is_storage_failure
from centralhub.core.errors import StorageUnavailable


class CurrentVersions:
    """Newest stored version per (tenant, service), as stored (secrets sealed)."""

    def __init__(self, watcher: RevisionWatcher) -> None:
        self.watcher = watcher
        self._held: dict[Key, ConfigVersion] = {}

    def __len__(self) -> int:
        return len(self._held)

    def remember(self, version: ConfigVersion) -> None:
        """Keep ``version`` unless a newer one is held; it also advances the known revision."""
        key = (version.tenant_id, version.service_name)
        held = self._held.get(key)
        if held is None or version.revision >= held.revision:
            self._held[key] = version
        self.watcher.advance(key, version.revision)

    def remember_all(self, versions: Iterable[ConfigVersion]) -> None:
        for version in versions:
            self.remember(version)

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
