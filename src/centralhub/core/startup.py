"""What ``centralhub serve`` makes sure of before it starts serving: a reachable database that
no other hub is using when that database is a SQLite file.

Hub replicas and their database often start together (a compose file, a cluster restart), so
an unreachable database is tried again with a growing pause for ``CENTRAL_HUB_STARTUP_TIMEOUT``
seconds, one log line per attempt, before the hub gives up with one line (no traceback).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import time
from pathlib import Path
from typing import IO

from centralhub.core.database import Database, describe_url, is_storage_failure
from centralhub.core.settings import Settings

log = logging.getLogger(__name__)

#: pause after the first failed attempt; it doubles up to :data:`MAX_PAUSE`
FIRST_PAUSE = 0.5
MAX_PAUSE = 5.0


class StartupRefused(Exception):
    """The hub cannot start; ``str()`` is the one line to print."""


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (``None`` for PostgreSQL or an in-memory database)."""
    scheme, _, rest = url.partition("://")
    if not scheme.startswith("sqlite"):
        return None
    path = rest.removeprefix("/")
    if not path or path == ":memory:":
        return None
    return Path(path)


def lock_sqlite_file(url: str) -> IO[str] | None:
    """Take the exclusive lock ``<database>.lock`` beside a SQLite file for this process's life.

    Two hubs on one SQLite file would each answer from their own memory and never see the
    other's registrations (SQLite has no bus between processes), so the second one refuses to
    start. The lock is released by the operating system when the process ends, however it ends.
    Returns the open lock file, which the caller keeps referenced; ``None`` when not SQLite."""
    path = sqlite_path(url)
    if path is None:
        return None
    lock_path = path.with_name(path.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    handle = lock_path.open("a+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip()
        handle.close()
        who = f" (pid {holder})" if holder.isdigit() else ""
        raise StartupRefused(
            f"another hub{who} is already serving the SQLite database {path} (lock {lock_path} is held); "
            "a SQLite database serves one hub: stop it, or use PostgreSQL for several replicas"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


async def wait_for_database(url: str, timeout: float) -> None:
    """Return once the database answers; :class:`StartupRefused` after ``timeout`` seconds of
    failed attempts, or at once for an error that waiting cannot cure (bad credentials, no such
    database)."""
    where = describe_url(url)
    database = Database(url)
    deadline = time.monotonic() + timeout
    pause = FIRST_PAUSE
    attempt = 0
    try:
        while True:
            attempt += 1
            try:
                async with asyncio.timeout(max(1.0, min(10.0, deadline - time.monotonic()))):
                    await database.ping()
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}".replace(url, where)
                if not is_storage_failure(exc) and not isinstance(exc, TimeoutError):
                    raise StartupRefused(f"database {where} refused the hub: {reason}") from None
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StartupRefused(
                        f"database {where} unreachable for {timeout:g}s "
                        f"(CENTRAL_HUB_STARTUP_TIMEOUT), giving up: {reason}"
                    ) from None
                wait = min(pause, left)
                log.warning(
                    "database %s unreachable (attempt %d: %s); retrying in %.1fs",
                    where,
                    attempt,
                    reason,
                    wait,
                )
                await asyncio.sleep(wait)
                pause = min(pause * 2, MAX_PAUSE)
                continue
            if attempt > 1:
                log.info("database %s reachable after %d attempts", where, attempt)
            return
    finally:
        with contextlib.suppress(Exception):
            await database.close()


def prepare_storage(settings: Settings) -> IO[str] | None:
    """Everything :func:`lock_sqlite_file` and :func:`wait_for_database` check, in order; returns
    the lock file to keep open while the hub runs."""
    lock = lock_sqlite_file(settings.database_url)
    if sqlite_path(settings.database_url) is None:
        asyncio.run(wait_for_database(settings.database_url, settings.startup_timeout_seconds))
    return lock
