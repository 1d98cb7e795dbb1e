"""What a command endpoint takes from its request, and the ceremony around its command.

An endpoint declares which of the headers it understands by the dependency it takes:
``Traced`` (``X-Correlation-Id``), ``Keyed`` (and ``Idempotency-Key``), ``Versioned`` (and
``If-Match``) or ``KeyedVersioned`` (all three). Each gives a ``CommandCall``, which runs the
endpoint's command under the correlation id, once per key where there is one, writes the
audit record of a privileged command under the same id, and sets the new version as the
ETag; the endpoint's body is left with its own command only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Request, Response, status
from pydantic import BaseModel

from commands.base import CommandResult, ShopApplication
from commands.metadata import caused_by, current_correlation_id
from domain.errors import DomainError
from security.access import Principal
from security.audit import AuditLog
from security.problems import Problem

Result = TypeVar("Result", bound=CommandResult | dict[str, Any])
T = TypeVar("T")

CorrelationId = Annotated[
    str | None,
    Header(max_length=100, pattern=r"^[A-Za-z0-9._:-]+$", description="traces a request chain"),
]
IfMatch = Annotated[
    str | None,
    Header(pattern=r'^(W/)?"?\d{1,18}"?$', description="the version you expect: 409 if stale"),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=8,
        max_length=100,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="a repeat with the same key returns the first response and changes nothing",
    ),
]


class IdempotencyKeyRequired(DomainError):
    """The command needs an ``Idempotency-Key`` header (answered with 428)."""

    code = "idempotency_key_required"


def expected_version(if_match: str | None) -> int | None:
    return None if if_match is None else int(if_match.removeprefix("W/").strip('"'))


def with_etag(response: Response, result: Result) -> Result:
    """The result, its version set as the ETag. A dict is a keyed command's first response."""
    version = result["version"] if isinstance(result, dict) else result.version
    response.headers["ETag"] = f'"{version}"'
    return result


@dataclass(frozen=True)
class AuditNote:
    """The audit record of a privileged command: who did ``action`` to ``target``.

    ``detail`` may be a function of the command's result (the version it made)."""

    log: AuditLog
    principal: Principal
    action: str
    target: str
    detail: dict[str, Any] | Callable[[Any], dict[str, Any]]

    def write(self, result: Any) -> None:
        """Under the command's ``caused_by``: the record carries its correlation id."""
        detail = self.detail(result) if callable(self.detail) else self.detail
        self.log.record(
            self.principal.actor, self.action, self.target, current_correlation_id(), detail
        )


@dataclass(frozen=True)
class CommandCall:
    """One request to a command endpoint: the headers it sent and the response to be."""

    response: Response
    idempotency_key: str | None = None
    if_match: str | None = None
    correlation_id: str | None = None

    @property
    def expected_version(self) -> int | None:
        """The version ``If-Match`` names (None: the command applies to any version)."""
        return expected_version(self.if_match)

    def required_key(self, why: str) -> str:
        """The Idempotency-Key of a command that is identified by it: 428 without one.

        Asked in the endpoint, not by a dependency, so an invalid body is still a 422 first.
        """
        if self.idempotency_key is None:
            raise Problem(status.HTTP_428_PRECONDITION_REQUIRED, IdempotencyKeyRequired(why))
        return self.idempotency_key

    def locate(self, url: str) -> None:
        """Where the created thing is read: on the read API, where queries are served."""
        self.response.headers["Location"] = url

    def traced(self, action: Callable[[], T], audit: AuditNote | None = None) -> T:
        """Run ``action`` under the request's correlation id (a fresh one if it sent none);
        no ETag: for answers that are no one aggregate's version."""
        with caused_by(self.correlation_id):
            result = action()
            if audit is not None:
                audit.write(result)
        return result

    def run(self, action: Callable[[], Result], audit: AuditNote | None = None) -> Result:
        """``traced``, its result's version set as the ETag."""
        return with_etag(self.response, self.traced(action, audit))

    def once(
        self,
        app: ShopApplication,
        operation: str,
        request: BaseModel,
        action: Callable[[], CommandResult],
        audit: AuditNote | None = None,
        etag: bool = True,
    ) -> dict[str, Any]:
        """``action`` at most once per Idempotency-Key (``ShopApplication.once``): a repeat
        answers the first response."""
        result = self.traced(
            lambda: app.once(self.idempotency_key, operation, request, action), audit
        )
        return with_etag(self.response, result) if etag else result


# One dependency per set of headers an endpoint understands: a header an endpoint does not
# take is neither validated nor offered in its OpenAPI. The order is the OpenAPI's.


async def _traced(response: Response, x_correlation_id: CorrelationId = None) -> CommandCall:
    return CommandCall(response, correlation_id=x_correlation_id)


async def _keyed(
    response: Response,
    idempotency_key: IdempotencyKey = None,
    x_correlation_id: CorrelationId = None,
) -> CommandCall:
    return CommandCall(response, idempotency_key, None, x_correlation_id)


async def _versioned(
    response: Response, if_match: IfMatch = None, x_correlation_id: CorrelationId = None
) -> CommandCall:
    return CommandCall(response, None, if_match, x_correlation_id)


async def _keyed_versioned(
    response: Response,
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
    x_correlation_id: CorrelationId = None,
) -> CommandCall:
    return CommandCall(response, idempotency_key, if_match, x_correlation_id)


# async: no thread-pool hop for what only reads headers.
Traced = Annotated[CommandCall, Depends(_traced)]
Keyed = Annotated[CommandCall, Depends(_keyed)]
Versioned = Annotated[CommandCall, Depends(_versioned)]
KeyedVersioned = Annotated[CommandCall, Depends(_keyed_versioned)]


async def audit_log_of(request: Request) -> AuditLog:  # async: no thread-pool hop
    """The app's audit log (``app.state.audit_log``): privileged endpoints record to it."""
    log = getattr(request.app.state, "audit_log", None)
    if not isinstance(log, AuditLog):
        raise RuntimeError("this app has no audit log (app.state.audit_log)")
    return log


Audit = Annotated[AuditLog, Depends(audit_log_of)]
