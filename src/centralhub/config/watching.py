"""The blocking ``/watch`` query over a service's effective configuration: it answers once the
service's own revision, or (when the caller names the one it has) the global one, moves past what
the caller has, and holds otherwise until a change, the timeout, or the hub stopping."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from centralhub.config.documents import check_service_name
from centralhub.config.global_layer import GLOBAL
from centralhub.config.models import ConfigVersion
from centralhub.core.database import is_storage_failure
from centralhub.core.errors import InvalidInput

if TYPE_CHECKING:
    from centralhub.config.service import ConfigService

__all__ = ["MAX_WATCH_TIMEOUT", "watch_effective"]

MAX_WATCH_TIMEOUT = 300.0


async def watch_effective(
    svc: ConfigService,
    tenant: str,
    service: str,
    *,
    revision: int,
    timeout: float,
    interrupt: Callable[[], bool] | None = None,
    global_revision: int | None = None,
) -> ConfigVersion | None:
    check_service_name(service)
    if revision < 0 or (global_revision is not None and global_revision < 0):
        raise InvalidInput(f"revision: must be 0 or more (got {min(revision, global_revision or 0)})")
    if not 0 <= timeout <= MAX_WATCH_TIMEOUT:
        raise InvalidInput(f"timeout: must be 0-{MAX_WATCH_TIMEOUT:g} seconds (got {timeout})")
    key, gkey = (tenant, service), (tenant, GLOBAL)
    keys = [key] if global_revision is None or service == GLOBAL else [key, gkey]
    deadline = time.monotonic() + timeout
    try:
        stale = [k for k in keys if not svc.current.authoritative(k)[0]]  # else memory is current
        if stale:
            found = await svc._latest_revisions(stale)
            for k in stale:
                svc.watcher.advance(k, found.get(k, 0))
    except Exception as exc:
        if not is_storage_failure(exc):
            raise
        # the database is out of reach: this replica's writes and the bus still wake the watch
    with contextlib.ExitStack() as held:
        for k in keys:
            held.enter_context(svc.watcher.holding(k))
        while not svc.watcher.closed:
            own_moved = svc.watcher.known(key) > revision
            global_moved = len(keys) > 1 and svc.watcher.known(gkey) > (global_revision or 0)
            if own_moved or global_moved:
                current = await svc.globals.effective(tenant, service, view=True)
                if current.revision > revision or (
                    len(keys) > 1 and current.global_revision > (global_revision or 0)
                ):
                    return svc.secrets.for_caller(current)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (interrupt is not None and interrupt()):
                return None
            await svc.watcher.wait_any(keys, remaining)
        return None
