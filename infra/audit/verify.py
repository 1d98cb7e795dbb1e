"""`shop audit verify`: check every context's hash chains (ADR 0015)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import psycopg

from infra import bootstrap
from infra.audit.chain import ContextReport, check_anchor, estimate, verify_log, verify_streams
from infra.settings import Settings

# (context, records walked so far in this pass, estimated total) → None
Progress = Callable[[str, int], None]
Started = Callable[[str, int], None]


def verify(
    settings: Settings,
    contexts: Iterable[str],
    started: Started = lambda context, total: None,
    advanced: Progress = lambda context, n: None,
    anchors: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[ContextReport]:
    """One report per context: records and streams walked, the head, the first breaks."""
    reports = []
    for context in contexts:
        app = bootstrap.application(settings, context)
        try:
            events = bootstrap.events_table(app)
        finally:
            app.close()
        report = ContextReport(context)
        with psycopg.connect(settings.database_url) as conn:
            started(context, 2 * estimate(conn, events))

            def tick(context: str = context) -> None:
                advanced(context, 1)

            verify_log(conn, events, report, tick)
            verify_streams(conn, events, report, tick)
            if anchors and context in anchors:
                check_anchor(conn, events, report, anchors[context])
        reports.append(report)
    return reports
