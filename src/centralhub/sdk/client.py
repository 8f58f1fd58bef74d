"""``CentralHubClient``: register with the hub, keep the registration alive, discover peers.

The contract a service relies on:

* ``await register()`` stores the instance and heartbeats in the background every third of the
  TTL. When the hub answers a heartbeat with 404 (it restarted with an empty store, or the
  instance expired and was removed) the client registers again by itself. Where the hub takes
  heartbeats on NATS they travel there as signed messages, HTTP whenever NATS is not usable
  (:mod:`centralhub.sdk.heartbeat_sender`).
* Discovery answers come from a local cache that a background task keeps current (a periodic
  refresh of every service asked about, at least every ``reconcile_seconds``, plus NATS registry
  events when the hub publishes them on NATS; see :mod:`centralhub.sdk.discovery_cache`). While
  the hub is unreachable the last known answer is used, from memory or, after a restart, from
  ``discovery_cache_path``.
* Every HTTP call has a timeout; no method waits on the hub for longer than ``timeout``.
* Every request carries the credential (``api_key=`` / ``CENTRAL_HUB_API_KEY``) and https is
  verified (``ca_file=`` / ``CENTRAL_HUB_CA_FILE``, see :mod:`centralhub.sdk.connection`). A
  refused credential raises ``HubAuthError`` at once, never retried as if the hub were down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from centralhub.core import wire
from centralhub.kit.exceptions import (
    NoHealthyInstances,
    RegistrationFailed,
    ServiceNotFound,
    ServiceUnavailable,
)
from centralhub.sdk import connection
from centralhub.sdk.config_reports import ConfigReports
from centralhub.sdk.connection import HubAuthError, VerifyTypes
from centralhub.sdk.contract_calls import ContractCalls
from centralhub.sdk.discovery_cache import SELECTABLE as SELECTABLE
from centralhub.sdk.discovery_cache import DiscoveryCache, ServiceView
from centralhub.sdk.discovery_cache import cancel_task as _cancel
from centralhub.sdk.discovery_cache import check_name as _check_name
from centralhub.sdk.discovery_cache import choose as _choose
from centralhub.sdk.discovery_cache import pick_locally as _pick_locally
from centralhub.sdk.heartbeat_sender import BeatOutcome, NatsHeartbeatSender
from centralhub.sdk.hub_link import HubInfo, default_cache_path, read_hub_info

__all__ = ["CentralHubClient", "HubAuthError", "HubUnavailable", "ServiceView"]

log = logging.getLogger(__name__)

#: where the hub is when neither ``hub_url`` nor ``CENTRAL_HUB_URL``/``CENTRAL_HUB_PORT`` say
DEFAULT_HUB_URL = "http://127.0.0.1:7000"
CIRCUIT_STATES = ("CLOSED", "OPEN", "HALF_OPEN")


class HubUnavailable(ServiceUnavailable):
    """The hub could not be reached (or answered 5xx) and no cached answer exists."""

    default_code = "HUB_UNAVAILABLE"


_error_message = connection.error_message


class CentralHubClient(ContractCalls, ConfigReports):
    """One service instance's connection to the hub (registration, heartbeats, discovery).

    ``hub_url`` defaults to ``CENTRAL_HUB_URL``; ``host``/``port`` to ``SERVICE_HOST``/``SERVICE_PORT``;
    ``tenant_id`` to ``CENTRAL_HUB_TENANT`` (else ``default``); ``nats_url`` (one URL or a
    comma-separated list) to ``NATS_URL``, else the servers the hub announces;
    ``api_key`` to ``CENTRAL_HUB_API_KEY``; ``ca_file`` to ``CENTRAL_HUB_CA_FILE``;
    ``discovery_cache_path`` to ``$CENTRAL_HUB_CACHE_DIR/<tenant>/<service>.discovery.json``
    (unset: answers are kept in memory only).
    """

    def __init__(
        self,
        service_name: str,
        service_type: str = "service",
        *,
        hub_url: str | None = None,
        host: str | None = None,
        port: int | None = None,
        metadata: dict[str, Any] | None = None,
        tenant_id: str | None = None,
        version: str | None = None,
        ttl_seconds: int = 30,
        health_endpoint: str | None = "/health",
        dependencies: list[str] | None = None,
        tags: list[str] | None = None,
        protocol: str = "http",
        transport_preferences: list[str] | None = None,
        nats_url: str | None = None,
        timeout: float = 5.0,
        discovery_refresh_seconds: float = 5.0,
        load_provider: Callable[[], float] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        api_key: str | None = None,
        ca_file: str | os.PathLike[str] | None = None,
        verify: VerifyTypes | None = None,
        reconcile_seconds: float = 30.0,
        discovery_cache_path: str | os.PathLike[str] | None = None,
        enable_nats_updates: bool = True,
        nats_heartbeats: bool = True,
    ) -> None:
        env = os.environ
        self.service_name = service_name
        self.service_type = service_type
        self.hub_url = (hub_url or connection.default_hub_url()).rstrip("/")
        self.host = host or env.get("SERVICE_HOST") or "127.0.0.1"
        raw_port = port if port is not None else env.get("SERVICE_PORT")
        self.port = int(raw_port) if raw_port not in (None, "") else None
        self.metadata = {"type": service_type, **(metadata or {})}
        self.tenant_id = tenant_id or env.get("CENTRAL_HUB_TENANT") or wire.DEFAULT_TENANT
        self.version = version
        self.ttl_seconds = ttl_seconds
        self.health_endpoint = health_endpoint
        self.dependencies = list(dependencies or [])
        self.tags = list(tags or [])
        self.protocol = protocol
        self.transport_preferences = list(transport_preferences or [])
        self.nats_url = nats_url if nats_url is not None else env.get("NATS_URL") or None
        self.timeout = timeout
        self.discovery_refresh_seconds = discovery_refresh_seconds
        #: the longest a discovery answer goes without being checked against the hub
        self.reconcile_seconds = reconcile_seconds
        #: follow registry events on NATS when the hub publishes there
        self.enable_nats_updates = enable_nats_updates
        self.discovery_cache_path = (
            Path(discovery_cache_path)
            if discovery_cache_path
            else default_cache_path("discovery", self.tenant_id, service_name)
        )
        self.load_provider = load_provider
        #: sent with every heartbeat (set values with ``report_metrics``): the hub's alert rules
        self.metrics: dict[str, float] = {}
        self._api_key = connection.resolve_api_key(api_key)
        #: what httpx verifies https with (kept so companions such as ``ConfigClient`` trust the same)
        self.verify = connection.tls_verify(verify, ca_file)
        self._http = httpx.AsyncClient(
            base_url=self.hub_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)),
            headers={"X-Tenant-ID": self.tenant_id, **connection.auth_headers(self._api_key)},
            transport=transport,
            verify=self.verify,
        )
        self.instance_id: str | None = None
        self.heartbeat_interval = max(ttl_seconds / 3, 0.2)
        #: how many times the client registered again after the hub forgot it
        self.reregistrations = 0
        self.last_heartbeat_ok: float | None = None
        self._discovery = DiscoveryCache(
            self._fetch_view,
            task_name=f"hub-discovery-{service_name}",
            read_info=self._read_info,
            disk_path=self.discovery_cache_path,
        )
        #: the cached views (the discovery cache's own dict: ``_fetch_view`` writes into it)
        self._views: dict[str, ServiceView] = self._discovery.views
        self._circuits: dict[str, str] = {}
        self._heartbeat_task: asyncio.Task[None] | None = None
        #: set to run the heartbeat loop's next turn now (the hub refused a heartbeat message)
        self._beat_now = asyncio.Event()
        #: heartbeats as NATS messages when the hub takes them there (see sdk.heartbeat_sender)
        self.nats_heartbeats = (
            NatsHeartbeatSender(
                tenant=self.tenant_id,
                service=service_name,
                api_key=self._api_key,
                nats_url=self.nats_url,
                read_info=self._read_info,
                on_refused=self._beat_now.set,
            )
            if nats_heartbeats
            else None
        )
        self._closed = False

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> CentralHubClient:
        await self.register()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def registered(self) -> bool:
        return self.instance_id is not None

    @property
    def has_credential(self) -> bool:
        """Whether requests carry a credential (the credential itself is never exposed)."""
        return self._api_key is not None

    def registration_body(self) -> dict[str, Any]:
        if self.port is None:
            raise ValueError(
                f"{self.service_name}: port is required to register (pass port= or set SERVICE_PORT)"
            )
        return {
            "name": self.service_name,
            "host": self.host,
            "port": self.port,
            "protocol": self.protocol,
            "health_endpoint": self.health_endpoint,
            "metadata": self.metadata,
            "version": self.version,
            "ttl_seconds": self.ttl_seconds,
            "tags": self.tags,
            "transport_preferences": self.transport_preferences,
            "dependencies": self.dependencies,
        }

    async def register(self, *, keep_trying: bool = False) -> str | None:
        """Register this instance and start heartbeating; returns the instance id.

        Raises ``HubUnavailable`` when the hub cannot be reached, ``RegistrationFailed`` when it
        refuses. With ``keep_trying=True`` an unreachable hub is not an error: the background
        task keeps trying and ``None`` is returned until it succeeds.
        """
        body = self.registration_body()
        try:
            await self._register_once(body)
        except HubUnavailable:
            if not keep_trying:
                raise
            log.warning(
                "hub %s unreachable; %s will register when it is back", self.hub_url, self.service_name
            )
        self._start_heartbeats()
        return self.instance_id

    async def _register_once(self, body: dict[str, Any] | None = None) -> None:
        resp = await self._call("POST", "/api/v1/services/register", json=body or self.registration_body())
        if resp.status_code != 201:
            raise RegistrationFailed(
                f"{self.service_name}: registration refused: {_error_message(resp)}",
                details={"status": resp.status_code},
            )
        data = resp.json()
        self.instance_id = data["instance_id"]
        self.heartbeat_interval = max(
            float(data.get("heartbeat_interval_seconds") or self.ttl_seconds / 3), 0.2
        )
        log.info("%s registered as %s at %s", self.service_name, self.instance_id, self.hub_url)

    def _start_heartbeats(self) -> None:
        if self._heartbeat_task is None or self._heartbeat_task.done():
            self._heartbeat_task = asyncio.create_task(
                self._heartbeat_loop(), name=f"hub-heartbeat-{self.service_name}"
            )

    def report_metrics(self, metrics: dict[str, float]) -> None:
        """Values the next heartbeats carry (``latency_ms``, ``error_rate``, ``errors``, a business
        figure...), for the hub's alert rules; a later call replaces the values it names."""
        self.metrics.update({str(k): float(v) for k, v in metrics.items()})

    async def heartbeat(self) -> bool:
        """Send one heartbeat now; registers again when the hub has forgotten this instance.

        Returns whether the hub holds the registration afterwards."""
        if self.instance_id is None:
            await self._register_once()
            return True
        payload: dict[str, Any] | None = None
        if self.load_provider is not None:
            with contextlib.suppress(Exception):
                payload = {"load": max(float(self.load_provider()), 0.0)}
        if self.metrics:  # measurements for the hub's alert rules ride on the HTTP heartbeat
            payload = {**(payload or {}), "metrics": dict(self.metrics)}
        if self.nats_heartbeats is not None and not self.metrics:
            load = payload["load"] if payload is not None else None
            outcome = await self.nats_heartbeats.send(self.instance_id, load)
            if outcome is BeatOutcome.SENT:
                self.last_heartbeat_ok = time.time()
                return True
            if outcome is BeatOutcome.FORGOTTEN:
                return await self._register_again()
        resp = await self._call(
            "POST",
            f"/api/v1/services/{self.service_name}/instances/{self.instance_id}/heartbeat",
            json=payload,
        )
        if resp.status_code == 404:
            return await self._register_again()
        if resp.status_code >= 400:
            raise RegistrationFailed(f"heartbeat refused: {_error_message(resp)}")
        self.last_heartbeat_ok = time.time()
        return True

    async def _register_again(self) -> bool:
        log.warning("hub forgot %s/%s; registering again", self.service_name, self.instance_id)
        self.instance_id = None
        await self._register_once()
        self.reregistrations += 1
        return True

    async def _heartbeat_loop(self) -> None:
        delay = 0.0 if self.instance_id is None else self.heartbeat_interval
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._beat_now.wait(), delay)
            self._beat_now.clear()
            try:
                await self.heartbeat()
                delay = self.heartbeat_interval
            except asyncio.CancelledError:
                raise
            except HubAuthError as exc:
                # a refused credential stays refused: say so once instead of hammering the hub
                log.error("heartbeats for %s stopped: %s", self.service_name, exc)
                return
            except Exception as exc:
                # the hub being down must not take the service down: try again soon
                log.warning("heartbeat for %s failed: %s", self.service_name, exc)
                delay = min(self.heartbeat_interval, 2.0) * (0.8 + 0.4 * random.random())

    async def deregister(self) -> bool:
        """Stop heartbeating and remove the instance from the hub; True when the hub confirmed.

        Never raises for an unreachable hub (the TTL will expire the instance instead)."""
        await _cancel(self._heartbeat_task)
        self._heartbeat_task = None
        instance_id, self.instance_id = self.instance_id, None
        if instance_id is None:
            return False
        try:
            resp = await self._call("DELETE", f"/api/v1/services/{self.service_name}/instances/{instance_id}")
        except (HubUnavailable, HubAuthError) as exc:
            log.warning("could not deregister %s/%s: %s", self.service_name, instance_id, exc)
            return False
        return resp.status_code in (204, 404)

    async def close(self) -> None:
        """Deregister, stop background tasks and close connections; safe to call twice."""
        if self._closed:
            return
        await self.deregister()
        self._closed = True
        await self._discovery.close()
        if self.nats_heartbeats is not None:
            await self.nats_heartbeats.close()
        await self._http.aclose()

    @property
    def _nats(self) -> Any:
        """The NATS connection registry events arrive on (``None`` when polling only)."""
        return self._discovery.nats

    # ------------------------------------------------------------------ http
    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request to the hub; connection failures (an unverifiable certificate included),
        timeouts and 5xx become ``HubUnavailable``, 401/403 ``HubAuthError``."""
        try:
            resp = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise HubUnavailable(f"hub {self.hub_url} unreachable: {type(exc).__name__}: {exc}") from exc
        if resp.status_code >= 500 and resp.status_code != 503:
            raise HubUnavailable(f"hub {self.hub_url}: {_error_message(resp)}")
        refused = connection.auth_error(resp, has_key=self.has_credential, what=f"{method} {path}")
        if refused is not None:
            raise refused
        return resp

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call any hub API path; returns the decoded JSON (None for 204), raises on 4xx/5xx."""
        resp = await self._call(method, path, **kwargs)
        if resp.status_code == 404:
            raise ServiceNotFound(_error_message(resp))
        if resp.status_code >= 400:
            raise RegistrationFailed(_error_message(resp), details={"status": resp.status_code})
        return None if resp.status_code == 204 or not resp.content else resp.json()

    # ------------------------------------------------------------------ discovery
    async def _fetch_view(self, name: str) -> ServiceView:
        _check_name(name)
        resp = await self._call("GET", f"/api/v1/services/{name}")
        if resp.status_code == 404:
            self._views.pop(name, None)
            raise ServiceNotFound(f"service {name!r} is not registered", details={"service": name})
        if resp.status_code >= 400:
            raise HubUnavailable(_error_message(resp))
        data = resp.json()
        old = self._views.get(name)
        view = ServiceView(name, list(data.get("instances") or []), time.monotonic(), rr=old.rr if old else 0)
        self._views[name] = view
        if old is None or old.extra.get("source") == "disk":
            # a first answer is saved at once: the next run may need it before any refresh
            self._discovery.remember()
        return view

    async def get_service(self, name: str, *, refresh: bool = False) -> ServiceView:
        """The cached view of a service, fetched on first use; the last known view while the
        hub is down."""
        view = self._views.get(name)
        if view is not None and not refresh:
            return view
        self._ensure_refresher()
        try:
            return await self._fetch_view(name)
        except HubUnavailable:
            if view is None:
                view = self._discovery.from_disk(name)
                if view is None:
                    raise
                # kept with the live views: refreshed (and replaced) once the hub answers
                self._views[name] = view
                log.info("hub down; using the view of %s saved in %s", name, self.discovery_cache_path)
            else:
                log.info("hub down; using the cached view of %s", name)
            return view

    async def discover_service(self, name: str) -> str:
        """The URL of a healthy instance of ``name`` (round robin over the cached view)."""
        view = await self.get_service(name)
        candidates = view.selectable()
        if not candidates and time.monotonic() - view.fetched_at > 0.5:
            # the cached answer says nobody is healthy; ask again before giving up
            with contextlib.suppress(HubUnavailable):
                view = await self.get_service(name, refresh=True)
                candidates = view.selectable()
        if not candidates:
            raise NoHealthyInstances(f"service {name!r} has no healthy instance", details={"service": name})
        return str(_choose(view, candidates, "round_robin")["url"])

    async def get_load_balanced_endpoint(self, name: str, strategy: str = "round_robin") -> dict[str, Any]:
        """The hub's choice of instance (``{instance_id, host, port, url, load, ...}``).

        Strategies: round_robin, random, least_load, weighted. While the hub is down the choice
        is made locally from the cached view."""
        _check_name(name)
        self._ensure_refresher()
        try:
            resp = await self._call("GET", f"/api/v1/services/{name}/endpoint", params={"strategy": strategy})
        except HubUnavailable:
            view = self._views.get(name) or self._discovery.from_disk(name)
            if view is None:
                raise
            self._views.setdefault(name, view)
            return _pick_locally(view, strategy)
        if resp.status_code == 404:
            raise ServiceNotFound(f"service {name!r} is not registered", details={"service": name})
        if resp.status_code == 503:
            raise NoHealthyInstances(_error_message(resp), details={"service": name})
        if resp.status_code >= 400:
            raise ValueError(_error_message(resp))
        if name not in self._views:
            # remember the service so it is refreshed and usable while the hub is down
            with contextlib.suppress(Exception):
                await self._fetch_view(name)
        return dict(resp.json())

    async def get_circuit_state(self, name: str) -> str:
        """``CLOSED``, ``OPEN`` or ``HALF_OPEN`` for calls to ``name``, as the hub tracks it.

        A service the hub tracks no circuit for is ``CLOSED``; while the hub is down the last
        known state is returned."""
        try:
            resp = await self._call("GET", f"/api/v1/circuits/{name}")
        except HubUnavailable:
            if name in self._circuits:
                return self._circuits[name]
            raise
        if resp.status_code == 404:
            state = "CLOSED"
        elif resp.status_code >= 400:
            raise HubUnavailable(_error_message(resp))
        else:
            state = str(resp.json().get("state", "CLOSED")).upper()
            if state not in CIRCUIT_STATES:
                raise ValueError(f"hub reported an unknown circuit state {state!r}")
        self._circuits[name] = state
        return state

    # ------------------------------------------------------------------ cache upkeep
    def _ensure_refresher(self) -> None:
        self._discovery.ensure_running(
            refresh_seconds=self.discovery_refresh_seconds,
            nats_url=self.nats_url,
            tenant_id=self.tenant_id,
            reconcile_seconds=self.reconcile_seconds,
            follow_nats=self.enable_nats_updates,
        )

    async def _read_info(self) -> HubInfo | None:
        return await read_hub_info(self._http)
