"""The web dashboard at ``/`` and the offline API docs: files shipped inside the API package.

Why this shape: the dashboard is plain ES modules and one CSS file (no build
step), and every third-party asset — uPlot for the charts, Swagger UI and Redoc
for ``/docs`` — is vendored from npm at a pinned version (``vendor.py``,
``static/vendor/manifest.json``), so both work on a machine without internet.
The page and its assets need no API key (the page asks for one and sends it on
its own API calls); the routes opt out of authentication by their ``opt``
instead of widening the shared list of public path prefixes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from litestar import MediaType
from litestar import Response
from litestar import Router
from litestar import get
from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.openapi.plugins import RedocRenderPlugin
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

from backtest_api.dashboard.api import PricesController
from backtest_api.dashboard.api import ValidationController

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: Where the static directory is served.
ASSETS_PATH = "/ui"
#: Route option that ``ApiKeyAuthMiddleware`` (an ``AbstractAuthenticationMiddleware``) honours.
PUBLIC = {"exclude_from_auth": True}
#: Browsers revalidate (ETag / Last-Modified), so a new release's files are picked up at once.
REVALIDATE = CacheControlHeader(no_cache=True)
FAVICON = f"<link rel='icon' type='image/svg+xml' href='{ASSETS_PATH}/favicon.svg'>"
#: The docs pages may load nothing from another host. Redoc's bundle hard-codes one image on its
#: vendor's CDN (a logo, hidden when it fails); this policy stops the browser from even asking.
#: Inline script and style: both UIs are started by an inline script and style with inline CSS.
DOCS_CSP = (
    "<meta http-equiv='Content-Security-Policy' content=\"default-src 'self'; "
    "script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; worker-src 'self' blob:\">"
)


def vendor_url(package: str, path: str) -> str:
    """The served URL of a vendored file, at the version pinned in the manifest."""
    manifest: dict[str, Any] = json.loads((STATIC_DIR / "vendor" / "manifest.json").read_text())
    pin = manifest[package]
    if path not in pin["files"]:
        raise KeyError(f"{package}: {path} is not vendored")
    return f"{ASSETS_PATH}/vendor/{package}/{pin['version']}/{Path(path).name}"


@get("/", include_in_schema=False, opt=PUBLIC, media_type=MediaType.HTML, cache_control=REVALIDATE)
async def dashboard_index() -> Response[bytes]:
    """The single page; its views are addressed by the URL fragment (``/#/runs``), so one route serves them all."""
    return Response((STATIC_DIR / "index.html").read_bytes(), media_type=MediaType.HTML)


def dashboard_routes() -> list[Any]:
    """Route handlers to register on the app: the page, its static files and its two API endpoints."""
    assets: Router = create_static_files_router(
        path=ASSETS_PATH,
        directories=[STATIC_DIR],
        opt=PUBLIC,
        cache_control=REVALIDATE,
        name="dashboard-assets",
    )
    return [dashboard_index, assets, ValidationController, PricesController]


def docs_render_plugins() -> list[OpenAPIRenderPlugin]:
    """Swagger UI at ``/docs`` and Redoc at ``/docs/redoc``, both loading only locally served files."""
    return [
        SwaggerRenderPlugin(
            path="/",
            js_url=vendor_url("swagger-ui-dist", "swagger-ui-bundle.js"),
            css_url=vendor_url("swagger-ui-dist", "swagger-ui.css"),
            standalone_preset_js_url=vendor_url("swagger-ui-dist", "swagger-ui-standalone-preset.js"),
            favicon=DOCS_CSP + FAVICON,  # the plugins put this first in <head>
        ),
        RedocRenderPlugin(
            path="/redoc",
            js_url=vendor_url("redoc", "bundles/redoc.standalone.js"),
            google_fonts=False,
            favicon=DOCS_CSP + FAVICON,
        ),
    ]
