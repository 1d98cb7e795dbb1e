"""Log lines nobody can forge: control characters escaped, and access logs without query
strings or card numbers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from commands.card_data import redact_card_numbers

# Control characters (CR and LF forge lines, NUL and escapes confuse terminals), the line
# and paragraph separators and the bidirectional overrides (they reorder what a reader sees).
_UNSAFE_IN_LOGS = {
    code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    for code in [
        *range(0x00, 0x20),
        *range(0x7F, 0xA0),
        0x061C,
        0x200E,
        0x200F,
        0x2028,
        0x2029,
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
    ]
}


def log_safe(text: str) -> str:
    """``text`` with every character that could forge or disguise a log line escaped."""
    return text.translate(_UNSAFE_IN_LOGS)


class RedactedAccessLog(logging.Filter):
    """Access-log lines without query strings (search terms, filters: maybe personal), with
    any card number in a path masked and control characters escaped, also those that were
    percent-encoded in the path."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:  # uvicorn: client, method, path, ...
            path = str(args[2]).partition("?")[0]
            safe = log_safe(redact_card_numbers(unquote(path)))
            record.args = (log_safe(str(args[0])), log_safe(str(args[1])), safe, *args[3:])
        return True


REDACTED_ACCESS_LOG = RedactedAccessLog()


def _log_safe_records(
    factory: Callable[..., logging.LogRecord],
) -> Callable[..., logging.LogRecord]:
    """A record factory escaping every text argument of a log call (our own lines)."""

    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        if isinstance(record.args, tuple):
            record.args = tuple(log_safe(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = log_safe(record.msg)
        return record

    make._shop_log_safe = True  # type: ignore[attr-defined]
    return make


def redact_access_log() -> None:
    """Access-log redaction, and control characters escaped in every log line."""
    access = logging.getLogger("uvicorn.access")
    if REDACTED_ACCESS_LOG not in access.filters:
        access.addFilter(REDACTED_ACCESS_LOG)
    factory = logging.getLogRecordFactory()
    if not getattr(factory, "_shop_log_safe", False):
        logging.setLogRecordFactory(_log_safe_records(factory))
