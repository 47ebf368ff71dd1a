"""Kafka door: consume the raw topic in a consumer group, normalize, deduplicate, publish, then commit.

It runs on the shared consumer skeleton (:mod:`kith_shared.consumer`). The raw offsets of a chunk
are committed only after its normalized events and its dead letters have been acknowledged by the
broker. A record that cannot be decoded or normalized, or names an unknown tenant, goes to the
dead-letter topic with its original bytes, headers, origin and the reason, before anything is
published; a record whose publishing fails for another reason is isolated by the skeleton and
dead-lettered after its tries. Replays are harmless: the deduplication claims answer a record
published already as a duplicate. Broker or database outages pause the consumer (the chunk is kept,
nothing committed) and make ingest not ready; the consumer reconnects by itself.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeAlias

from pymongo.errors import ConnectionFailure

from kith_ingest import SERVICE
from kith_ingest.deadletters import replay_count
from kith_ingest.intake import Admission, Intake
from kith_ingest.settings import IngestSettings
from kith_ingest.store import ClaimContention
from kith_shared.auth import KeyStore
from kith_shared.batching import Handler
from kith_shared.consumer import Consumer, ConsumerOptions
from kith_shared.events import DeadLetter, DecodeError, Problem, kafka_event
from kith_shared.kafka import BrokerUnavailable, EventProducer
from kith_shared.topics import RAW

log = logging.getLogger(__name__)

#: aiokafka ships no type information; a consumed record (topic, partition, offset, key, value, headers).
Record: TypeAlias = Any


@dataclass(slots=True)
class RawItem:
    """A raw record on its way: what became of it, and its tenant as the record named it."""

    record: Record
    admission: Admission
    error: str = "DecodeError"
    tenant: str | None = None


class RawHandler(Handler[RawItem]):
    """Normalizes raw records and publishes the valid ones through the intake (claims, then acknowledged publish)."""

    stage = "ingest"
    #: The broker or the database unreachable (or claims colliding) pauses the consumer; nothing is blamed on a record.
    transient = (BrokerUnavailable, ConnectionFailure, ClaimContention)

    def __init__(self, intake: Intake, keys: KeyStore) -> None:
        self.intake = intake
        self.keys = keys

    async def prepare(self, records: Sequence[Record]) -> list[RawItem | DeadLetter]:
        """Decode and normalize records; those invalid, or of an unknown tenant, become dead letters."""
        now = datetime.now(UTC)
        items = [self._decode(record, now) for record in records]
        tenants = {item.admission.event.tenant for item in items if item.admission.event is not None}
        unknown = {tenant for tenant in tenants if not await self.keys.tenant_exists(tenant)}
        for item in items:
            event = item.admission.event
            if event is not None and event.tenant in unknown:
                reason = f"unknown tenant {event.tenant!r}: events on the raw topic never create tenants"
                item.admission.reject([Problem("tenant", reason)])
                item.error = "UnknownTenant"
        erased = [item for item in items if item.admission.status == "valid"]
        await self.intake.refuse_erased([item.admission for item in erased])
        for item in erased:
            if item.admission.status == "rejected":
                item.error = "ErasedMember"
        return [self._rejected(item) if item.admission.status == "rejected" else item for item in items]

    async def apply(self, items: Sequence[RawItem]) -> None:
        """Claim and publish the items (all published, or every claim given back and an exception raised)."""
        for item in items:
            if item.admission.status != "valid":
                item.admission.status = "valid"  # tried before in a failed call: judged again now
        await self.intake.admit([item.admission for item in items], datetime.now(UTC), confirm_now=True)

    def identify(self, item: RawItem) -> tuple[str | None, str | None]:
        """Return the item's event id and tenant, for log lines."""
        event = item.admission.event
        return (event.id, event.tenant) if event is not None else (item.admission.id, item.tenant)

    def failed(self, record: Record, item: RawItem, error: BaseException, tries: int) -> DeadLetter:
        """Return the dead letter of a record that could not be published, with its tenant and replay count."""
        return DeadLetter.from_record(
            record,
            reason=f"processing failed {tries} times: {type(error).__name__}: {error}"[:1_000],
            error=type(error).__name__,
            stage="ingest",
            tenant=item.tenant,
            replay_count=replay_count(record.headers),
        )

    def letter(self, letter: DeadLetter) -> DeadLetter:
        """Return a dead letter redacted when its event names an erased member."""
        return self.intake.erased.redacted(letter) if self.intake.erased is not None else letter

    def _decode(self, record: Record, now: datetime) -> RawItem:
        tenant: object = None
        try:
            raw = kafka_event(record.value, record.headers)
            tenant = raw.get("tenant")
            admission = self.intake.receive(raw, tenant=None, received=now)
        except DecodeError as exc:
            admission = Admission("valid")
            admission.reject(exc.problems)
            return RawItem(record, admission)
        except Exception as exc:  # a bug must not stall the partition: the record is dead-lettered instead
            log.exception("unexpected error decoding a raw record")
            admission = Admission("valid")
            admission.reject([Problem("record", f"unexpected {type(exc).__name__}: {exc}")])
            return RawItem(record, admission, error=type(exc).__name__)
        return RawItem(record, admission, tenant=tenant if isinstance(tenant, str) else None)

    def _rejected(self, item: RawItem) -> DeadLetter:
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


def consumer_options(settings: IngestSettings) -> ConsumerOptions:
    """Return how ingest reads the raw topic, from its settings."""
    return ConsumerOptions(
        name="ingest raw-topic",
        service=SERVICE,
        topics=(RAW,),
        group=settings.consumer_group,
        max_records=settings.raw_batch_max_records,
        poll_ms=500,
        gather_seconds=0.5,
        record_tries=settings.record_tries,
        stuck_seconds=settings.stuck_seconds,
        ensure_topics=False,
    )


class RawConsumer(Consumer[RawItem]):
    """The raw-topic consumer: :meth:`start` it, :meth:`stop` it (the chunk in flight finishes first)."""

    def __init__(self, settings: IngestSettings, intake: Intake, keys: KeyStore, producer: EventProducer) -> None:
        super().__init__(consumer_options(settings), settings.kafka, RawHandler(intake, keys), producer)
