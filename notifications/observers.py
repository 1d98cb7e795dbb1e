"""What the notifier reports, as a port: the metrics that implement it live in
``infra.observability``, which need not load the notifier to do so."""

from __future__ import annotations


class NotificationObserver:
    """Told of each notification's outcome (metrics live in ``infra.observability``):
    ``sent``, ``failed`` (refused for good), ``skipped`` (with why) or ``retried`` (an
    attempt failed; it is tried again)."""

    def notified(self, outcome: str, reason: str = "") -> None: ...


NO_NOTIFICATION_OBSERVER = NotificationObserver()
