"""The command HTTP API: each context contributes one router of command endpoints."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager

from fastapi import APIRouter, FastAPI, Response, status

from security.access import Gate, Public

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_command_api(
    routers: Iterable[APIRouter],
    readiness: Callable[[], None],
    lifespan: Lifespan | None = None,
) -> FastAPI:
    api = FastAPI(
        # Server spans come from infra's TraceRequests, which makes them current for the
        # handlers (FastAPI's own do not, so events would miss them); no log records, which
        # would export exception messages that may hold what a client sent (ADR 0030); no
        # metrics, which ours (HttpMetrics, Prometheus) already are, and whose check for a
        # meter provider reads the environment on every request.
        telemetry={"tracing": False, "logs": False, "metrics": False},
        lifespan=lifespan,
        dependencies=[Gate],  # rate limits; routes without a declared policy: admins only
        title="shop command API",
        version="1",
        docs_url=None,  # served from local files by infra.docs
        redoc_url=None,
        description="Commands change state by appending events; responses carry the new "
        "version and the event-store position to read your own writes.",
    )
    api.include_router(_health_router(readiness))
    for router in routers:
        api.include_router(router)
    return api


def _health_router(readiness: Callable[[], None]) -> APIRouter:
    router = APIRouter(tags=["health"], dependencies=[Public])

    @router.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    def readyz(response: Response) -> dict[str, str]:
        try:
            readiness()
        except Exception as e:
            response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
            # The dependency that is missing, when the check names one (ADR 0029).
            dependency = getattr(e, "dependency", None) or "unknown"
            return {"status": "unavailable", "dependency": dependency, "reason": str(e)}
        return {"status": "ready"}

    return router
