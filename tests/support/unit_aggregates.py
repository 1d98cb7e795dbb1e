"""What the unit tests do to any event-sourced aggregate: take it as saved (no events
pending) and rebuild it from its events alone, as a repository does."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from eventsourcing.application import project_aggregate
from eventsourcing.domain import Aggregate, DomainEventProtocol

A = TypeVar("A", bound=Aggregate)


def saved(aggregate: A) -> A:
    """The aggregate with its pending events collected, as a repository leaves it."""
    aggregate.collect_events()
    return aggregate


def rebuilt_from(events: Iterable[DomainEventProtocol[Any]]) -> object:
    """A new aggregate from nothing but ``events`` (typed ``object``: a test asserts its
    class, so that a wrong one fails the test rather than slipping past the type checker)."""
    return project_aggregate(None, events)
