"""What the command side tells an observer (metrics live in ``infra.observability``).

The inner layers must not import infra, so they call these small hooks; the composition
root puts a real observer in their place. The defaults do nothing and cost a method call.
"""

from __future__ import annotations


class CommandObserver:
    """Event-store appends and idempotent repeats of one process."""

    def appended(self, context: str, events: int, seconds: float) -> None:
        """A save of ``events`` events took ``seconds`` (group commit wait included)."""

    def repeated(self, operation: str) -> None:
        """A keyed command was answered from its first response (``context.operation``)."""


class SagaObserver:
    """What the order saga did."""

    def step(self, kind: str, outcome: str) -> None:
        """A step ran: ``ok``, ``refused`` (compensated), ``conflict`` (decided again),
        ``stalled`` (retried later) or ``error``."""

    def finished(self, state: str) -> None:
        """An order reached a final state through the saga (confirmed, cancelled)."""

    def gateway(self, operation: str, outcome: str, seconds: float) -> None:
        """A payment gateway call: ``approved``, ``declined`` or ``no_answer``."""

    def ticked(self) -> None:
        """The deadline timer ran (its loop is alive)."""


NO_COMMAND_OBSERVER = CommandObserver()
NO_SAGA_OBSERVER = SagaObserver()
