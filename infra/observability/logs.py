"""Log lines of every shop process: readable text (the default) or one JSON object a line.

``SHOP_LOG_FORMAT=json``: each record is a JSON object with ``time``, ``level``,
``process`` (the shop command), ``logger``, ``message`` and, when known, ``trace_id``,
``span_id`` and ``correlation_id``. JSON escapes every control character, so no client
input can start a line of its own; card numbers are masked as in the access log (ADR 0023).
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from typing import Any, Literal

from opentelemetry import trace

from commands.card_data import redact_card_numbers
from commands.metadata import current_correlation_id

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonLines(logging.Formatter):
    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "process": self.process,
            "pid": record.process,
            "logger": record.name,
            "message": redact_card_numbers(record.getMessage()),
        }
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            line["trace_id"] = format(span.trace_id, "032x")
            line["span_id"] = format(span.span_id, "016x")
        correlation = getattr(record, "correlation_id", None) or current_correlation_id()
        if correlation:
            line["correlation_id"] = str(correlation)
        if record.exc_info:
            line["exception"] = redact_card_numbers(self.formatException(record.exc_info))
        # ensure_ascii: besides control characters, line and paragraph separators and
        # bidirectional overrides are escaped too, so a line reads as it parses.
        return json.dumps(line, ensure_ascii=True, default=str)


def log_handler(process: str, log_format: LogFormat) -> logging.Handler:
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonLines(process) if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    return handler


def configure_logging(process: str, log_format: LogFormat, level: str | None = None) -> None:
    """Root logging of this process: one handler in the chosen format (replacing any)."""
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(log_handler(process, log_format))
    root.setLevel(level or os.environ.get("SHOP_LOG_LEVEL", "INFO"))
    for chatty in ("kafka", "elastic_transport"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    if log_format == "json":
        # Their own handlers would print text beside ours: send their records to the root.
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "faust", "mode", "aiokafka"):
            named = logging.getLogger(name)
            named.handlers.clear()
            named.propagate = True
