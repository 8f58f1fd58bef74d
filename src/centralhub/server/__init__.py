"""HTTP transport: a thin FastAPI layer over the domain."""

from centralhub.server.app import create_app

__all__ = ["create_app"]
