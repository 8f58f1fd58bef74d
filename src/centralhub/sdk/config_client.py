"""``ConfigClient``: a service's operational configuration from the hub, kept live, never fatal.

Layers: the hub's stored configuration; when the hub cannot be reached, the last good
configuration (in memory, or on disk with ``cache_path``); failing that the caller's
``safe_defaults``. Changes are followed live with ``enable_nats_updates`` (NATS when the hub says it
publishes there, ``GET /api/v1/info``, and the client can connect; the hub's blocking ``/watch``
query otherwise, and while NATS is down) or ``watch=True`` (``/watch`` only). Either way the stored
revision is checked at least every ``reconcile_seconds``, so a lost NATS message costs at most
that long, and at once when NATS comes back. No method raises because the hub is down; callbacks
fire once per new revision whichever path delivered it.
Every request carries the credential (``api_key=`` / ``CENTRAL_HUB_API_KEY``) and https is verified
(``ca_file=`` / ``CENTRAL_HUB_CA_FILE``). A refused credential is not "the hub is down": the first
fetch and ``get_config`` raise ``HubAuthError`` with the hub's message, and the watch stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from centralhub.sdk import connection
from centralhub.sdk.config_cache import load_config_copy, save_config_copy
from centralhub.sdk.config_nats import NatsFollowing
from centralhub.sdk.connection import HubAuthError, VerifyTypes
from centralhub.sdk.hub_link import (
    DEFAULT_NATS_URL,
    HubInfo,
    default_cache_path,
    read_hub_info,
)

log = logging.getLogger(__name__)

ConfigCallback = Callable[[dict[str, Any]], None | Awaitable[None]]
#: where the hub is when neither the URL argument nor ``CENTRAL_HUB_URL``/``CENTRAL_HUB_PORT`` say
DEFAULT_HUB_URL = "http://127.0.0.1:7000"
_MISSING = object()


class ConfigClient(NatsFollowing):
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
        reconcile_seconds: float = 30.0,
        instance_id: str | Callable[[], str | None] | None = None,
    ) -> None:
        if reconcile_seconds <= 0:
            raise ValueError(f"reconcile_seconds must be positive (got {reconcile_seconds})")
        self.service_name = service_name
        self.central_hub_url = (central_hub_url or connection.default_hub_url()).rstrip("/")
        self.cache_ttl_seconds = cache_ttl_seconds
        self.enable_nats_updates = enable_nats_updates
        self.safe_defaults: dict[str, Any] = copy.deepcopy(safe_defaults or {})
        #: the NATS servers asked for (one URL or a comma-separated list); without one, the
        #: servers the hub announces, else the local default
        self._nats_url_given = nats_url or os.environ.get("NATS_URL") or None
        self.nats_url = self._nats_url_given or DEFAULT_NATS_URL
        self.tenant_id = tenant_id
        self.watch = watch
        self.cache_path = (
            Path(cache_path) if cache_path else default_cache_path("config", tenant_id, service_name)
        )
        #: the longest a missed change goes unnoticed, whichever way changes are followed
        self.reconcile_seconds = reconcile_seconds
        #: what the hub said about how to follow it (``None`` until it answered)
        self.hub_info: HubInfo | None = None
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
        #: this instance's id at the hub (or a function giving it once registered): a canary
        #: rollout answers each instance by it
        self._instance_id = instance_id
        #: the canary rollout whose candidate this client runs (``None``: the promoted line)
        self.rollout_id: str | None = None
        #: the global configuration's revision under the current one (0: none)
        self.global_revision = 0
        self._instance_sub: Any = None
        self._fetched_at = 0.0
        self._last_attempt = 0.0
        self._callbacks: list[ConfigCallback] = []
        self._http: httpx.AsyncClient | None = None
        self._watch_http: httpx.AsyncClient | None = None
        self._nc: Any = None
        self._nats_sub: Any = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._watch_task: asyncio.Task[None] | None = None
        self._follow_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        #: while NATS is wanted but out of use, the follower asks again sooner than the reconcile
        #: (doubling from 0.5 s); ``None`` otherwise
        self._recheck: float | None = None
        self._nats_warned = False
        self._closed = False
        self._apply_lock = asyncio.Lock()
        self.hub_available = False
        self.updates_received = 0
        #: which path delivered the current revision: fetch, nats, watch or reconcile
        self.last_update_origin: str | None = None

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
        if self.enable_nats_updates or self.watch:
            await self._start_following()

    async def shutdown(self) -> None:
        """Stop following updates and close connections."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self._watch_task = self._follow_task = None
        await self._drop_nats()
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

    @property
    def instance_id(self) -> str | None:
        given = self._instance_id
        return given() if callable(given) else given

    def instance_changed(self) -> None:
        """The instance id changed (registered, or registered again): follow it now (a held
        watch request without it is replaced)."""
        if self._watching:
            self._stop_watch()
            self._start_watch()
        self._wake.set()

    def _who(self) -> dict[str, str]:
        found = self.instance_id
        return {"X-Instance-ID": found} if found else {}

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
    @property
    def following(self) -> str | None:
        """How changes reach this client now: ``nats``, ``watch`` or ``None`` (not followed)."""
        if self._watching:
            return "watch"
        return "nats" if self._nats_live() else None

    @property
    def _watching(self) -> bool:
        return self._watch_task is not None and not self._watch_task.done()

    async def subscribe_to_updates(self) -> bool:
        """Follow changes live: over NATS when the hub publishes there and NATS is reachable,
        through ``/watch`` otherwise (until NATS is usable). Returns whether NATS is in use."""
        self.enable_nats_updates = True
        await self._start_following()
        return self._nats_live()

    async def _start_following(self) -> None:
        if self._closed:
            return
        await self._converge(reconcile=False)
        if self._follow_task is None or self._follow_task.done():
            self._follow_task = self._spawn(self._follow_loop(), "config-follow")

    async def _follow_loop(self) -> None:
        """Decide again how to follow at every NATS drop or return, and at least every
        ``reconcile_seconds`` (checking the stored revision on the way)."""
        while not self._closed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(
                    min(self._recheck or self.reconcile_seconds, self.reconcile_seconds)
                ):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self._converge(reconcile=True)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("following the configuration of %s failed", self.service_name)

    async def _converge(self, *, reconcile: bool) -> None:
        """Follow NATS when the hub publishes there and we hold a live subscription under its
        cluster name; ``/watch`` otherwise. On NATS, ``reconcile`` reads the stored revision."""
        if self.enable_nats_updates:
            info = await read_hub_info(self._ensure_http(), self.central_hub_url)
            if info is not None:
                if self.hub_info is not None and info.cluster != self.hub_info.cluster:
                    await self._drop_nats()  # subscribe again under the new name
                self.hub_info = info
        hub = self.hub_info
        if self.enable_nats_updates and hub is not None and hub.publishes_on_nats:
            if self._nc is None and await self._connect_nats(hub):
                reconcile = True  # a change made before the subscription took effect
        elif self._nc is not None:
            await self._drop_nats()
        # a hub replica that lost NATS publishes nothing: watch it as well until it is back
        if self._nats_live() and hub is not None and hub.nats_connected:
            self._recheck = None
            self._stop_watch()
            await self._follow_instance()
            if reconcile:
                with contextlib.suppress(HubAuthError):  # recorded in auth_error by _refresh
                    await self._refresh(origin="reconcile")
        else:
            if self.enable_nats_updates and hub is not None and hub.publishes_on_nats:
                # on /watch only until NATS is usable again: ask sooner than the reconcile would
                self._recheck = 0.25 if self._recheck is None else min(self._recheck * 2, 60.0)
            if self.auth_error is None:
                self._start_watch()

    def _start_watch(self) -> None:
        if not self._watching and not self._closed:
            self._watch_task = self._spawn(self._watch_loop(), "config-watch")

    def _stop_watch(self) -> None:
        task, self._watch_task = self._watch_task, None
        if task is not None and not task.done():
            # an update being applied is shielded: only the waiting request is cancelled
            task.cancel()

    async def _watch_loop(self) -> None:
        url = f"{self.central_hub_url}/api/v1/config/{self.service_name}/watch"
        if self._watch_http is None:
            self._watch_http = self._new_http(self.watch_timeout + self.request_timeout)
        # each request is also the revision check: never hold one longer than reconcile_seconds
        hold = min(self.watch_timeout, self.reconcile_seconds)
        backoff = 0.2
        while not self._closed:
            reached_before = self.hub_available
            try:
                params: dict[str, Any] = {
                    "revision": self.revision,
                    "global_revision": self.global_revision,
                    "timeout": hold,
                }
                if self.rollout_id:
                    params["rollout"] = self.rollout_id
                resp = await self._watch_http.get(url, params=params, headers=self._who())
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
            if resp.status_code in (200, 304):
                backoff = 0.2
                self.hub_available = True
                if not reached_before and self.enable_nats_updates:
                    self._wake.set()  # the hub is back: ask it again whether to use NATS
                if resp.status_code == 200:
                    await asyncio.shield(self._apply(resp.json(), origin="watch"))
            else:
                log.warning("config watch answered %s: %s", resp.status_code, resp.text[:200])
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.retry_interval)

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

    def _spawn(self, coro: Awaitable[None], name: str) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _refresh(self, *, origin: str = "fetch") -> bool:
        """GET the current configuration; True when the hub answered (200, or 404 = none stored).

        Raises ``HubAuthError`` when the hub refuses the credential."""
        url = f"{self.central_hub_url}/api/v1/config/{self.service_name}"
        self._last_attempt = time.monotonic()
        try:
            resp = await self._ensure_http().get(url, headers=self._who())
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
            await self._apply(resp.json(), origin=origin)
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
        self._wake.set()  # the hub is back: ask it again how to follow it

    async def _apply(self, doc: dict[str, Any], *, origin: str) -> None:
        """Adopt ``doc`` (a read body or a broadcast) if it is newer; then run the callbacks."""
        config = doc.get("config")
        revision = doc.get("revision")
        if not isinstance(config, dict) or not isinstance(revision, int) or isinstance(revision, bool):
            log.warning("ignoring config update without config/revision from %s", origin)
            return
        marker = doc.get("rollout_id") if isinstance(doc.get("rollout_id"), str) else None
        layer = doc.get("global_revision")
        layer = layer if isinstance(layer, int) and not isinstance(layer, bool) else 0
        async with self._apply_lock:
            # a canary leaving its rollout (rolled back, aborted, promoted) goes wherever the
            # hub says, even to a lower revision: the marker, not the number, tells it; a new
            # global configuration is new at the same revision of the service's own
            moved = self.source == "hub" and marker != self.rollout_id
            newer_global = revision == self.revision and layer > self.global_revision
            if self.source == "hub" and revision <= self.revision and not (moved or newer_global):
                if revision == self.revision:
                    self._fetched_at = time.monotonic()
                return
            self.rollout_id = marker
            self.global_revision = layer
            if revision == self.revision and config == self._config:
                # the disk cache was already current, or a promotion confirmed the candidate
                # this canary runs: confirm it without calling back
                self.source = "hub"
                self._fetched_at = time.monotonic()
                return
            self._config = config
            self.revision = revision
            self.version = doc.get("version")
            self.source = "hub"
            self._fetched_at = time.monotonic()
            self.updates_received += 1
            self.last_update_origin = origin
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
            # after the callbacks: the service acts on a change before the disk copy is written
            save_config_copy(self.cache_path, doc)

    def _load_cache_file(self) -> bool:
        record = load_config_copy(self.cache_path, self.service_name)
        if record is None:
            return False
        self._config = record["config"]
        # not "hub": a fresher hub answer of any revision replaces it
        self.source = "cache_file"
        self.version = record.get("version")
        self.revision = int(record.get("revision") or 0)
        log.info("hub unreachable; using cached config version %s for %s", self.version, self.service_name)
        return True
