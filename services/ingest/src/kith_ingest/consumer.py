"""Kafka door: consume the raw topic in a consumer group, normalize, deduplicate, publish, then commit.

The raw offset is committed only after the normalized events and the dead letters of the batch have
been acknowledged by the broker. A record that cannot be decoded or normalized goes to the
dead-letter topic with its original bytes, headers, origin and the reason; the consumer never stalls
on it. Broker or database outages are retried with back-off (the batch is kept, nothing committed),
and the consumer reconnects by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import TopicPartition
from pymongo.errors import PyMongoError

from kith_ingest import SERVICE
from kith_ingest.deadletters import replay_count
from kith_ingest.intake import Admission, Intake
from kith_ingest.settings import IngestSettings
from kith_shared.auth import KeyStore
from kith_shared.backoff import Backoff
from kith_shared.events import DeadLetter, DecodeError, Problem, kafka_event
from kith_shared.kafka import BrokerUnavailable, EventProducer, make_consumer, send_dead_letter
from kith_shared.observability import BATCH_SIZE, CONSUMER_LAG, EVENTS_IN
from kith_shared.topics import RAW

log = logging.getLogger(__name__)

#: aiokafka ships no type information; a consumed record (topic, partition, offset, key, value, headers).
Record: TypeAlias = Any

#: A JoinGroup request is answered only once the group settled (about 5 s on the embedded broker, up to
#: the rebalance timeout on Kafka): a shorter request timeout would abandon every join.
_JOIN_TIMEOUT_MS = 30_000


@dataclass(slots=True)
class _Item:
    record: Record
    admission: Admission
    error: str = "DecodeError"
    tenant: str | None = None


class RawConsumer:
    """The raw-topic consumer loop; :meth:`run` until :meth:`stop`."""

    def __init__(self, settings: IngestSettings, intake: Intake, keys: KeyStore, producer: EventProducer) -> None:
        self.settings = settings
        self.intake = intake
        self.keys = keys
        self.producer = producer
        self.topic = settings.kafka.topic(RAW)
        self.group = settings.kafka.group(settings.consumer_group)
        self._stopping = asyncio.Event()
        self.processed = 0

    def stop(self) -> None:
        """Ask the loop to finish its batch (or hand it back uncommitted) and leave the group."""
        self._stopping.set()

    async def run(self) -> None:
        """Consume until stopped, reconnecting after broker outages."""
        backoff = Backoff(0.5, 10.0, stop=self._stopping)
        async for _ in backoff:
            consumer = make_consumer(
                self.settings.kafka,
                self.topic,
                group=self.group,
                max_poll_records=500,
                request_timeout_ms=max(self.settings.kafka.request_timeout_ms, _JOIN_TIMEOUT_MS),
            )
            try:
                await consumer.start()
                backoff.reset()
                await self._consume(consumer)
            except (KafkaError, OSError) as exc:
                log.warning("raw consumer lost the broker; reconnecting", extra={"error": repr(exc)})
            except Exception:  # never let the door close silently: log, back off, start over
                log.exception("raw consumer failed; restarting it")
            finally:
                with contextlib.suppress(Exception):
                    await consumer.stop()

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        while not self._stopping.is_set():
            batches: dict[TopicPartition, list[Record]] = await consumer.getmany(timeout_ms=500, max_records=500)
            records = [record for partition in batches.values() for record in partition]
            if not records:
                continue
            if not await self._process_until_done(records):
                return  # stopping: the batch is handed back uncommitted and will be redelivered
            offsets = {tp: partition[-1].offset + 1 for tp, partition in batches.items() if partition}
            try:
                await consumer.commit(offsets)
            except CommitFailedError as exc:
                # A rebalance took the partitions away; the new owner re-reads them and finds duplicates.
                log.warning("raw offsets not committed after a rebalance", extra={"error": repr(exc)})
            for tp, offset in offsets.items():
                highwater = consumer.highwater(tp)
                if highwater is not None:
                    CONSUMER_LAG.labels(SERVICE, tp.topic, str(tp.partition)).set(max(0, highwater - offset))

    async def _process_until_done(self, records: list[Record]) -> bool:
        """Process a batch, retrying while the broker or database is down; return False when stopping first."""
        async for _ in Backoff(0.5, 10.0, stop=self._stopping):
            try:
                await self.process(records)
                return True
            except (BrokerUnavailable, PyMongoError) as exc:
                log.warning("raw batch not processed yet; retrying", extra={"error": repr(exc)})
        return False

    def _decode(self, record: Record, now: datetime) -> _Item:
        tenant: object = None
        try:
            raw = kafka_event(record.value, record.headers)
            tenant = raw.get("tenant")
            admission = self.intake.receive(raw, tenant=None, received=now)
        except DecodeError as exc:
            admission = Admission("valid")
            admission.reject(exc.problems)
            return _Item(record, admission)
        except Exception as exc:  # a bug must not stall the partition: the record is dead-lettered instead
            log.exception("unexpected error decoding a raw record")
            admission = Admission("valid")
            admission.reject([Problem("record", f"unexpected {type(exc).__name__}: {exc}")])
            return _Item(record, admission, error=type(exc).__name__)
        return _Item(record, admission, tenant=tenant if isinstance(tenant, str) else None)

    async def process(self, records: list[Record]) -> None:
        """Normalize, deduplicate and publish a batch, dead-lettering what cannot be processed.

        Raises :class:`BrokerUnavailable` or :class:`PyMongoError` when the batch must be retried.
        """
        now = datetime.now(UTC)
        EVENTS_IN.labels(SERVICE, "kafka").inc(len(records))
        BATCH_SIZE.labels(SERVICE).observe(len(records))
        items = [self._decode(record, now) for record in records]
        tenants = {item.admission.event.tenant for item in items if item.admission.event is not None}
        unknown = {tenant for tenant in tenants if not await self.keys.tenant_exists(tenant)}
        for item in items:
            event = item.admission.event
            if event is not None and event.tenant in unknown:
                item.admission.reject(
                    [
                        Problem(
                            "tenant", f"unknown tenant {event.tenant!r}: events on the raw topic never create tenants"
                        )
                    ]
                )
                item.error = "UnknownTenant"
        await self.intake.admit([item.admission for item in items], now, confirm_now=True)
        letters = [self._dead_letter(item) for item in items if item.admission.status == "rejected"]
        if letters:
            await asyncio.gather(*(send_dead_letter(self.producer, self.settings.kafka, letter) for letter in letters))
        self.processed += len(records)

    def _dead_letter(self, item: _Item) -> DeadLetter:
        record, problems = item.record, item.admission.problems
        return DeadLetter.from_record(
            record,
            reason="; ".join(f"{p.field}: {p.reason}" for p in problems) or "rejected",
            error=item.error,
            field=problems[0].field if problems else None,
            stage="ingest",
            tenant=item.tenant,
            replay_count=replay_count(record.headers),
        )
