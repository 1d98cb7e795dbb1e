"""Random W3C trace contexts a test can follow through the platform.

About one random trace context in 200 holds a run of digits that passes the card-number
check, and the API serves such a request on a trace of its own (ADR 0030): a test that
looks for its trace id downstream draws a context without one."""

from __future__ import annotations

import secrets

from commands.card_data import card_data_field


def a_trace_context() -> tuple[str, str]:
    """A trace id and a parent span id, as the API continues them."""
    while True:
        trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
        if card_data_field({"traceparent": f"00-{trace_id}-{span_id}-01"}) is None:
            return trace_id, span_id
