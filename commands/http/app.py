"""The command HTTP API: each context contributes one router of command endpoints."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import anyio.to_thread
from fastapi import APIRouter, FastAPI

from security.api_frame import Lifespan, api_frame, health_router


def create_command_api(
    routers: Iterable[APIRouter],
    readiness: Callable[[], None],
    lifespan: Lifespan | None = None,
) -> FastAPI:
    api = api_frame(
        "shop command API",
        "Commands change state by appending events; responses carry the new "
        "version and the event-store position to read your own writes.",
        lifespan,
    )
    # The check is blocking: in a worker thread, as a sync route would run it.
    api.include_router(health_router(lambda: anyio.to_thread.run_sync(readiness)))
    for router in routers:
        api.include_router(router)
    return api
