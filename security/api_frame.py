"""What both HTTP APIs are built on: one FastAPI frame (rate limits on every route, no
built-in docs or telemetry) and the health probes an orchestrator asks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager

from fastapi import APIRouter, FastAPI, Response, status

from security.access import Gate, Public

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def api_frame(title: str, description: str, lifespan: Lifespan | None) -> FastAPI:
    return FastAPI(
        # Server spans come from infra's TraceRequests, which makes them current for the
        # handlers (FastAPI's own do not, so events would miss them); no log records, which
        # would export exception messages that may hold what a client sent (ADR 0030); no
        # metrics, which ours (HttpMetrics, Prometheus) already are, and whose check for a
        # meter provider reads the environment on every request.
        telemetry={"tracing": False, "logs": False, "metrics": False},
        lifespan=lifespan,
        dependencies=[Gate],  # rate limits; routes without a declared policy: admins only
        title=title,
        version="1",
        docs_url=None,  # served from local files by infra.docs
        redoc_url=None,
        description=description,
    )


def health_router(readiness: Callable[[], Awaitable[None]]) -> APIRouter:
    """``/healthz``: the process answers; ``/readyz``: its dependencies do (503 naming the
    one that does not)."""
    router = APIRouter(tags=["health"], dependencies=[Public])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz(response: Response) -> dict[str, str]:
        try:
            await readiness()
        except Exception as e:
            response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
            # The dependency that is missing, when the check names one (ADR 0029).
            dependency = getattr(e, "dependency", None) or "unknown"
            return {"status": "unavailable", "dependency": dependency, "reason": str(e)}
        return {"status": "ready"}

    return router
