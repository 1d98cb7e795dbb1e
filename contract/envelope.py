"""The integration-event envelope: what travels on Kafka (see ADR 0004).

Version 1, JSON encoded. Domain events stay inside their context; the envelope
carries a public payload built from them, with no plaintext personal data.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, is_dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import DomainEvent, DomainEventProtocol

from contract.metadata import EventMetadata
from domain.money import Money

SCHEMA_VERSION = 1
_EVENT_ID_NAMESPACE = uuid5(NAMESPACE_URL, "urn:shop:event")
NOT_PAYLOAD = {"originator_id", "originator_version", "timestamp", "originator_topic"}


class MalformedEnvelope(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Envelope:
    event_id: str
    type: str
    schema_version: int
    context: str
    aggregate_id: str
    aggregate_version: int
    position: int
    occurred_at: str
    correlation_id: str | None
    causation_id: str | None
    payload: dict[str, Any]
    # W3C trace context of the command that stored the event (ADR 0030); also sent as the
    # Kafka headers ``traceparent`` and ``tracestate``. Optional: older messages lack them.
    traceparent: str | None = None
    tracestate: str | None = None

    @property
    def key(self) -> bytes:
        return self.aggregate_id.encode()

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> Envelope:
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise MalformedEnvelope("envelope is not a JSON object")
            version = data.get("schema_version")
            if version != SCHEMA_VERSION:
                raise MalformedEnvelope(f"unsupported schema_version {version!r}")
            # Unknown top-level fields are ignored: producers may add fields first.
            envelope = cls(**{f: data[f] for f in cls.__dataclass_fields__ if f in data})
        except (ValueError, TypeError) as e:
            raise MalformedEnvelope(str(e)) from e
        if not isinstance(envelope.payload, dict) or not isinstance(
            envelope.aggregate_version, int
        ):
            raise MalformedEnvelope("payload must be an object, aggregate_version an integer")
        return envelope


def event_type(context: str, domain_event: object) -> str:
    """``Product.PriceChanged`` in the catalog → ``catalog.ProductPriceChanged``."""
    return type_of_class(context, type(domain_event))


def type_of_class(context: str, event_class: type) -> str:
    owner, _, name = event_class.__qualname__.rpartition(".")
    return f"{context}.{owner}{name}"


def envelope_for(
    context: str,
    domain_event: DomainEventProtocol[UUID],
    position: int,
    metadata: EventMetadata | None,
) -> Envelope:
    if not isinstance(domain_event, DomainEvent):
        raise TypeError(f"{type(domain_event).__name__} is not a stored domain event")
    aggregate_id = str(domain_event.originator_id)
    version = domain_event.originator_version
    return Envelope(
        # Deterministic: the same stored event always gets the same id, so a re-published
        # copy is recognisably the same event.
        event_id=str(uuid5(_EVENT_ID_NAMESPACE, f"{context}/{aggregate_id}/{version}")),
        type=event_type(context, domain_event),
        schema_version=SCHEMA_VERSION,
        context=context,
        aggregate_id=aggregate_id,
        aggregate_version=version,
        position=position,
        occurred_at=domain_event.timestamp.isoformat(),
        correlation_id=metadata.correlation_id if metadata else None,
        causation_id=metadata.causation_id if metadata else None,
        payload=public_payload(domain_event),
        traceparent=metadata.traceparent if metadata else None,
        tracestate=metadata.tracestate if metadata else None,
    )


def public_payload(domain_event: object) -> dict[str, Any]:
    """The event's own fields, JSON-ready, minus the ones it declares private."""
    private = set(getattr(type(domain_event), "private_fields", ()))
    return {
        name: jsonable(value)
        for name, value in vars(domain_event).items()
        if name not in NOT_PAYLOAD and name not in private and not name.startswith("_")
    }


def jsonable(value: Any) -> Any:
    """A value of a domain event as JSON-ready data (money, enums, ids, times, dataclasses)."""
    match value:
        case Money():
            return {"minor": value.minor, "currency": value.currency}
        case Enum():
            return value.value
        case UUID() | Decimal():
            return str(value)
        case datetime():
            return value.isoformat()
        case dict():
            return {str(k): jsonable(v) for k, v in value.items()}
        case list() | tuple() | set() | frozenset():
            return [jsonable(v) for v in value]
        case _ if is_dataclass(value) and not isinstance(value, type):
            return jsonable(asdict(value))
        case _:
            return value
