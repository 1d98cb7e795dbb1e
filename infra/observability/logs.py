"""Log lines of every shop process: readable text (the default) or one JSON object a line.

``SHOP_LOG_FORMAT=json``: each record is a JSON object with ``time``, ``level``,
``process`` (the shop command), ``logger``, ``message`` and, when known, ``trace_id``,
``span_id`` and ``correlation_id``. JSON escapes every control character, so no client
input can start a line of its own; card numbers are masked as in the access log (ADR 0023).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from typing import Any, Literal

from opentelemetry import trace

from commands.card_data import redact_card_numbers
from commands.metadata import current_correlation_id

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


# One encoder for every line: ``json.dumps`` with options builds a new one per call.
# ensure_ascii: besides control characters, line and paragraph separators and bidirectional
# overrides are escaped too, so a line reads as it parses.
_ENCODER = json.JSONEncoder(ensure_ascii=True, default=str)


def _utc_time(created: float) -> str:
    """``2026-12-03T09:01:23.456+00:00`` (what ``datetime.isoformat`` gives, in a third of
    the time: every log line pays it)."""
    fraction, whole = math.modf(created)
    seconds, micros = int(whole), round(fraction * 1_000_000)  # rounded as datetime rounds
    if micros >= 1_000_000:
        seconds, micros = seconds + 1, micros - 1_000_000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + (
        f".{micros // 1000:03d}+00:00"
    )


class JsonLines(logging.Formatter):
    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _utc_time(record.created),
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
        return _ENCODER.encode(line)


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
