"""The consumer of the activity topic: chunks applied effectively once, changes published.

It runs on the shared consumer skeleton (:mod:`kith_shared.consumer`). A backlog is gathered into a
batch of up to ``batch_max_records`` records; the batch is applied in chunks of whole partitions
(each event's effects stay in the transaction of its own partition's progress), each chunk in one
database transaction together with its partitions' progress (see :mod:`kith_scoring.store.apply`),
then its Kafka offsets are committed, so lag falls chunk by chunk. A chunk is sized to take about
``chunk_seconds`` on the database at hand, and a batch stops after ``batch_max_seconds`` (the rest is
read again), so no batch outlives the group's poll interval. A crash anywhere replays from the last
commit, and the replay changes nothing: the stored progress fences it off.

Records that cannot be decoded, or are not normalized activity, go to the dead-letter topic before
anything is applied; a record whose effects fail is isolated by the skeleton (bisection), tried
``record_tries`` times and dead-lettered, while the rest of its chunk is applied.

When a chunk re-reads records below a partition's stored fence without reaching it (offsets not
committed after a durable chunk, then the partitions read again), the broker decides whether the
topic is the same incarnation: a partition that now ends at or below the fence is new, and so is
one whose record at the fence offset is another record. Only then is the fence reset.

The engagement changes a chunk causes are written in the same transaction to an outbox, published
after the commit, and removed once the broker acknowledged them; a crash in between publishes them
at the next start (at least once, each with a stable id).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from pymongo.errors import PyMongoError

from kith_scoring import SERVICE
from kith_scoring.domain.identity import identity_hash
from kith_scoring.settings import ScoringSettings
from kith_scoring.store import FenceInDoubt, InRecord, Outcome, ScoringStore, StoreUnavailable
from kith_shared.batching import Handler
from kith_shared.consumer import Consumer, ConsumerOptions
from kith_shared.events import ACTIVITY_TYPES, DeadLetter, DecodeError, decode_kafka_record
from kith_shared.events.types import EngagementChangedEvent
from kith_shared.kafka import BrokerUnavailable, EventProducer, make_consumer
from kith_shared.observability import EVENTS_OUT
from kith_shared.reading import record_at
from kith_shared.topics import ACTIVITY, ENGAGEMENT

log = logging.getLogger(__name__)


def decode(record: Any) -> tuple[InRecord, DeadLetter | None]:
    """Decode a consumed record; return it, and a dead letter when it cannot be scored."""
    value: bytes | None = record.value
    headers = list(record.headers or ())
    problem: tuple[str, str, str | None] | None = None
    event = None
    try:
        event = decode_kafka_record(value, headers)
    except DecodeError as exc:
        first = exc.problems[0] if exc.problems else None
        problem = (f"not a valid event: {exc}", "DecodeError", first.field if first else None)
    if event is not None and event.type not in ACTIVITY_TYPES:
        problem = (f"{event.type!r} is not an activity type; it does not belong on this topic", "WrongTopic", "type")
    elif event is not None and not event.is_normalized:
        problem = ("the event was not normalized by ingest (no receivedtime/schemaversion)", "NotNormalized", None)
    if problem is not None or event is None:
        marker = hashlib.sha1(value or b"", usedforsecurity=False).hexdigest()[:20]
        reason, error, field = problem or ("not a valid event", "DecodeError", None)
        letter = DeadLetter.from_record(
            record,
            reason=reason,
            error=error,
            field=field,
            stage="scoring",
            tenant=event.tenant if event is not None else None,
        )
        return InRecord(record.topic, record.partition, record.offset, marker, None), letter
    marker = identity_hash(event.source, event.id)
    return InRecord(record.topic, record.partition, record.offset, marker, event), None


class ScoringHandler(Handler[InRecord]):
    """Applies chunks of activity to the store, fenced by partition progress, and publishes their changes."""

    stage = "scoring"
    #: The database unreachable pauses the consumer; any other failure is blamed on a record.
    transient = (StoreUnavailable,)

    def __init__(self, settings: ScoringSettings, store: ScoringStore, producer: EventProducer) -> None:
        self.settings = settings
        self.store = store
        self.producer = producer
        self.applied = 0
        self.incarnation_checks = 0

    async def prepare(self, records: Sequence[Any]) -> list[InRecord | DeadLetter]:
        """Decode records; those that cannot be scored become dead letters."""
        prepared: list[InRecord | DeadLetter] = []
        for raw in records:
            record, letter = decode(raw)
            prepared.append(letter if letter is not None else record)
        return prepared

    def identify(self, item: InRecord) -> tuple[str | None, str | None]:
        """Return the item's event id and tenant, for log lines."""
        return (item.event.id, item.event.tenant) if item.event is not None else (None, None)

    async def apply(self, items: Sequence[InRecord]) -> None:
        """Apply a chunk in one transaction (asking the broker when a re-read is in doubt); publish its changes."""
        records = list(items)
        try:
            outcome = await self.store.apply(records)
        except FenceInDoubt as doubt:
            verdicts = {(topic, partition): await self.same_incarnation(topic, partition, offset, marker)
                        for topic, partition, offset, marker in doubt.partitions}  # fmt: skip
            outcome = await self.store.apply(records, same_incarnation=verdicts)
        self.applied += outcome.applied
        await self._publish(outcome)

    async def same_incarnation(self, topic: str, partition: int, offset: int, marker: str) -> bool:
        """Tell whether the partition still holds, at ``offset``, the record whose identity is ``marker``.

        A partition that ends at or below ``offset`` is a new incarnation; so is one holding another
        record there. A record no longer there (retention) with the partition reaching past it is the
        same incarnation. Raises :class:`StoreUnavailable`-like pauses as :class:`BrokerUnavailable`.
        """
        self.incarnation_checks += 1
        tp = TopicPartition(topic, partition)
        probe = make_consumer(self.settings.kafka, group=None, max_poll_records=1)
        try:
            await probe.start()
            probe.assign([tp])
            found = await record_at(probe, tp, offset)
        except (KafkaError, OSError, TimeoutError) as exc:
            raise BrokerUnavailable(f"broker unreachable while checking a fence: {exc!r}") from exc
        finally:
            await probe.stop()
        if found.end <= offset:
            same = False
        elif found.record is None:
            same = True
        else:
            same = decode(found.record)[0].marker == marker
        log.info(
            "re-read below the stored fence: asked the broker",
            extra={"topic": topic, "partition": partition, "fence": offset, "end": found.end,
                   "verdict": "same incarnation" if same else "new incarnation"},
        )  # fmt: skip
        return same

    async def _publish(self, outcome: Outcome) -> None:
        """Publish a chunk's engagement changes (and any older ones pending); what fails stays in the outbox."""
        if outcome.outbox_id is not None:
            await self.idle()

    async def idle(self) -> None:
        """Publish engagement changes committed but not yet published (never raises: they wait for the next call)."""
        await publish_outbox(self.store, self.producer)

    async def assigned(self, partitions: set[Any]) -> Mapping[Any, int]:
        """Claim partitions: end the session of their previous owner (its transaction in flight aborts)."""
        try:
            ended = await self.store.claims.claim(sorted((tp.topic, tp.partition) for tp in partitions))
        except PyMongoError as exc:
            log.warning("partitions not claimed; database unreachable", extra={"error": str(exc)})
            return {}
        if ended:
            log.info("ended the previous owner's session", extra={"sessions": ended})
        return {}

    async def close(self) -> None:
        """End the consumer's database session."""
        await self.store.close()


