"""``/docs`` (Swagger UI) and ``/redoc`` served from a package's files, never from a CDN.

FastAPI's own pages load their scripts from jsDelivr and fonts from Google: on a network
without internet access (where a hub often runs) they are blank. The scripts here come from
the ``fastapi-offline`` package, served under ``/docs/assets``.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse, Response

__all__ = ["ASSETS_URL", "install_docs"]

ASSETS_URL = "/docs/assets"
#: the pages may load only from the hub, should a later bundle name another outside address
_SAME_ORIGIN_ONLY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'"
)


_REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"


def _local_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = _SAME_ORIGIN_ONLY
    return page


def install_docs(app: FastAPI) -> None:
    """Add the two documentation pages and their assets (create the app with
    ``docs_url=None, redoc_url=None``)."""
    assets = files("fastapi_offline") / "static"
    # ReDoc's bundle names its logo on Redocly's CDN: served with the hub's own icon instead,
    # so the page makes no request off the hub at all
    redoc_js = (
        (assets / "redoc.standalone.js")
        .read_bytes()
        .replace(_REDOC_LOGO, f"{ASSETS_URL}/favicon.png".encode())
    )

    @app.get(f"{ASSETS_URL}/redoc.standalone.js", include_in_schema=False)
    async def redoc_script() -> Response:
        return Response(redoc_js, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})

    app.mount(ASSETS_URL, StaticFiles(directory=str(assets)), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"
    redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _local_only(
            get_swagger_ui_html(
                openapi_url=f"{root}{openapi_url}",
                title=f"{app.title} - Swagger UI",
                oauth2_redirect_url=redirect_url,
                swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
                swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
                swagger_ui_parameters=app.swagger_ui_parameters,
            )
        )

    @app.get(redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _local_only(
            get_redoc_html(
                openapi_url=f"{root}{openapi_url}",
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
                # Google Fonts is a network request too; the page falls back to system fonts
                with_google_fonts=False,
            )
        )
