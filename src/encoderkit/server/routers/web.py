"""The search page at ``/`` and the API documentation (``/docs``: Swagger UI, ``/redoc``: ReDoc), all
served from files inside the package: nothing is fetched from a CDN, so both work offline."""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).resolve().parent.parent / "static"


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
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})

    @r.get("/favicon.ico")
    def favicon():
        return FileResponse(docs_assets() / "favicon.png")

    @r.get("/docs")
    def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="encoderkit API",
            swagger_js_url="/static/docs/swagger-ui-bundle.js",
            swagger_css_url="/static/docs/swagger-ui.css",
            swagger_favicon_url="/favicon.ico",
            swagger_ui_parameters={"persistAuthorization": True},
        )

    @r.get("/redoc")
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title="encoderkit API",
            redoc_js_url="/static/docs/redoc.standalone.js",
            redoc_favicon_url="/favicon.ico",
            with_google_fonts=False,
        )

    return r