def consumer_options(settings: ScoringSettings) -> ConsumerOptions:
    """Return how scoring reads the activity topic, from its settings."""
    return ConsumerOptions(
        name="scoring",
        service=SERVICE,
        topics=(ACTIVITY,),
        group=settings.consumer_group,
        max_records=settings.batch_max_records,
        max_bytes=settings.batch_max_bytes,
        poll_ms=settings.batch_timeout_ms,
        gather_seconds=settings.gather_seconds,
        chunk_records=settings.chunk_max_records,
        chunk_first=settings.chunk_first_records,
        chunk_seconds=settings.chunk_seconds,
        batch_seconds=settings.batch_max_seconds,
        record_tries=settings.record_tries,
        stuck_seconds=settings.stuck_seconds,
        session_timeout_ms=settings.session_timeout_ms,
        max_poll_interval_ms=settings.max_poll_interval_ms,
        retry_most_seconds=settings.store_retry_max_seconds,
        client={
            "fetch_max_bytes": settings.fetch_max_bytes,
            "max_partition_fetch_bytes": max(1, settings.fetch_max_bytes // 4),
        },
    )


class ScoringConsumer(Consumer[InRecord]):
    """Consumes the activity topic in a consumer group and keeps the metrics."""

    def __init__(self, settings: ScoringSettings, store: ScoringStore, producer: EventProducer) -> None:
        self.scoring = ScoringHandler(settings, store, producer)
        super().__init__(consumer_options(settings), settings.kafka, self.scoring, producer)
        self.store = store


__all__ = ["ConsumerOptions", "ScoringConsumer", "ScoringHandler", "consumer_options", "decode"]


async def publish_outbox(store: ScoringStore, producer: EventProducer) -> int:
    """Publish what the outbox holds, oldest first; return how many changes (never raises: the rest waits)."""

    async def publish(events: list[EngagementChangedEvent]) -> None:
        await producer.publish(ENGAGEMENT, list(events))
        EVENTS_OUT.labels(SERVICE, producer.topic_name(ENGAGEMENT)).inc(len(events))

    try:
        return await store.outbox.publish_pending(publish)
    except BrokerUnavailable:
        return 0
    except PyMongoError as exc:
        log.warning("engagement changes not published or cleared yet", extra={"error": str(exc)})
        return 0
