"""`/docs` (Swagger UI) and `/redoc` (ReDoc) served offline, and OpenAPI security as the
access policies say.

The scripts, styles and favicon come from the `fastapi-offline` wheel the project depends on
(it ships Swagger UI's bundle and ReDoc's standalone build); nothing is fetched at run time,
and ReDoc is told not to load web fonts, so both pages render on a machine without a network.

The app-wide gate (``security.access.gate``) reads the bearer token on every route, so FastAPI
marks every operation as needing one; the routes whose policy is ``Public`` (sign-in,
registration, health checks, product search and pages) lose that mark here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request

from security.access import public

ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
PREFIX = "/docs-assets"


def install_docs(api: FastAPI) -> None:
    """Serve the docs pages from local files; build with ``docs_url=None, redoc_url=None``."""
    api.mount(PREFIX, StaticFiles(directory=ASSETS), name="docs-assets")
    openapi_url = api.openapi_url or "/openapi.json"

    async def swagger(_: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{api.title} - Swagger UI",
            swagger_js_url=f"{PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{PREFIX}/favicon.png",
            # No badge asking an online validator about the document.
            swagger_ui_parameters={"validatorUrl": None},
        )

    async def redoc(_: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{api.title} - ReDoc",
            redoc_js_url=f"{PREFIX}/redoc.standalone.js",
            redoc_favicon_url=f"{PREFIX}/favicon.png",
            with_google_fonts=False,
        )

    # Plain routes, like FastAPI's own docs routes: no gate, not in the schema.
    api.add_route("/docs", swagger, include_in_schema=False)
    api.add_route("/redoc", redoc, include_in_schema=False)
    generate = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            api.openapi_schema = public_without_security(api, generate())
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]


def public_without_security(api: FastAPI, schema: dict[str, Any]) -> dict[str, Any]:
    """Operations of public routes declare no security requirement (an empty list)."""
    for route in _api_routes(api):
        if not route.include_in_schema or public not in set(_calls(route.dependant)):
            continue
        operations = schema.get("paths", {}).get(route.path_format, {})
        for method in route.methods or ():
            operation = operations.get(method.lower())
            if operation is not None:
                operation["security"] = []
    return schema


def _api_routes(api: FastAPI) -> Iterator[Any]:
    """Every API route as the OpenAPI generator sees it, with the dependencies of the routers
    that include it (recent FastAPI keeps an included router as one entry of ``api.routes``;
    its route contexts look like ``APIRoute``)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # a FastAPI that copies included routes into ``api.routes``
        yield from (route for route in api.routes if isinstance(route, APIRoute))
        return
    for context in iter_route_contexts(api.routes):
        if isinstance(context.original_route, APIRoute):
            yield context


def _calls(dependant: Dependant) -> Iterator[Any]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _calls(dependency)
