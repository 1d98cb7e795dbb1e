"""What every context's application has in common."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, TypeVar, cast
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    ApplicationRecorder,
    IntegrityError,
    JSONTranscoder,
    Mapper,
    Recording,
    Transcoding,
)
from eventsourcing.postgres import PostgresFactory
from eventsourcing.utils import get_topic
from psycopg import sql
from pydantic import BaseModel

from commands.idempotency import (
    AnswerRecord,
    IdempotencyStore,
    RecordsIdempotency,
    pending_response,
)
from commands.idempotency import (
    jsonable as _jsonable,
)
from commands.metadata import MetadataMapper
from commands.observers import NO_COMMAND_OBSERVER, CommandObserver
from commands.privacy.personal_data import (
    InMemoryPersonalDataKeys,
    NoPersonalDataKeys,
    PersonalDataKeys,
    PersonalDataMapper,
)
from domain.errors import DomainError, NotFound
from domain.money import Money

A = TypeVar("A", bound=Aggregate)
R = TypeVar("R")

_IDEMPOTENCY_NAMESPACE = uuid5(NAMESPACE_URL, "urn:shop:idempotency")
# The position an answer template carries until the database knows it (AnswerRecord).
_POSITION_PENDING = -1
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
    # Told of every append (metrics); the composition root sets a real one.
    observer: CommandObserver = NO_COMMAND_OBSERVER

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        idempotency: IdempotencyStore | None = None,
        personal_keys: PersonalDataKeys | None = None,
    ) -> None:
        # Set before the library builds the mapper, which needs the keys.
        self._personal_keys = personal_keys
        super().__init__(env)
        self.idempotency = idempotency
        datastore = getattr(self.recorder, "datastore", None)
        if idempotency is not None and datastore is not None:
            # The event store's pool: a keyed command opens no connection of its own.
            idempotency.use_connections(datastore.get_connection)

    def once(
        self,
        key: str | None,
        operation: str,
        request: BaseModel,
        action: Callable[[], CommandResult],
    ) -> dict[str, Any]:
        """Run a command at most once per Idempotency-Key; the JSON response of its first run."""

        def respond() -> dict[str, Any]:
            return asdict(action())

        if self.idempotency is None:
            return respond()
        return self.idempotency.run_once(
            key, f"{self.context}.{operation}", request.model_dump(mode="json"), respond
        )

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        started = time.perf_counter()
        recordings = super().save(*objs, **kwargs)
        if recordings:
            self.observer.appended(self.context, len(recordings), time.perf_counter() - started)
        return recordings

    def construct_recorder(self) -> ApplicationRecorder:
        """On Postgres, concurrent saves share a transaction (group commit, ADR 0026) and a
        keyed command's answer is recorded in it (ADR 0027), unless the context names a
        recorder of its own (which should derive from ``RecordsIdempotency``)."""
        topic = PostgresFactory.APPLICATION_RECORDER_TOPIC
        if isinstance(self.factory, PostgresFactory) and not self.factory.env.get(topic):
            self.factory.env[topic] = get_topic(RecordsIdempotency)
        return super().construct_recorder()

    def construct_mapper(self) -> Mapper[UUID]:
        keys = self._personal_keys
        if keys is None:
            in_memory = self.env.get("PERSISTENCE_MODULE", "").endswith("popo")
            keys = InMemoryPersonalDataKeys() if in_memory else NoPersonalDataKeys()
        self.personal_keys: PersonalDataKeys = keys
        # The factory's cipher (CIPHER_TOPIC) encrypts whole events and snapshots at rest.
        return PersonalDataMapper(
            transcoder=self.construct_transcoder(),
            compressor=self.factory.compressor(),
            cipher=self.factory.cipher(),
            personal_keys=keys,
        )

    def close(self) -> None:
        super().close()
        self.personal_keys.close()

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

    def save_and_report(self, aggregate: Aggregate, *others: Aggregate) -> CommandResult:
        """Save (all of them in one transaction) and report on the first aggregate."""
        return self.save_and_answer(
            lambda position: CommandResult(aggregate.id, aggregate.version, position),
            aggregate,
            *others,
        )

    def save_and_answer(
        self, answer: Callable[[int], R], aggregate: Aggregate, *others: Aggregate
    ) -> R:
        """Save (all of them in one transaction); ``answer(position)`` is the command's result.

        In a keyed command (``once``) the result is written under its key in the same
        transaction, so it must be the whole answer the client gets."""
        pending = pending_response()
        kwargs: dict[str, Any] = {}
        if pending is not None and any(a.pending_events for a in (aggregate, *others)):
            # Recorded with the events; the database fills in the position (the sentinel).
            template = asdict(cast(Any, answer(_POSITION_PENDING)))
            if template.get("position") == _POSITION_PENDING:
                answer_json = _jsonable(template)
                kwargs["idempotency"] = AnswerRecord(pending.key, pending.fingerprint, answer_json)
        recordings = self.save(aggregate, *others, **kwargs)
        if pending is not None and "idempotency" in kwargs and recordings:
            pending.stored = _jsonable(asdict(cast(Any, answer(recordings[-1].notification.id))))
        if recordings:
            return answer(recordings[-1].notification.id)
        # Nothing changed: the current head is as good a position as any.
        return answer(self.recorder.max_notification_id() or 0)

    def idempotent_id(self, key: str | None) -> UUID:
        """The id of what a keyed command creates: the same key gives the same id."""
        if key is None:
            return uuid4()
        return uuid5(_IDEMPOTENCY_NAMESPACE, f"{self.context}/{key}")

    def create(self, aggregate: Aggregate, conflict: DomainError | None) -> CommandResult:
        """Save a new aggregate. If its id exists, that is either a repeat of the same
        keyed command (``conflict`` None: answer with the first result) or a conflict."""
        try:
            return self.save_and_report(aggregate)
        except IntegrityError:
            if conflict is not None:
                raise conflict from None
            return self.result_at(aggregate.id, aggregate.version)

    def result_at(self, aggregate_id: UUID, version: int) -> CommandResult:
        """The result a command got when it took the aggregate to ``version``."""
        recorder: Any = self.recorder  # the Postgres recorder: its schema and table
        statement = sql.SQL(
            "SELECT notification_id FROM {} WHERE originator_id = %s AND originator_version = %s"
        ).format(sql.Identifier(recorder.datastore.schema, recorder.events_table_name))
        with recorder.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(statement, (aggregate_id, version))
            row = cursor.fetchone()
        if row is None:
            raise NotFound(f"{aggregate_id} has no version {version}")
        return CommandResult(aggregate_id, version, int(row["notification_id"]))

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
