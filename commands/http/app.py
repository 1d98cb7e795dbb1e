"""The command HTTP API: one resource per aggregate, one endpoint per command."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, FastAPI, Header, Response, status

from commands.base import CommandResult
from commands.catalog.application import CatalogApplication
from commands.catalog.models import AddProduct, ChangePrice
from commands.metadata import caused_by

CorrelationId = Annotated[str | None, Header(max_length=100, pattern=r"^[A-Za-z0-9._:-]+$")]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]
IfMatch = Annotated[str | None, Header(pattern=r'^(W/)?"?\d{1,18}"?$')]


def create_command_api(
    catalog: CatalogApplication,
    readiness: Callable[[], None],
    read_api_url: str,
    lifespan: Lifespan | None = None,
) -> FastAPI:
    api = FastAPI(
        lifespan=lifespan,
        title="shop command API",
        version="1",
        description="Commands change state by appending events; responses carry the new "
        "version and the event-store position to read your own writes.",
    )
    api.include_router(_health_router(readiness))
    api.include_router(_catalog_router(catalog, read_api_url.rstrip("/")))
    return api


def _health_router(readiness: Callable[[], None]) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    def readyz(response: Response) -> dict[str, str]:
        try:
            readiness()
        except Exception as e:
            response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
            return {"status": "unavailable", "reason": str(e)}
        return {"status": "ready"}

    return router


def _catalog_router(catalog: CatalogApplication, read_api_url: str) -> APIRouter:
    router = APIRouter(prefix="/products", tags=["catalog"])

    @router.post("", status_code=status.HTTP_201_CREATED)
    def add_product(
        command: AddProduct,
        response: Response,
        x_correlation_id: CorrelationId = None,
    ) -> CommandResult:
        with caused_by(x_correlation_id):
            result = catalog.add_product(command)
        # The product is read where queries are served: the read API.
        response.headers["Location"] = f"{read_api_url}/products/{result.id}"
        response.headers["ETag"] = f'"{result.version}"'
        return result

    @router.post("/{product_id}/price")
    def change_price(
        product_id: UUID,
        command: ChangePrice,
        response: Response,
        if_match: IfMatch = None,
        x_correlation_id: CorrelationId = None,
    ) -> CommandResult:
        with caused_by(x_correlation_id):
            result = catalog.change_price(
                product_id, command.price.to_money(), expected_version=_version(if_match)
            )
        response.headers["ETag"] = f'"{result.version}"'
        return result

    return router


def _version(if_match: str | None) -> int | None:
    return None if if_match is None else int(if_match.removeprefix("W/").strip('"'))
