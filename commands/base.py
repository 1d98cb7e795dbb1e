"""What every context's application has in common."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    IntegrityError,
    JSONTranscoder,
    Mapper,
    Transcoding,
)

from commands.metadata import MetadataMapper
from domain.errors import DomainError, NotFound
from domain.money import Money

A = TypeVar("A", bound=Aggregate)
R = TypeVar("R")

# Conflicting writers are rare and cheap to retry when the client did not pin a version.
MAX_CONFLICT_RETRIES = 5


class VersionConflict(DomainError):
    code = "version_conflict"


class MoneyAsDict(Transcoding):
    type = Money
    name = "money"

    def encode(self, obj: Money) -> dict[str, Any]:
        return {"minor": obj.minor, "currency": obj.currency}

    def decode(self, data: dict[str, Any]) -> Money:
        return Money(data["minor"], data["currency"])


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What a client needs to read its own write later."""

    id: UUID
    version: int
    position: int


class ShopApplication(Application[UUID]):
    """An eventsourcing Application for one bounded context, with its own events table."""

    context: ClassVar[str]

    def construct_mapper(self) -> Mapper[UUID]:
        return MetadataMapper(transcoder=self.construct_transcoder())

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(MoneyAsDict())

    @property
    def mapper_with_metadata(self) -> MetadataMapper:
        assert isinstance(self.mapper, MetadataMapper)
        return self.mapper

    def load(self, aggregate_type: type[A], aggregate_id: UUID, what: str) -> A:
        try:
            aggregate: Aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFound(f"{what} {aggregate_id} does not exist") from None
        if not isinstance(aggregate, aggregate_type):
            raise NotFound(f"{what} {aggregate_id} does not exist")
        return aggregate

    def save_and_report(self, aggregate: Aggregate) -> CommandResult:
        recordings = self.save(aggregate)
        if recordings:
            position = recordings[-1].notification.id
        else:  # nothing changed: the current head is as good a position as any
            position = self.recorder.max_notification_id() or 0
        return CommandResult(aggregate.id, aggregate.version, position)

    def update(
        self,
        aggregate_type: type[A],
        aggregate_id: UUID,
        what: str,
        change: Callable[[A], None],
        expected_version: int | None = None,
    ) -> CommandResult:
        """Load, check the expected version, apply one domain method, save.

        Without an expected version a concurrent write is retried a few times, since
        the change is re-decided on the fresh state; with one, a conflict is the answer.
        """
        for _ in range(MAX_CONFLICT_RETRIES):
            aggregate = self.load(aggregate_type, aggregate_id, what)
            if expected_version is not None and aggregate.version != expected_version:
                raise VersionConflict(
                    f"{what} {aggregate_id} is at version {aggregate.version}, "
                    f"not {expected_version}"
                )
            change(aggregate)
            try:
                return self.save_and_report(aggregate)
            except IntegrityError:
                if expected_version is not None:
                    raise VersionConflict(
                        f"{what} {aggregate_id} was changed concurrently"
                    ) from None
        raise VersionConflict(f"{what} {aggregate_id} is too busy; try again")
