"""``create_app(settings)``: wiring and lifespan only."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from centralhub import __version__
from centralhub.alerts import api as alerts_api
from centralhub.config import api as config_api
from centralhub.contracts import api as contracts_api
from centralhub.core.settings import Settings, load_settings
from centralhub.dashboard.api import router as dashboard_router
from centralhub.deployments.api import router as deployments_router
from centralhub.graph import api as dependencies_api
from centralhub.health import api as health_api
from centralhub.hub import Hub
from centralhub.metrics.api import router as metrics_router
from centralhub.metrics.middleware import MetricsMiddleware
from centralhub.registry import api as registry_api
from centralhub.registry.hot_path import HotPathMiddleware
from centralhub.server import info
from centralhub.server.errors import install_error_handlers
from centralhub.server.middleware import AssumeJSONMiddleware

log = logging.getLogger(__name__)


class HubApp(FastAPI):
    """FastAPI with the discovery hot paths answered before any framework layer runs."""

    hot_paths: HotPathMiddleware | None = None

    async def _framework_call(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.hot_paths is not None and scope["type"] == "http":
            await self.hot_paths(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None, *, hub: Hub | None = None) -> FastAPI:
    """Build the hub's ASGI app; the hub starts in the lifespan and stops on shutdown."""
    settings = settings or load_settings()
    hub = hub or Hub(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await hub.start()
        log.info(
            "central hub ready on %s:%s (%s, bus=%s)",
            settings.host,
            settings.port,
            "sqlite" if settings.is_sqlite else "postgresql",
            hub.bus.name,
        )
        try:
            yield
        finally:
            await hub.stop()

    app = HubApp(
        title="Central Hub",
        version=__version__,
        description="Service registry and discovery, live configuration, health and alerts.",
        lifespan=lifespan,
    )
    app.state.hub = hub
    app.state.settings = settings
    install_error_handlers(app)
    # added first = innermost: it must see the scope the router writes the matched route into
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(AssumeJSONMiddleware)
    # in front of everything, FastAPI's own layers included
    app.hot_paths = HotPathMiddleware(app._framework_call, registry_of=lambda: app.state.hub.registry)
    app.include_router(info.router)
    app.include_router(registry_api.router)
    app.include_router(contracts_api.router)
    app.include_router(config_api.router)
    app.include_router(deployments_router)
    app.include_router(metrics_router)
    app.include_router(dashboard_router)
    app.include_router(health_api.router)
    app.include_router(alerts_api.router)
    app.include_router(dependencies_api.router)
    return app
