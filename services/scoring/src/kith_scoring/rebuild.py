"""Recompute every metric from scratch (from the activity topic or a JSON Lines file) and compare.

The events are applied, in batches, by the same code the consumer uses, into a scratch database
that starts empty, with the live tenants' configuration history copied in (so every event is
weighed as it was live) and the live tombstones (so every erased member's events are re-keyed). An
event whose effects fail is isolated as the consumer isolates it (by bisection; the consumer
dead-lettered it) and counted as skipped. Then every figure document is compared with the live one.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition
from pymongo.asynchronous.database import AsyncDatabase

from kith_scoring.domain.documents import ERASED_MEMBERS, FIGURE_COLLECTIONS, SETTINGS
from kith_scoring.domain.identity import identity_hash
from kith_scoring.settings import ScoringSettings
from kith_scoring.store import InRecord, ScoringStore
from kith_shared.batching import Handler, Settler
from kith_shared.events import ACTIVITY_TYPES, DeadLetter, DecodeError, Event, decode_kafka_record, validate_event
from kith_shared.kafka import make_consumer
from kith_shared.mongo import make_mongo_client
from kith_shared.topics import ACTIVITY

Document = dict[str, Any]
#: Collections compared after a rebuild: every figure, and who was erased.
COMPARED = (*FIGURE_COLLECTIONS, ERASED_MEMBERS)
#: Significant digits kept when comparing floats (sums of the same terms in another order differ in the last bits).
SIGNIFICANT = 9
Progress = Callable[[int, int | None], None]


@dataclass
class Difference:
    """One document that differs."""

    collection: str
    id: str
    live: Any
    rebuilt: Any


@dataclass
class RebuildReport:
    """What a rebuild found."""

    events: int = 0
    skipped: int = 0
    documents: dict[str, int] = field(default_factory=dict)
    differences: list[Difference] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        """Tell whether the live figures equal the rebuilt ones."""
        return not self.differences


def normalize(value: Any) -> Any:
    """Return a value in a form where equal figures compare equal (floats rounded, sets sorted)."""
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        items = [normalize(v) for v in value]
        if all(isinstance(v, str) for v in items):
            return sorted(items)
        return items
    if isinstance(value, float):
        if value == 0 or not math.isfinite(value):
            return value
        return float(f"{value:.{SIGNIFICANT}g}")
    return value


async def read_file(path: Path, chunk: int = 2_000) -> AsyncIterator[list[Event]]:
    """Yield normalized activity events from a JSON Lines file, in chunks."""
    batch: list[Event] = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            try:
                event = validate_event(json.loads(line))
            except (DecodeError, json.JSONDecodeError):
                continue
            if event.type in ACTIVITY_TYPES and event.is_normalized:
                batch.append(event)
            if len(batch) >= chunk:
                yield batch
                batch = []
    if batch:
        yield batch


async def high_watermarks(settings: ScoringSettings, within: float = 10.0) -> dict[int, int]:
    """Return the end (high watermark) of each partition of the activity topic, as fetches report it.

    Fetch responses are used rather than a ListOffsets request (``end_offsets``): the embedded
    broker answers the latter with the first offset of the last record batch, not the end.
    """
    kafka = settings.kafka
    consumer = make_consumer(kafka, group=None, max_poll_records=1)
    await consumer.start()
    try:
        topic = kafka.topic(ACTIVITY)
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            return {}
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = asyncio.get_running_loop().time() + within
        marks: dict[int, int] = {}
        while len(marks) < len(partitions) and asyncio.get_running_loop().time() < deadline:
            await consumer.getmany(timeout_ms=200, max_records=1)
            for tp in partitions:
                high = consumer.highwater(tp)
                if high is not None:
                    marks[tp.partition] = high
        return marks
    finally:
        await consumer.stop()


async def read_topic(settings: ScoringSettings, chunk: int = 2_000) -> AsyncIterator[list[Event]]:
    """Yield the normalized activity events on the topic now, from the beginning, in chunks."""
    kafka = settings.kafka
    ends = await high_watermarks(settings)
    consumer = make_consumer(kafka, group=None, max_poll_records=chunk)
    await consumer.start()
    try:
        topic = kafka.topic(ACTIVITY)
        partitions = [TopicPartition(topic, p) for p in sorted(ends)]
        if not partitions:
            return
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        remaining = {tp for tp in partitions if ends[tp.partition] > 0}
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=1_000, max_records=chunk)
            batch: list[Event] = []
            for tp, records in fetched.items():
                for record in records:
                    if record.offset >= ends[tp.partition]:
                        continue
                    try:
                        event = decode_kafka_record(record.value, list(record.headers or ()))
                    except DecodeError:
                        continue
                    if event.type in ACTIVITY_TYPES and event.is_normalized:
                        batch.append(event)
                if records and records[-1].offset >= ends[tp.partition] - 1:
                    remaining.discard(tp)
            if batch:
                yield batch
    finally:
        await consumer.stop()


class _Replay(Handler[InRecord]):
    """Applies a rebuild's chunks to the scratch store; an event that fails is left out, as it was live."""

    stage = "scoring"

    def __init__(self, store: ScoringStore) -> None:
        self.store = store

    async def prepare(self, records: Sequence[InRecord]) -> list[InRecord | DeadLetter]:
        return list(records)

    async def apply(self, items: Sequence[InRecord]) -> None:
        await self.store.apply(list(items))

    def failed(self, record: InRecord, item: InRecord, error: BaseException, tries: int) -> DeadLetter:
        return DeadLetter(
            reason=f"{type(error).__name__}: {error}", error=type(error).__name__, stage="scoring",
            source_topic=record.topic, partition=record.partition, offset=record.offset, value_b64="",
        )  # fmt: skip


