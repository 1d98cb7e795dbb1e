"""The yardstick of the HTTP command scenario: a bare FastAPI app with the route shape of
``POST /stock/{sku}/receipts`` (path pattern, JSON body model, the same headers, 201 with
``{id, version, position}`` and an ETag, a sync handler as shop's) and no I/O at all.

Served like the command API: ``uvicorn.run(factory, host, port, log_level="info")``.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any
from uuid import NAMESPACE_URL, uuid5

import uvicorn
from fastapi import FastAPI, Header, Path, Response, status
from pydantic import BaseModel, Field

_SKU = r"^[A-Z0-9][A-Z0-9-]{1,39}$"
_KEY = r"^[A-Za-z0-9._:-]+$"


class ReceiveStock(BaseModel):
    quantity: Annotated[int, Field(ge=1, le=1_000_000)]


class Result(BaseModel):
    id: str
    version: int
    position: int


def create() -> FastAPI:
    api = FastAPI(title="bare yardstick")

    @api.get("/readyz")
    def readyz() -> dict[str, str]:
        return {"status": "ready"}

    @api.post("/stock/{sku}/receipts", status_code=status.HTTP_201_CREATED, response_model=Result)
    def receive_stock(
        sku: Annotated[str, Path(pattern=_SKU)],
        command: ReceiveStock,
        response: Response,
        idempotency_key: Annotated[
            str | None, Header(min_length=8, max_length=100, pattern=_KEY)
        ] = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        response.headers["ETag"] = '"1"'
        return {"id": str(uuid5(NAMESPACE_URL, sku)), "version": 1, "position": command.quantity}

    return api


if __name__ == "__main__":
    uvicorn.run(
        "benchmarks.bare_app:create",
        factory=True,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="info",
    )
