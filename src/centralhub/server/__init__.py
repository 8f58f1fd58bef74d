"""HTTP transport: a thin FastAPI layer over the domain.

``create_app`` is imported on first use: the capability routers import ``server.deps`` and the
app imports them, so importing the app here would make ``import centralhub.registry.api`` on its
own a circular import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from centralhub.server.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from centralhub.server.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
