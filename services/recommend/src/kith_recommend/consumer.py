"""Consume normalized activity and engagement changes into the read model.

A batch is decoded, turned into changes, written to the database in bulk, applied to the in-memory
model, and only then committed. Records that cannot be decoded or processed go to the dead-letter
topic with the reason; the batch goes on without them.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from pymongo.errors import PyMongoError

from kith_recommend import SERVICE
from kith_recommend.domain.changes import Change, changes_for, coalesce
from kith_recommend.engine import Recommender
from kith_recommend.settings import RecommendSettings
from kith_shared.backoff import Backoff
from kith_shared.events import DeadLetter, DecodeError, decode_kafka_record
from kith_shared.kafka import BrokerUnavailable, EventProducer, make_consumer, send_dead_letter
from kith_shared.observability import BATCH_SIZE, CONSUMER_LAG, EVENTS_IN, STORE_LATENCY
from kith_shared.topics import ACTIVITY, ENGAGEMENT

log = logging.getLogger(__name__)


def plan_batch(records: Sequence[Any]) -> tuple[list[Change], list[DeadLetter]]:
    """Decode records into read-model changes; the ones that fail become dead letters."""
    changes: list[Change] = []
    letters: list[DeadLetter] = []
    for record in records:
        headers = list(record.headers or [])
        try:
            event = decode_kafka_record(record.value, headers)
            changes.extend(changes_for(event))
        except DecodeError as exc:
            field = exc.problems[0].field if exc.problems else None
            letters.append(_letter(record, str(exc), "DecodeError", field))
        except Exception as exc:  # anything unprocessable is dead-lettered, never silently dropped
            letters.append(_letter(record, f"could not apply the event: {exc!r}", type(exc).__name__, None))
    return coalesce(changes), letters


def _letter(record: Any, reason: str, error: str, field: str | None) -> DeadLetter:
    return DeadLetter.from_record(record, reason=reason, error=error, stage="recommend", field=field)


class ReadModelConsumer:
    """The consumer task: batches in, durable changes, model updated, offsets committed."""

    def __init__(self, settings: RecommendSettings, recommender: Recommender, producer: EventProducer) -> None:
        self.settings = settings
        self.recommender = recommender
        self.producer = producer
        self.consumer: AIOKafkaConsumer | None = None
        self.batches = 0

    def _make(self) -> AIOKafkaConsumer:
        kafka = self.settings.kafka
        return make_consumer(
            kafka,
            kafka.topic(ACTIVITY),
            kafka.topic(ENGAGEMENT),
            group=kafka.group(self.settings.consumer_group),
            max_poll_records=self.settings.batch_max_records,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            # Joining a fresh group can take several seconds (the embedded broker takes about 5 s).
            request_timeout_ms=max(kafka.request_timeout_ms, 30_000),
        )

    async def run(self) -> None:
        """Consume until cancelled, reconnecting after broker outages."""
        backoff = Backoff(0.5, 5.0)
        async for _ in backoff:
            consumer = self._make()
            try:
                await consumer.start()
                self.consumer = consumer
                self.recommender.stale_reasons.pop("consumer", None)
                backoff.reset()
                await self._loop(consumer)
            except (KafkaError, OSError) as exc:
                self.recommender.stale_reasons["consumer"] = f"broker unreachable: {type(exc).__name__}"
                log.warning("consumer lost the broker; retrying", extra={"error": repr(exc)})
            finally:
                self.consumer = None
                with contextlib.suppress(Exception):
                    await consumer.stop()

    async def _loop(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(
                timeout_ms=self.settings.batch_timeout_ms, max_records=self.settings.batch_max_records
            )
            records = [r for partition_records in batches.values() for r in partition_records]
            if not records:
                continue
            await self.process(records)
            await consumer.commit()
            self.batches += 1
            for tp, partition_records in batches.items():
                high = consumer.highwater(tp)
                if high is not None and partition_records:
                    CONSUMER_LAG.labels(SERVICE, tp.topic, str(tp.partition)).set(
                        max(0, high - partition_records[-1].offset - 1)
                    )

    async def process(self, records: Sequence[Any]) -> None:
        """Make a batch durable and visible; retry (without committing) while the database or broker is down."""
        changes, letters = plan_batch(records)
        EVENTS_IN.labels(SERVICE, "kafka").inc(len(records))
        BATCH_SIZE.labels(SERVICE).observe(len(records))
        async for _ in Backoff(0.2, 5.0):
            try:
                for letter in letters:
                    await send_dead_letter(self.producer, self.settings.kafka, letter)
                letters = []
                with STORE_LATENCY.labels(SERVICE, "bulk_write").time():
                    await self.recommender.store.write(changes)
                break
            except (PyMongoError, BrokerUnavailable) as exc:
                self.recommender.stale_reasons["consumer"] = f"cannot store changes: {type(exc).__name__}"
                log.warning("batch not stored yet; retrying", extra={"error": repr(exc)})
        self.recommender.stale_reasons.pop("consumer", None)
        async with self.recommender.lock:
            self.recommender.apply(changes)
