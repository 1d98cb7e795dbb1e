"""The payload of every event type that goes on the bus, as JSON Schema.

Derived from the domain events themselves, so a field added to an event appears here at
once: the payload is the event's own fields (``public_payload``) less the ones it declares
private, each written the way ``jsonable`` writes it. The relay publishes the event's
current class version only: older stored events are upcast when they are read.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, DomainEvent

from contract.envelope import NOT_PAYLOAD, type_of_class
from domain.carts.cart import Cart
from domain.catalog.product import Product
from domain.identity.user import User
from domain.inventory.stock_item import StockItem
from domain.money import Money
from domain.orders.order import Order
from domain.payments.payment import Payment

# The aggregates whose events each context publishes on its topic.
PUBLISHED: dict[str, tuple[type[Aggregate], ...]] = {
    "catalog": (Product,),
    "carts": (Cart,),
    "identity": (User,),
    "inventory": (StockItem,),
    "orders": (Order,),
    "payments": (Payment,),
}
# Every aggregate gets these base classes from eventsourcing; none is ever stored.
_BASE_EVENTS = {"Event", "Created"}
_MONEY = {
    "type": "object",
    "required": ["minor", "currency"],
    "properties": {"minor": {"type": "integer"}, "currency": {"type": "string"}},
    "additionalProperties": False,
}


@dataclass(frozen=True, slots=True)
class EventPayload:
    context: str
    type: str  # as in the envelope: ``catalog.ProductAdded``
    version: int  # the event's class version
    schema: dict[str, Any]
    summary: str


def published_events() -> Iterator[EventPayload]:
    for context, aggregates in PUBLISHED.items():
        for aggregate in aggregates:
            for name, member in vars(aggregate).items():
                if _is_published_event(name, member):
                    yield _payload_of(context, member)


def _is_published_event(name: str, member: object) -> bool:
    return isinstance(member, type) and issubclass(member, DomainEvent) and name not in _BASE_EVENTS


def _payload_of(context: str, event_class: type[DomainEvent]) -> EventPayload:
    private = set(getattr(event_class, "private_fields", ()))
    fields = {
        name: hint
        for name, hint in typing.get_type_hints(event_class).items()
        if name not in NOT_PAYLOAD
        and name not in private
        and not name.startswith("_")
        and typing.get_origin(hint) is not typing.ClassVar
        and name != "originator_id_type"
    }
    schema = {
        "type": "object",
        "required": sorted(fields),
        "properties": {name: schema_of(hint) for name, hint in fields.items()},
        # Producers may add a field before consumers know it (ADR 0004).
        "additionalProperties": True,
    }
    doc = (event_class.__doc__ or "").strip()
    return EventPayload(
        context=context,
        type=type_of_class(context, event_class),
        version=getattr(event_class, "class_version", 1),
        schema=schema,
        summary=doc.splitlines()[0] if doc else event_class.__qualname__,
    )


def schema_of(hint: Any) -> dict[str, Any]:
    """The JSON Schema of a value of this type once ``jsonable`` has written it."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [schema_of(arg) for arg in args]}
    if origin in (list, tuple, set, frozenset) or hint in (list, tuple):
        item = args[0] if args and args[0] is not Ellipsis else Any
        return {"type": "array", "items": schema_of(item)}
    if origin is dict or hint is dict:
        value = args[1] if len(args) == 2 else Any
        return {"type": "object", "additionalProperties": schema_of(value)}
    return _schema_of_plain(hint)


def _schema_of_plain(hint: Any) -> dict[str, Any]:
    if hint is type(None):
        return {"type": "null"}
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return {"type": "integer"}
    if hint is float:
        return {"type": "number"}
    if hint is str:
        return {"type": "string"}
    if hint is Money:
        return _MONEY
    if hint is UUID:
        return {"type": "string", "format": "uuid"}
    if hint is Decimal:
        return {"type": "string"}
    if hint is datetime:
        return {"type": "string", "format": "date-time"}
    if isinstance(hint, type) and issubclass(hint, Enum):
        return {"enum": [member.value for member in hint]}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        return {
            "type": "object",
            "properties": {f.name: schema_of(hints[f.name]) for f in dataclasses.fields(hint)},
        }
    return {}  # Any: the domain keeps it open, so does the contract
