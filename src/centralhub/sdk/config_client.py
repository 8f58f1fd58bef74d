"""``ConfigClient``: a service's operational configuration from the hub, kept live, never fatal.

Layers: the hub's stored configuration; when the hub cannot be reached, the last good
configuration (in memory, or on disk with ``cache_path``); failing that the caller's
``safe_defaults``. Changes arrive over NATS (``enable_nats_updates``) or through the hub's blocking
``/watch`` query (``watch=True``, and the automatic fallback when NATS is unreachable). No method
raises because the hub is down; callbacks fire once per new revision whichever path delivered it.
Every request carries the credential (``api_key=`` / ``CENTRAL_HUB_API_KEY``) and https is verified
(``ca_file=`` / ``CENTRAL_HUB_CA_FILE``). A refused credential is not "the hub is down": the first
fetch and ``get_config`` raise ``HubAuthError`` with the hub's message, and the watch stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import json
import logging
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from centralhub.core.wire import DEFAULT_CLUSTER, cluster_subject, config_update_subject, split_servers
from centralhub.sdk import connection
from centralhub.sdk.connection import HubAuthError, VerifyTypes

log = logging.getLogger(__name__)

ConfigCallback = Callable[[dict[str, Any]], None | Awaitable[None]]
#: where the hub is when neither the URL argument nor ``CENTRAL_HUB_URL``/``CENTRAL_HUB_PORT`` say
DEFAULT_HUB_URL = "http://127.0.0.1:7000"
_MISSING = object()


class ConfigClient:
    """Fetch, cache and follow one service's configuration (see the module docstring)."""

    def __init__(
        self,
        service_name: str,
        central_hub_url: str | None = None,
        cache_ttl_seconds: float = 300,
        enable_nats_updates: bool = False,
        safe_defaults: dict[str, Any] | None = None,
        *,
        nats_url: str | None = None,
        tenant_id: str = "default",
        watch: bool = False,
        cache_path: str | Path | None = None,
        request_timeout: float = 5.0,
        watch_timeout: float = 30.0,
        retry_interval: float = 2.0,
        transport: httpx.AsyncBaseTransport | None = None,
        api_key: str | None = None,
        ca_file: str | os.PathLike[str] | None = None,
        verify: VerifyTypes | None = None,
    ) -> None:
        self.service_name = service_name
        self.central_hub_url = (central_hub_url or connection.default_hub_url()).rstrip("/")
        self.cache_ttl_seconds = cache_ttl_seconds
        self.enable_nats_updates = enable_nats_updates
        self.safe_defaults: dict[str, Any] = copy.deepcopy(safe_defaults or {})
        self.nats_url = nats_url or os.environ.get("NATS_URL") or "nats://127.0.0.1:4222"
        self.tenant_id = tenant_id
        self.watch = watch
        self.cache_path = Path(cache_path) if cache_path else None
        self.request_timeout = request_timeout
        self.watch_timeout = watch_timeout
        self.retry_interval = retry_interval
        self._transport = transport
        self._api_key = connection.resolve_api_key(api_key)
        self._verify = connection.tls_verify(verify, ca_file)
        #: the hub's refusal of the credential, once it happened (the watch stops on it)
        self.auth_error: HubAuthError | None = None

        self._config: dict[str, Any] = copy.deepcopy(self.safe_defaults)
        #: where the current configuration came from: ``defaults``, ``cache_file`` or ``hub``
        self.source = "defaults"
        self.version: str | None = None
        self.revision = 0
        self._fetched_at = 0.0
        self._last_attempt = 0.0
        self._callbacks: list[ConfigCallback] = []
        self._http: httpx.AsyncClient | None = None
        self._watch_http: httpx.AsyncClient | None = None
        self._nc: Any = None
        self._nats_sub: Any = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._watching = False
        self._closed = False
        self._apply_lock = asyncio.Lock()
        self.hub_available = False
        self.updates_received = 0

    # ---------------------------------------------------------------- lifecycle
    async def init_async(self) -> None:
        """Fetch the first configuration; falls back to the disk cache or safe defaults while the hub
        is unreachable. Raises only ``HubAuthError`` (the hub refused the credential)."""
        self._closed = False
        self._ensure_http()
        try:
            reached = await self._refresh()
        except HubAuthError:
            await self.shutdown()
            raise
        if not reached:
            self._load_cache_file()
            self._spawn(self._retry_until_reachable(), "config-retry")
        if self.enable_nats_updates:
            await self.subscribe_to_updates()
        if self.watch:
            self._start_watch()

    async def shutdown(self) -> None:
        """Stop following updates and close connections."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._nc.close(), 5)
            self._nc = None
        for client in (self._http, self._watch_http):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()
        self._http = self._watch_http = None

    async def __aenter__(self) -> ConfigClient:
        await self.init_async()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.shutdown()

    # ---------------------------------------------------------------- reads
    async def get_config(self, force_refresh: bool = False) -> dict[str, Any]:
        """The configuration, from cache while it is fresh; the last good one if the hub is down."""
        now = time.monotonic()
        fresh = self.source == "hub" and now - self._fetched_at < self.cache_ttl_seconds
        # while the hub is down, do not make every read wait on a connect attempt
        backing_off = not self.hub_available and now - self._last_attempt < self.retry_interval
        if force_refresh or (not fresh and not backing_off):
            await self._refresh()
        return copy.deepcopy(self._config)

    def get_value(self, path: str, default: Any = None) -> Any:
        """A value by dotted path (``"operational.batch_size"``) from the current configuration."""
        node: Any = self._config
        for part in path.split("."):
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return default
        return copy.deepcopy(node)

    def on_config_update(self, callback: ConfigCallback) -> None:
        """``callback(new_config)`` (plain or async) runs after each new revision is applied."""
        self._callbacks.append(callback)

    # ---------------------------------------------------------------- live updates
    async def subscribe_to_updates(self) -> bool:
        """Follow changes over NATS; when NATS is unreachable, follow ``/watch`` instead.

        Returns whether NATS is in use."""
        if self._nc is not None:
            return True
        try:
            import nats

            async def on_error(exc: Exception) -> None:
                log.debug("NATS (config updates of %s): %s", self.service_name, exc)

            # a bounded first attempt (an unbounded one never returns while NATS is down) ...
            self._nc = await nats.connect(
                servers=split_servers(self.nats_url),
                connect_timeout=2,
                allow_reconnect=True,
                max_reconnect_attempts=1,
                reconnect_time_wait=0.5,
                error_cb=on_error,
                name=f"config-client:{self.service_name}",
            )
            # ... then reconnect for ever once it is up
            self._nc.options["max_reconnect_attempts"] = -1
            self._nats_sub = await self._nc.subscribe(
                cluster_subject(
                    os.environ.get("CENTRAL_HUB_CLUSTER") or DEFAULT_CLUSTER,
                    config_update_subject(self.tenant_id, self.service_name),
                ),
                cb=self._on_nats_message,
            )
        except Exception as exc:
            log.warning(
                "NATS at %s unreachable (%s); following %s through /watch",
                self.nats_url,
                exc,
                self.service_name,
            )
            if self._nc is not None:
                with contextlib.suppress(Exception):
                    await self._nc.close()
            self._nc = None
            self._start_watch()
            return False
        return True

    async def _on_nats_message(self, msg: Any) -> None:
        try:
            payload = json.loads(msg.data)
            if payload.get("masked"):
                # the broadcast hides secret values ("***"): read them over HTTP with our credential
                await self._refresh()
                return
            await self._apply(payload, origin="nats")
        except Exception:
            log.exception("bad config update message on %s", getattr(msg, "subject", "?"))

    def _start_watch(self) -> None:
        if not self._watching and not self._closed:
            self._watching = True
            self._spawn(self._watch_loop(), "config-watch")

    async def _watch_loop(self) -> None:
        url = f"{self.central_hub_url}/api/v1/config/{self.service_name}/watch"
        if self._watch_http is None:
            self._watch_http = self._new_http(self.watch_timeout + self.request_timeout)
        backoff = 0.2
        try:
            while not self._closed:
                try:
                    resp = await self._watch_http.get(
                        url, params={"revision": self.revision, "timeout": self.watch_timeout}
                    )
                except (httpx.HTTPError, OSError) as exc:
                    self.hub_available = False
                    log.debug("config watch failed: %s", exc)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self.retry_interval)
                    continue
                refused = connection.auth_error(resp, has_key=self._api_key is not None, what="config watch")
                if refused is not None:
                    self.auth_error = refused
                    log.error("%s; no longer following %s", refused, self.service_name)
                    return
                if resp.status_code == 200:
                    backoff = 0.2
                    self.hub_available = True
                    await self._apply(resp.json(), origin="watch")
                elif resp.status_code == 304:
                    backoff = 0.2
                    self.hub_available = True
                else:
                    log.warning("config watch answered %s: %s", resp.status_code, resp.text[:200])
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self.retry_interval)
        finally:
            self._watching = False

    # ---------------------------------------------------------------- internals
    def _new_http(self, timeout: float) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(self.request_timeout, 5.0)),
            headers={"X-Tenant-ID": self.tenant_id, **connection.auth_headers(self._api_key)},
            transport=self._transport,
            verify=self._verify,
        )

    def _ensure_http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = self._new_http(self.request_timeout)
        return self._http

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refresh(self) -> bool:
        """GET the current configuration; True when the hub answered (200, or 404 = none stored).

        Raises ``HubAuthError`` when the hub refuses the credential."""
        url = f"{self.central_hub_url}/api/v1/config/{self.service_name}"
        self._last_attempt = time.monotonic()
        try:
            resp = await self._ensure_http().get(url)
        except (httpx.HTTPError, OSError) as exc:
            self.hub_available = False
            log.debug("config fetch from %s failed: %s", url, exc)
            return False
        refused = connection.auth_error(resp, has_key=self._api_key is not None, what="config fetch")
        if refused is not None:
            self.hub_available = True
            self.auth_error = refused
            raise refused
        self.auth_error = None
        if resp.status_code == 404:
            self.hub_available = True
            return True  # nothing stored yet: keep what we have (defaults)
        if resp.status_code != 200:
            self.hub_available = False
            log.warning("config fetch answered %s: %s", resp.status_code, resp.text[:200])
            return False
        self.hub_available = True
        try:
            await self._apply(resp.json(), origin="fetch")
        except ValueError:
            log.warning("config fetch returned a non-JSON body")
            return False
        self._fetched_at = time.monotonic()
        return True

    async def _retry_until_reachable(self) -> None:
        while not self._closed and not self.hub_available:
            await asyncio.sleep(self.retry_interval)
            try:
                await self._refresh()
            except HubAuthError as exc:
                log.error("%s; giving up on %s", exc, self.service_name)
                return

    async def _apply(self, doc: dict[str, Any], *, origin: str) -> None:
        """Adopt ``doc`` (a read body or a broadcast) if it is newer; then run the callbacks."""
        config = doc.get("config")
        revision = doc.get("revision")
        if not isinstance(config, dict) or not isinstance(revision, int):
            log.warning("ignoring config update without config/revision from %s", origin)
            return
        async with self._apply_lock:
            if self.source == "hub" and revision <= self.revision:
                if revision == self.revision:
                    self._fetched_at = time.monotonic()
                return
            if revision == self.revision and config == self._config:
                # the disk cache was already current: confirm it without calling back
                self.source = "hub"
                self._fetched_at = time.monotonic()
                return
            self._config = config
            self.revision = revision
            self.version = doc.get("version")
            self.source = "hub"
            self._fetched_at = time.monotonic()
            self.updates_received += 1
            self._save_cache_file(doc)
            log.info(
                "config for %s now version %s (revision %d, via %s)",
                self.service_name,
                self.version,
                revision,
                origin,
            )
            for callback in list(self._callbacks):
                try:
                    result = callback(copy.deepcopy(config))
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    log.exception("config update callback failed")

    def _save_cache_file(self, doc: dict[str, Any]) -> None:
        if self.cache_path is None:
            return
        try:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            record = {k: doc.get(k) for k in ("service_name", "version", "revision", "config")}
            fd, tmp = tempfile.mkstemp(dir=self.cache_path.parent, prefix=".config-cache-")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(record, fh)
            os.replace(tmp, self.cache_path)  # atomic: a crash never leaves half a file
        except OSError as exc:
            log.warning("cannot write config cache %s: %s", self.cache_path, exc)

    def _load_cache_file(self) -> bool:
        if self.cache_path is None or not self.cache_path.exists():
            return False
        try:
            record = json.loads(self.cache_path.read_text(encoding="utf-8"))
            config = record["config"]
            if not isinstance(config, dict) or record.get("service_name") not in (None, self.service_name):
                raise ValueError("not this service's configuration")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring config cache %s: %s", self.cache_path, exc)
            return False
        self._config = config
        # not "hub": a fresher hub answer of any revision replaces it
        self.source = "cache_file"
        self.version = record.get("version")
        self.revision = int(record.get("revision") or 0)
        log.info("hub unreachable; using cached config version %s for %s", self.version, self.service_name)
        return True
