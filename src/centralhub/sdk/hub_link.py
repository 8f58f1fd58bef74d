"""What SDK clients learn from the hub before following its changes, and the pieces they share.

* :func:`read_hub_info` asks the hub (``GET /api/v1/info``, else ``GET /``) for its cluster name and
  whether it publishes its changes on NATS: a client subscribes only to subjects its hub
  publishes on, under the hub's own cluster prefix, and follows ``/watch`` (or polls) otherwise.
* :func:`connect_nats` opens a NATS connection to a comma-separated server list with a bounded
  first attempt (a client must not hang while NATS is down) that reconnects for ever afterwards,
  and reports every drop and return so the client can switch between NATS and HTTP.
* :func:`default_cache_path` and :func:`write_json_atomic`: where and how clients keep their last
  good answers on disk (``CENTRAL_HUB_CACHE_DIR``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from centralhub.core import wire

__all__ = [
    "CACHE_DIR_ENV",
    "DEFAULT_NATS_URL",
    "HubInfo",
    "cache_file",
    "close_nats",
    "connect_nats",
    "default_cache_path",
    "nats_servers",
    "parse_hub_info",
    "read_hub_info",
    "write_json_atomic",
]

log = logging.getLogger(__name__)

#: where clients keep their last good answers when no explicit path is given
CACHE_DIR_ENV = "CENTRAL_HUB_CACHE_DIR"
#: the NATS a client tries when neither it, ``NATS_URL`` nor the hub names one
DEFAULT_NATS_URL = "nats://127.0.0.1:4222"


@dataclass(frozen=True, slots=True)
class HubInfo:
    """The part of the hub's ``/api/v1/info`` answer a client acts on."""

    cluster: str
    #: whether the hub publishes its changes on NATS (``False``: the embedded bus, use HTTP)
    publishes_on_nats: bool
    #: whether the answering replica was connected to NATS at that moment
    nats_connected: bool
    servers: list[str] = field(default_factory=list)

    def subject(self, subject: str) -> str:
        """``subject`` as the hub publishes it on NATS (under its cluster name)."""
        return wire.cluster_subject(self.cluster, subject)


def parse_hub_info(doc: Any) -> HubInfo | None:
    """The :class:`HubInfo` in an info document; ``None`` when it does not announce its NATS use
    (a hub that does not say is followed over HTTP, which always works)."""
    if not isinstance(doc, dict):
        return None
    nats = doc.get("nats")
    cluster = doc.get("cluster")
    if not isinstance(nats, dict) or not isinstance(cluster, str) or not wire.is_cluster_name(cluster):
        return None
    servers = nats.get("servers")
    return HubInfo(
        cluster=cluster,
        publishes_on_nats=nats.get("enabled") is True,
        nats_connected=nats.get("connected") is True,
        servers=[s for s in servers if isinstance(s, str)] if isinstance(servers, list) else [],
    )


async def read_hub_info(http: httpx.AsyncClient, base_url: str = "") -> HubInfo | None:
    """Ask the hub how to follow it; ``None`` when it cannot be reached or does not say.

    ``/api/v1/info`` first; ``/`` (open even where the first needs a scope the credential lacks)
    answers the same document."""
    for path in ("/api/v1/info", "/"):
        try:
            resp = await http.get(f"{base_url}{path}")
        except (httpx.HTTPError, OSError) as exc:
            log.debug("hub info from %s%s failed: %s", base_url, path, exc)
            return None
        if resp.status_code != 200:
            continue
        try:
            info = parse_hub_info(resp.json())
        except ValueError:
            info = None
        if info is not None:
            return info
    return None


def nats_servers(explicit: str | None, info: HubInfo | None) -> list[str]:
    """The servers to connect to: the caller's list (argument or ``NATS_URL``), else the ones the
    hub announces, else the local default."""
    servers = wire.split_servers(explicit)
    if not servers and info is not None:
        servers = list(info.servers)
    return servers or [DEFAULT_NATS_URL]


async def connect_nats(
    servers: list[str], *, name: str, on_change: Callable[[], Awaitable[None] | None]
) -> Any:
    """A NATS connection to the first reachable of ``servers``.

    The first attempt is bounded (two tries per server) and raises when none answers; once
    connected the connection reconnects for ever. ``on_change()`` runs on every drop and return."""
    import nats

    async def changed() -> None:
        result = on_change()
        if result is not None:
            await result

    async def on_error(exc: Exception) -> None:
        log.debug("NATS (%s): %s", name, exc)

    nc = await nats.connect(
        servers=servers,
        connect_timeout=2,
        allow_reconnect=True,
        max_reconnect_attempts=1,
        reconnect_time_wait=0.5,
        error_cb=on_error,
        disconnected_cb=changed,
        reconnected_cb=changed,
        name=name,
    )
    nc.options["max_reconnect_attempts"] = -1
    return nc


async def close_nats(nc: Any) -> None:
    """Close a connection from :func:`connect_nats`, whatever state it is in."""
    if nc is None:
        return
    with contextlib.suppress(Exception):
        await asyncio.wait_for(nc.close(), 5)


def cache_file(root: str | os.PathLike[str] | None, kind: str, tenant: str, service: str) -> Path | None:
    """``<root>/<tenant>/<service>.<kind>.json`` (``kind``: config or discovery); ``None`` without
    a root."""
    text = str(root).strip() if root is not None else ""
    if not text:
        return None
    return Path(text).expanduser() / tenant / f"{service}.{kind}.json"


def default_cache_path(kind: str, tenant: str, service: str) -> Path | None:
    """:func:`cache_file` under ``$CENTRAL_HUB_CACHE_DIR``; ``None`` when the variable is unset
    (nothing is written to disk unless asked)."""
    return cache_file(os.environ.get(CACHE_DIR_ENV), kind, tenant, service)


def write_json_atomic(path: Path, doc: Any) -> None:
    """Write ``doc`` so that a crash never leaves half a file (raises ``OSError``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
