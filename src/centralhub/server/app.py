"""``create_app(settings)``: wiring and lifespan only."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from centralhub import __version__
from centralhub.alerts import api as alerts_api
from centralhub.alerts import rules_api as alert_rules_api
from centralhub.audit import api as audit_api
from centralhub.auth import api as keys_api
from centralhub.auth.middleware import AuthMiddleware
from centralhub.backup import api as backup_api
from centralhub.config import api as config_api
from centralhub.config import rollout_api as config_rollout_api
from centralhub.config.hot_path import config_hot_routes
from centralhub.consul import api as consul_api
from centralhub.contracts import api as contracts_api
from centralhub.core.settings import Settings, load_settings
from centralhub.dashboard.api import router as dashboard_router
from centralhub.deployments.api import router as deployments_router
from centralhub.eureka import api as eureka_api
from centralhub.events import api as events_api
from centralhub.graph import api as dependencies_api
from centralhub.health import api as health_api
from centralhub.hub import Hub
from centralhub.metrics.api import router as metrics_router
from centralhub.metrics.middleware import MetricsMiddleware
from centralhub.registry import api as registry_api
from centralhub.registry import batch_api as registry_batch_api
from centralhub.registry.hot_path import HotRoutes, hot_routes
from centralhub.replicas import api as replicas_api
from centralhub.server import info
from centralhub.server.docs import install_docs
from centralhub.server.errors import ErrorBoundary, install_error_handlers
from centralhub.server.gc_tuning import freeze_started_hub
from centralhub.server.limits import BodySizeLimit, RateLimit
from centralhub.server.middleware import AssumeJSONMiddleware

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None, *, hub: Hub | None = None, hot_paths: bool = True
) -> FastAPI:
    """Build the hub's ASGI app; the hub starts in the lifespan and stops on shutdown.

    ``hot_paths=False`` leaves the discovery reads, heartbeats and configuration reads to the
    FastAPI routes alone (the parity tests compare both ways)."""
    settings = settings or load_settings()
    hub = hub or Hub(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await hub.start()
        # collector pauses are the discovery reads' latency tail: see gc_tuning
        freeze_started_hub()
        # said by the server once its socket accepts connections (server/shutdown.py), so the
        # line is never printed by a hub whose port turns out to be taken
        app.state.ready_line = "central hub ready on {}:{} ({}, bus={}, auth: {})".format(
            settings.host,
            settings.port,
            "sqlite" if settings.is_sqlite else "postgresql",
            hub.bus.name,
            "required" if settings.auth_required else "off (development)",
        )
        try:
            yield
        finally:
            await hub.stop()

    app = FastAPI(
        # served from package files by install_docs below, not FastAPI's CDN-backed pages
        docs_url=None,
        redoc_url=None,
        title="Central Hub",
        version=__version__,
        description="Service registry and discovery, live configuration, health and alerts.",
        lifespan=lifespan,
        # the hub keeps its own request metrics (metrics/middleware.py); FastAPI's OpenTelemetry
        # hooks would only add a provider lookup to every request, hot paths included
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.hub = hub
    install_docs(app)
    app.state.settings = settings
    install_error_handlers(app)
    # added first = innermost: it must see the scope the router writes the matched route into
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(AssumeJSONMiddleware)
    if hot_paths:
        # added last = outermost of ours: the discovery reads and heartbeats skip the layers
        # below, yet answer and fail exactly as the FastAPI routes they shadow
        app.add_middleware(
            HotRoutes,
            routes=hot_routes(hub.registry) + config_hot_routes(hub.config_service),
            exception_handlers=app.exception_handlers,
        )
    # ahead of every route, hot ones included; the rate limit inside the auth middleware,
    # which names the caller it counts against
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        larger={backup_api.RESTORE_PATH: backup_api.MAX_RESTORE_BYTES},
    )
    app.add_middleware(RateLimit, per_minute=settings.rate_limit_per_minute, burst=settings.rate_limit_burst)
    # every route, hot ones included, sees the authenticated caller or is never reached
    app.add_middleware(AuthMiddleware, keys=hub.keys, required=settings.auth_required)
    if settings.cors_origin_list:
        # outermost: a preflight carries no credential and must be answered before auth
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["Retry-After", "ETag"],
        )
    # outermost: an error escaping everything else is answered without dropping the connection
    app.add_middleware(ErrorBoundary)
    app.include_router(info.router)
    app.include_router(registry_api.router)
    app.include_router(registry_batch_api.router)
    app.include_router(contracts_api.router)
    app.include_router(config_api.router)
    app.include_router(config_rollout_api.router)
    app.include_router(events_api.router)
    app.include_router(deployments_router)
    app.include_router(metrics_router)
    app.include_router(dashboard_router)
    app.include_router(health_api.router)
    app.include_router(alert_rules_api.router)
    app.include_router(alerts_api.router)
    app.include_router(dependencies_api.router)
    app.include_router(audit_api.router)
    app.include_router(keys_api.router)
    app.include_router(backup_api.router)
    app.include_router(replicas_api.router)
    app.include_router(consul_api.router)
    app.include_router(eureka_api.router)
    return app
