"""The consumer of the activity topic: batches applied effectively once, changes published.

Each poll returns up to ``batch_max_records`` records from the partitions this process owns. They
are decoded (undecodable or unnormalized records go to the dead-letter topic, with the reason,
before anything else happens, so a bad record never blocks its partition), applied in one database
transaction together with each partition's progress (see :mod:`kith_scoring.store.apply`), and only then
are the Kafka offsets committed. A crash anywhere replays the batch, and the replay changes nothing.

The engagement changes a batch causes are written in the same transaction to an outbox, published
after the commit, and removed once the broker acknowledged them; a crash in between publishes them
at the next start (at least once, each with a stable id).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from pymongo.errors import PyMongoError

from kith_scoring import SERVICE
from kith_scoring.domain.identity import identity_hash
from kith_scoring.settings import ScoringSettings
from kith_scoring.store import InRecord, Outcome, ScoringStore, StoreUnavailable
from kith_shared.events import ACTIVITY_TYPES, DeadLetter, DecodeError, decode_kafka_record
from kith_shared.kafka import BrokerUnavailable, EventProducer, ensure_topics, make_consumer, send_dead_letter
from kith_shared.observability import BATCH_SIZE, CONSUMER_LAG, EVENTS_IN, EVENTS_OUT
from kith_shared.topics import ACTIVITY, DEAD_LETTER, ENGAGEMENT

log = logging.getLogger(__name__)

#: A JoinGroup request is answered only once the group settled (about 5 s on the embedded broker, up to
#: the rebalance timeout on Kafka): a shorter request timeout would abandon every join.
JOIN_TIMEOUT_MS = 30_000


class BatchAbandoned(RuntimeError):
    """The partitions of an in-flight batch were revoked while it waited for the database."""


async def _backlog(consumer: AIOKafkaConsumer) -> bool:
    """Tell whether the broker holds records behind the ones polled (as of the last fetches)."""
    for tp in consumer.assignment():
        highwater = consumer.highwater(tp)
        if highwater is None or highwater > await consumer.position(tp):
            return True  # records behind the position, or not fetched from yet
    return False


#: Empty polls in a row after which a batch stops gathering even though the broker reported more.
_GATHER_MISSES = 5


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Finish the in-flight batch before partitions are handed over (or abandon it while the database is down)."""

    def __init__(self, owner: ScoringConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.owner.revoking = True
        try:
            async with self.owner.batch_lock:
                log.info("partitions revoked", extra={"partitions": sorted(str(tp) for tp in revoked)})
        finally:
            self.owner.revoking = False

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("partitions assigned", extra={"partitions": sorted(str(tp) for tp in assigned)})
        try:
            ended = await self.owner.store.claims.claim(sorted((tp.topic, tp.partition) for tp in assigned))
        except PyMongoError as exc:
            log.warning("partitions not claimed; database unreachable", extra={"error": str(exc)})
            return
        if ended:
            log.info("ended the previous owner's session", extra={"sessions": ended})


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


class ScoringConsumer:
    """Consumes the activity topic in a consumer group and keeps the metrics."""

    def __init__(self, settings: ScoringSettings, store: ScoringStore, producer: EventProducer) -> None:
        self.settings = settings
        self.store = store
        self.producer = producer
        self.batch_lock = asyncio.Lock()
        self.revoking = False
        self.store_error: str | None = None
        self.broker_error: str | None = "not connected yet"
        self.applied = 0
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start consuming in the background."""
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="scoring-consumer")

    async def stop(self) -> None:
        """Finish the in-flight batch and leave the group."""
        self._stopping = True
        if self._task is not None:
            try:
                async with asyncio.timeout(30):
                    await self._task
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task

    async def check(self) -> None:
        """Raise when consumption is paused (database down) or the consumer is not connected."""
        if self.store_error:
            raise ConnectionError(f"consumption paused: {self.store_error}")
        if self.broker_error:
            raise ConnectionError(f"consumer not connected: {self.broker_error}")

    async def _run(self) -> None:
        kafka = self.settings.kafka
        delay = 0.2
        while not self._stopping:
            consumer = make_consumer(
                kafka,
                group=kafka.group(self.settings.consumer_group),
                max_poll_records=self.settings.batch_max_records,
                request_timeout_ms=max(kafka.request_timeout_ms, JOIN_TIMEOUT_MS),
                session_timeout_ms=self.settings.session_timeout_ms,
                heartbeat_interval_ms=max(1_000, self.settings.session_timeout_ms // 4),
                fetch_max_bytes=self.settings.fetch_max_bytes,
                max_partition_fetch_bytes=self.settings.fetch_max_bytes // 4,
            )
            try:
                with contextlib.suppress(KafkaError, OSError):
                    await ensure_topics(kafka, (ACTIVITY, ENGAGEMENT, DEAD_LETTER))
                consumer.subscribe([kafka.topic(ACTIVITY)], listener=_Rebalance(self))
                await consumer.start()
                self.broker_error = None
                delay = 0.2
                await self._loop(consumer)
            except (KafkaError, OSError) as exc:
                self.broker_error = f"broker unreachable: {exc!r}"
                log.warning("consumer lost the broker; reconnecting", extra={"error": str(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):
                    await consumer.stop()
        await self.store.close()

    async def _loop(self, consumer: AIOKafkaConsumer) -> None:
        await self._flush_outbox()
        while not self._stopping:
            batches = await self._poll(consumer)
            if batches:
                async with self.batch_lock:
                    try:
                        await self._process(consumer, batches)
                    except BatchAbandoned:
                        log.warning("batch abandoned: its partitions were revoked while the database was down")
            else:
                await self._flush_outbox()

    async def _poll(self, consumer: AIOKafkaConsumer) -> dict[TopicPartition, list[Any]]:
        """Return the next batch: what is waiting, up to ``batch_max_records``.

        When the records polled leave more behind them on the broker (a backlog), polling goes on
        until the batch is full, so that a catching-up consumer folds many events into each write.
        A consumer that is caught up gets what arrived and applies it at once.
        """
        limit = self.settings.batch_max_records
        batches: dict[TopicPartition, list[Any]] = await consumer.getmany(
            timeout_ms=self.settings.batch_timeout_ms, max_records=limit
        )
        count = sum(len(records) for records in batches.values())
        misses = 0
        while count and count < limit and misses < _GATHER_MISSES and await _backlog(consumer):
            more = await consumer.getmany(timeout_ms=self.settings.batch_timeout_ms, max_records=limit - count)
            misses = 0 if more else misses + 1
            for tp, records in more.items():
                batches.setdefault(tp, []).extend(records)
                count += len(records)
        return batches

    async def _process(self, consumer: AIOKafkaConsumer, batches: dict[TopicPartition, list[Any]]) -> None:
        records: list[InRecord] = []
        letters: list[DeadLetter] = []
        for tp_records in batches.values():
            for raw in tp_records:
                record, letter = decode(raw)
                records.append(record)
                if letter is not None:
                    letters.append(letter)
        EVENTS_IN.labels(SERVICE, "kafka").inc(len(records))
        BATCH_SIZE.labels(SERVICE).observe(len(records))
        for letter in letters:
            await self._retry_broker(functools.partial(send_dead_letter, self.producer, self.settings.kafka, letter))
        outcome = await self._apply(records)
        self.applied += outcome.applied
        if outcome.outbox_id is not None:
            with contextlib.suppress(BrokerUnavailable):
                await self.producer.publish(ENGAGEMENT, list(outcome.engagement))
                EVENTS_OUT.labels(SERVICE, "engagement").inc(len(outcome.engagement))
                with contextlib.suppress(PyMongoError):
                    await self.store.outbox.clear(outcome.outbox_id)
        offsets = {tp: recs[-1].offset + 1 for tp, recs in batches.items() if recs}
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # Harmless: the effects and progress are stored; a replay of these records is skipped.
            log.warning("offset commit failed after a durable batch", extra={"error": str(exc)})
        for tp in offsets:
            with contextlib.suppress(Exception):
                high = consumer.highwater(tp)
                if high is not None:
                    CONSUMER_LAG.labels(SERVICE, tp.topic, str(tp.partition)).set(max(0, high - offsets[tp]))

    async def _apply(self, records: list[InRecord]) -> Outcome:
        delay = 0.1
        while True:
            try:
                outcome = await self.store.apply(records)
            except StoreUnavailable as exc:
                if self.store_error is None:
                    log.error("database unreachable: consumption paused", extra={"error": str(exc)})
                self.store_error = str(exc)
                if self.revoking or self._stopping:
                    raise BatchAbandoned(str(exc)) from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.store_retry_max_seconds)
                continue
            if self.store_error is not None:
                log.info("database reachable again: consumption resumed")
            self.store_error = None
            return outcome

    async def _retry_broker(self, action: Callable[[], Awaitable[None]]) -> None:
        delay = 0.1
        while True:
            try:
                await action()
                return
            except BrokerUnavailable:
                if self.revoking or self._stopping:
                    raise BatchAbandoned("broker unavailable while partitions were revoked") from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _flush_outbox(self) -> None:
        try:
            pending = await self.store.outbox.pending()
        except PyMongoError:
            return
        for outbox_id, events in pending:
            try:
                await self.producer.publish(ENGAGEMENT, list(events))
                await self.store.outbox.clear(outbox_id)
            except (BrokerUnavailable, PyMongoError):
                return
            EVENTS_OUT.labels(SERVICE, "engagement").inc(len(events))
