"""The bus as an AsyncAPI 3.0 document: one channel per context's topic, one message per
event type and version, the Kafka key and headers the relay sets (ADR 0036).

Built from the contract alone, so a team consuming the topics reads this document, not our
source. The read API serves it as ``/asyncapi.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from contract.envelope import SCHEMA_VERSION
from contract.metadata import TRACEPARENT, TRACESTATE
from contract.payloads import PUBLISHED, EventPayload, published_events
from contract.watermark import HEADER as WATERMARK_HEADER

ASYNCAPI_VERSION = "3.0.0"
_KAFKA_BINDING = "0.5.0"
_UUID = {"type": "string", "format": "uuid"}
_OPTIONAL_TEXT = {"type": ["string", "null"]}
# W3C trace context: version-traceid-parentid-flags, lower-case hex.
_TRACEPARENT = {"type": "string", "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"}
_EVENT_HEADERS = {
    "type": "object",
    "description": "Sent when the command that stored the event had a trace context.",
    "properties": {TRACEPARENT: _TRACEPARENT, TRACESTATE: {"type": "string"}},
}
_WATERMARK = {
    "name": "watermark",
    "title": "Watermark",
    "summary": "Every event of the context's log up to the position in the header is published.",
    "description": "Written to every partition after each acknowledged batch, with no key and "
    "an empty value: a consumer that has read it in every partition has every event up to "
    "that position (ADR 0006). Skip it when dispatching on events.",
    "headers": {
        "type": "object",
        "required": [WATERMARK_HEADER],
        "properties": {WATERMARK_HEADER: {"type": "string", "pattern": "^[0-9]+$"}},
    },
    "payload": {"type": "string", "maxLength": 0},
}


def asyncapi_document(topic: Callable[[str], str]) -> dict[str, Any]:
    """The document for the topics that ``topic`` names (``Settings.topic``)."""
    payloads = list(published_events())
    messages = {message_name(p): _message(p) for p in payloads}
    messages["watermark"] = _WATERMARK
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "shop integration events",
            "version": str(SCHEMA_VERSION),
            "description": "What each bounded context publishes on Kafka: one topic per "
            "context, keyed by aggregate id, every value a JSON envelope (ADR 0004). Delivery "
            "is at least once: deduplicate by `aggregate_id` and `aggregate_version`.",
        },
        "defaultContentType": "application/json",
        "channels": {
            context: _channel(
                context, topic(context), [p for p in payloads if p.context == context]
            )
            for context in PUBLISHED
        },
        "operations": {
            f"publish_{context}": {
                "action": "send",
                "title": f"The {context} relay publishes",
                "channel": {"$ref": f"#/channels/{context}"},
                "messages": [
                    {"$ref": f"#/channels/{context}/messages/{name}"}
                    for name in _channel_messages(context, payloads)
                ],
            }
            for context in PUBLISHED
        },
        "components": {"messages": messages},
    }


def message_name(payload: EventPayload) -> str:
    """``catalog.ProductAdded.v2``: the event type and its class version."""
    return f"{payload.type}.v{payload.version}"


def _channel(context: str, address: str, payloads: list[EventPayload]) -> dict[str, Any]:
    return {
        "address": address,
        "title": f"{context} events",
        "description": f"Every event the {context} context stores, in order per aggregate.",
        "messages": {
            name: {"$ref": f"#/components/messages/{name}"}
            for name in _channel_messages(context, payloads)
        },
        "bindings": {"kafka": {"topic": address, "bindingVersion": _KAFKA_BINDING}},
    }


def _channel_messages(context: str, payloads: list[EventPayload]) -> list[str]:
    return [message_name(p) for p in payloads if p.context == context] + ["watermark"]


def _message(payload: EventPayload) -> dict[str, Any]:
    return {
        "name": payload.type,
        "title": payload.type,
        "summary": payload.summary,
        "headers": _EVENT_HEADERS,
        "payload": envelope_schema(payload),
        "bindings": {
            "kafka": {
                "key": {**_UUID, "description": "the aggregate id"},
                "bindingVersion": _KAFKA_BINDING,
            }
        },
    }


def envelope_schema(payload: EventPayload) -> dict[str, Any]:
    """The JSON Schema of the envelope that carries one event type and version."""
    return {
        "type": "object",
        "required": [
            "event_id",
            "type",
            "schema_version",
            "context",
            "aggregate_id",
            "aggregate_version",
            "position",
            "occurred_at",
            "correlation_id",
            "causation_id",
            "payload",
        ],
        "properties": {
            "event_id": {**_UUID, "description": "the same for every copy of the event"},
            "type": {"const": payload.type},
            "schema_version": {"const": SCHEMA_VERSION},
            "context": {"const": payload.context},
            "aggregate_id": _UUID,
            "aggregate_version": {"type": "integer", "minimum": 1},
            "position": {"type": "integer", "minimum": 1},
            "occurred_at": {"type": "string", "format": "date-time"},
            "correlation_id": _OPTIONAL_TEXT,
            "causation_id": _OPTIONAL_TEXT,
            "traceparent": {"anyOf": [_TRACEPARENT, {"type": "null"}]},
            "tracestate": _OPTIONAL_TEXT,
            "payload": payload.schema,
        },
        # Producers may add a top-level field before consumers know it (ADR 0004).
        "additionalProperties": True,
    }
