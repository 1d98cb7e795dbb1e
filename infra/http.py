"""HTTP plumbing shared by both APIs: problem+json bodies, body-size limit, card-data
refusal, error mapping (log redaction lives in ``infra.log_safety``)."""

from __future__ import annotations

import asyncio
import http
import json
import logging
import re
from typing import Any
from urllib.parse import parse_qsl, unquote

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from commands.base import VersionConflict
from commands.card_data import card_data_field
from domain.errors import AlreadyExists, Conflict, DomainError, NotFound
from infra.asgi import HttpMiddleware
from infra.observability.http_metrics import count_refusal

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


def problem(status: int, title: str, detail: str, code: str, **extra: Any) -> JSONResponse:
    body = {
        "type": f"urn:shop:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return JSONResponse(jsonable_encoder(body), status_code=status, media_type=PROBLEM_JSON)


def title_for(code: str) -> str:
    """A title a person reads, from the stable code: ``cart_line_not_found`` → "Cart line not
    found" (never a Python class name)."""
    return code.replace("_", " ").capitalize()


def _field_error(error: Any) -> dict[str, Any]:
    """A validation error as the client sees it: a field name that is a field name, in words."""
    loc, message, kind = list(error["loc"]), error["msg"], error["type"]
    context = error.get("ctx") or {}
    if kind == "json_invalid":  # loc is ("body", <character offset>), not a field
        at = loc[1] if len(loc) > 1 else "?"
        loc = loc[:1]
        message = f"the body is not valid JSON (at character {at}: {context.get('error', '')})"
    elif kind == "too_short" and "min_length" in context:
        message = f"must have at least {context['min_length']} characters"
        if isinstance(error.get("input"), list):
            message = f"must have at least {context['min_length']} items"
    elif kind == "too_long" and "max_length" in context:
        message = f"must have at most {context['max_length']} characters"
        if isinstance(error.get("input"), list):
            message = f"must have at most {context['max_length']} items"
    return {"field": ".".join(str(p) for p in loc), "message": message, "type": kind}


def reason(status: int) -> str:
    """The HTTP reason phrase for ``status`` ("Conflict", "Precondition Required", ...)."""
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def domain_status(error: DomainError) -> int:
    """NotFound → 404; AlreadyExists, Conflict, VersionConflict → 409; other rules → 422.

    Statuses that only some endpoints use (402, 428, 503, 504) are not decided here: those
    routers raise ``security.problems.Problem``.
    """
    match error:
        case NotFound():
            return 404
        case AlreadyExists() | Conflict() | VersionConflict():
            return 409
        case _:
            return 422


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> Response:
        errors = [_field_error(e) for e in exc.errors()]
        fields = ", ".join(e["field"] for e in errors)
        return problem(
            422, "Invalid request", f"invalid: {fields}", "validation_failed", errors=errors
        )

    @app.exception_handler(DomainError)
    async def rule_said_no(_: Request, exc: DomainError) -> Response:
        status = domain_status(exc)
        return problem(status, title_for(exc.code), exc.detail, exc.code)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        count_refusal(exc)  # 401s by reason, 429s by limit (ADR 0029)
        code = str(getattr(exc, "code", ""))
        detail = str(exc.detail)
        if exc.status_code == 404 and not code:  # the same code as a domain NotFound
            code = "not_found"
            if detail == "Not Found":  # no route matched: the same body on both APIs
                detail = f"there is no {request.method} {request.url.path} here (see /docs)"
        title = title_for(code) if code else reason(exc.status_code)
        code = code or f"http_{exc.status_code}"
        response = problem(exc.status_code, title, detail, code)
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(RedisError)
    async def redis_unavailable(request: Request, exc: RedisError) -> Response:
        log.warning("Redis unavailable on %s %s: %r", request.method, request.url.path, exc)
        response = problem(
            503,
            "Service unavailable",
            "this read depends on a store that does not answer right now; retry shortly",
            "store_unavailable",
        )
        response.headers["Retry-After"] = "2"
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(
            500,
            "Internal error",
            "the server failed; nothing was changed unless a response said so",
            "internal_error",
        )


class BodySizeLimit(HttpMiddleware):
    """Refuse bodies over ``max_bytes`` with 413 before the application reads them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(
            413,
            "Request body too large",
            f"the body must not exceed {self.max_bytes} bytes",
            "body_too_large",
        )
        await response(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


class CardDataRefusal(HttpMiddleware):
    """Refuse with 422 ``card_data_refused`` any request carrying a card number or a security
    code: in the path, a header (``Idempotency-Key`` and ``X-Correlation-Id`` are stored), the
    query (names and every value of a repeated parameter) or a JSON or form body, before any
    route, validation or log sees it (PCI DSS scope, ADR 0023, 0028). The answer names the
    field, never the value, nor a name that is itself card data."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = _card_data_in_url(scope) or _card_data_in_headers(scope)
        if found is not None:
            await _refuse_card_data(found, scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        body = b""
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        if json_too_deep(body):
            response = problem(
                422,
                "Invalid request",
                f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels",
                "json_too_deep",
            )
            await response(scope, receive, send)
            return
        found = _card_data_in_body(body, dict(scope["headers"]).get(b"content-type", b""))
        if found is not None:
            await _refuse_card_data(found, scope, receive, send)
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"?')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``body`` (read as JSON) nests arrays and objects deeper than ``limit``, found
    without parsing it: a deep body would exhaust the parser's recursion (a 500)."""
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    depth = 0
    for byte in brackets:
        depth += 1 if byte in b"[{" else -1
        if depth > limit:
            return True
    return False


def _card_data_in_url(scope: Scope) -> str | None:
    # The whole path, decoded: a number split over segments by slashes is one too.
    if card_data_field(unquote(str(scope["path"]))) is not None:
        return "path"
    query = scope.get("query_string", b"").decode("latin-1")
    return _card_data_in_pairs(parse_qsl(query, keep_blank_values=True), "query")


def _card_data_in_pairs(pairs: list[tuple[str, str]], where: str) -> str | None:
    """Every name and every value, repeated names included."""
    for name, value in pairs:
        found = card_data_field({name: value})
        if found is not None:
            return f"{where}.{found}"
    return None


def _card_data_in_headers(scope: Scope) -> str | None:
    pairs = [
        (name.decode("latin-1").lower(), value.decode("utf-8", errors="replace"))
        for name, value in scope["headers"]
    ]
    return _card_data_in_pairs(pairs, "header")


def _card_data_in_body(body: bytes, content_type: bytes) -> str | None:
    if not body:
        return None
    data: Any
    if b"x-www-form-urlencoded" in content_type:
        pairs = parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)
        return _card_data_in_pairs(pairs, "body")
    try:  # JSON, or anything the route will refuse anyway: checked as JSON if it parses
        data = json.loads(body)
    except ValueError:
        data = body.decode("utf-8", errors="replace")
    found = card_data_field(data)
    return None if found is None else f"body.{found}" if found != "body" else "body"


async def _refuse_card_data(field: str, scope: Scope, receive: Receive, send: Send) -> None:
    message = (
        f"{field} looks like a card number or security code: send a payment token, "
        "the card brand and the last four digits only"
    )
    response = problem(
        422,
        "Card data refused",
        message,
        "card_data_refused",
        errors=[{"field": field, "message": message, "type": "card_data_refused"}],
    )
    await response(scope, receive, send)


class RequestTimeout(HttpMiddleware):
    """Answer 503 ``request_timeout`` when a request takes longer than ``seconds``.

    Only before the response has started; afterwards the request is left to finish. A
    command that timed out may still complete in its worker thread: the problem body says
    so, and a retry with the same Idempotency-Key answers its result instead of repeating it.
    """

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        super().__init__(app)
        self.seconds = seconds

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            async with asyncio.timeout(self.seconds):
                await self.app(scope, receive, tracking_send)
        except TimeoutError:
            if started:
                raise
            log.warning("request timed out: %s %s", scope.get("method"), scope.get("path"))
            response = problem(
                503,
                "Request timed out",
                f"no answer within {self.seconds:g} s; a command may still have been applied:"
                " retry with the same Idempotency-Key",
                "request_timeout",
            )
            response.headers["Retry-After"] = "1"
            await response(scope, receive, send)
