"""The search page at ``/`` and the API documentation (``/docs``: Swagger UI, ``/redoc``: ReDoc), all
served from files inside the package: nothing is fetched from a CDN, so both work offline."""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).resolve().parent.parent / "static"
# Pages may load only what this server serves: nothing reaches a CDN even where a bundle links one
# (ReDoc's logo), and an injected script could not send data elsewhere.
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline' blob:; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'"
)
PAGE_CSP = "default-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"


def docs_assets() -> Path:
    """Swagger UI and ReDoc bundles, as shipped by the ``fastapi-offline`` package."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


def router(app):
    from fastapi import APIRouter
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
    from fastapi.responses import FileResponse, HTMLResponse
    from fastapi.staticfiles import StaticFiles

    app.mount("/static/docs", StaticFiles(directory=docs_assets()), name="docs-assets")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    r = APIRouter(include_in_schema=False)

    @r.get("/")
    def page():
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache", "content-security-policy": PAGE_CSP})

    @r.get("/favicon.ico")
    def favicon():
        return FileResponse(docs_assets() / "favicon.png")

    @r.get("/docs")
    def swagger() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="encoderkit API",
            swagger_js_url="/static/docs/swagger-ui-bundle.js",
            swagger_css_url="/static/docs/swagger-ui.css",
            swagger_favicon_url="/favicon.ico",
            swagger_ui_parameters={"persistAuthorization": True},
        )
        page.headers["content-security-policy"] = CSP
        return page

    @r.get("/redoc")
    def redoc() -> HTMLResponse:
        page = get_redoc_html(
            openapi_url="/openapi.json",
            title="encoderkit API",
            redoc_js_url="/static/docs/redoc.standalone.js",
            redoc_favicon_url="/favicon.ico",
            with_google_fonts=False,
        )
        page.headers["content-security-policy"] = CSP
        return page

    return r