async def _documents(db: AsyncDatabase[Document], collection: str) -> dict[str, Document]:
    return {doc["_id"]: normalize(doc) async for doc in db[collection].find({})}


async def compare(live: AsyncDatabase[Document], rebuilt: AsyncDatabase[Document]) -> RebuildReport:
    """Compare every figure document of two databases."""
    report = RebuildReport()
    for collection in COMPARED:
        mine = await _documents(live, collection)
        theirs = await _documents(rebuilt, collection)
        report.documents[collection] = len(theirs)
        for doc_id in sorted(set(mine) | set(theirs)):
            if mine.get(doc_id) != theirs.get(doc_id):
                report.differences.append(Difference(collection, doc_id, mine.get(doc_id), theirs.get(doc_id)))
    return report


async def rebuild(
    settings: ScoringSettings,
    *,
    scratch_database: str,
    source: Path | None = None,
    progress: Progress | None = None,
    total: int | None = None,
    events: Iterable[Event] | None = None,
) -> RebuildReport:
    """Recompute every metric from the topic (or ``source``, a JSON Lines file) into ``scratch_database``; compare."""
    client = make_mongo_client(settings.mongo, app_name="scoring-rebuild")
    try:
        live = client[settings.mongo.database]
        if scratch_database == settings.mongo.database:
            raise ValueError("the scratch database must not be the live database")
        await client.drop_database(scratch_database)
        scratch = client[scratch_database]
        async for doc in live[SETTINGS].find({}):
            await scratch[SETTINGS].insert_one(doc)
        # Every tombstone is known before any event is applied: an erased member's events, whatever their
        # partition, land on the stand-in id at once (their erasure, read again, moves nothing more).
        async for tombstone in live[ERASED_MEMBERS].find({}):
            await scratch[ERASED_MEMBERS].insert_one(tombstone)
        store = ScoringStore(
            client,
            scratch,
            erasure_salt=settings.erasure_salt.get_secret_value(),
            erasure_secret=settings.erasure_secret.get_secret_value(),
            recent_events=settings.engagement.recent_events,
        )
        applied = 0
        skipped: list[DeadLetter] = []

        async def skip(letter: DeadLetter) -> None:
            skipped.append(letter)

        settler = Settler(_Replay(store), skip, tries=1)

        async def chunks() -> AsyncIterator[list[Event]]:
            if events is not None:
                items = list(events)
                for start in range(0, len(items), 2_000):
                    yield items[start : start + 2_000]
            elif source is not None:
                async for chunk in read_file(source):
                    yield chunk
            else:
                async for chunk in read_topic(settings):
                    yield chunk

        offset = 0
        async for chunk in chunks():
            records = []
            for event in chunk:
                records.append(InRecord("rebuild", 0, offset, identity_hash(event.source, event.id), event))
                offset += 1
            settled = await settler.settle(records)
            applied += settled.applied + settled.dead_lettered
            if progress is not None:
                progress(applied, total)
        report = await compare(live, scratch)
        report.events = applied
        report.skipped = len(skipped)
        return report
    finally:
        await client.close()
