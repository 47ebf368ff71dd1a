"""Rebuild the state from the topics, from scratch, and write it as one checkpoint."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiokafka import TopicPartition

from kith_recommend.consumer import Planned, plan
from kith_recommend.discovery.state import parts_for
from kith_recommend.domain.parts import part_keys
from kith_recommend.engine import Recommender
from kith_recommend.resume import marker
from kith_recommend.settings import RecommendSettings
from kith_recommend.snapshot import compress
from kith_recommend.store import CheckpointStore
from kith_shared.kafka import make_consumer
from kith_shared.mongo import make_mongo_client
from kith_shared.reading import read_to_end
from kith_shared.tombstone_store import TombstoneStore
from kith_shared.topics import ACTIVITY, ENGAGEMENT

log = logging.getLogger(__name__)

#: How long the rebuild holds the checkpoint lease (renewed never: writing one checkpoint takes far less).
_LEASE_SECONDS = 300.0


class RebuildRefused(RuntimeError):
    """A running recommend replica holds the checkpoint lease: stop the service before rebuilding."""


@dataclass
class RebuildReport:
    """What a rebuild read and wrote, and how long it took."""

    records: int = 0
    changes: int = 0
    dead_letters: int = 0
    """Records that cannot be decoded: dead-lettered when first consumed, only counted here."""
    tenants: dict[str, int] = field(default_factory=dict)
    """Each tenant's number of communities in the rebuilt state."""
    checkpoint_version: int = 0
    checkpoint_bytes: int = 0
    read_seconds: float = 0.0
    write_seconds: float = 0.0
    compile_seconds: float = 0.0
    seconds: float = 0.0  # read, write and compile


async def replay(
    settings: RecommendSettings, report: RebuildReport, batch: int = 5_000, tombstones: Iterable[str] = ()
) -> Recommender:
    """Apply every record of the activity and engagement topics, up to where they end now, to a fresh state.

    ``tombstones``: every erased member's, known before any record is applied, so that a record of an
    erased member read before their erasure (another partition) is dropped as the live service drops it.
    """
    started = time.perf_counter()
    kafka = settings.kafka
    recommender = Recommender(
        settings.ranking, parts_for(settings.detection), erasure_secret=settings.erasure_secret.get_secret_value()
    )
    recommender.tombstones.replace(tombstones)
    consumer = make_consumer(kafka, group=None, max_poll_records=batch, max_partition_fetch_bytes=8 * 1024 * 1024)
    try:
        await consumer.start()
        partitions = [
            TopicPartition(topic, p)
            for topic in (kafka.topic(ACTIVITY), kafka.topic(ENGAGEMENT))
            for p in sorted(consumer.partitions_for_topic(topic) or [])
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        async for records in read_to_end(consumer, partitions, max_records=batch):
            for record in records:
                planned = plan(record)
                report.records += 1
                if isinstance(planned, Planned):
                    recommender.apply(planned.changes)
                    recommender.records += 1
                    report.changes += len(planned.changes)
                    identity = planned.marker
                else:
                    report.dead_letters += 1
                    identity = marker(record)
                recommender.advance(record.topic, record.partition, record.offset, identity)
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
    report.read_seconds = time.perf_counter() - started
    return recommender


async def rebuild(settings: RecommendSettings, *, write: bool = True, batch: int = 5_000) -> RebuildReport:
    """Rebuild every tenant's state from the activity and engagement topics, up to their current end.

    With ``write``, the state is written as one checkpoint (every earlier one deleted), with the
    positions where reading stopped: the service, started after, loads it and goes on from there.
    Stop the service first: a running replica holds the checkpoint lease, and the rebuild refuses
    (:class:`RebuildRefused`). The topics hold only their retention's worth of events (30 days of
    activity, 7 of engagement changes): older history, which the last checkpoint still had, is lost.
    Records that cannot be decoded were dead-lettered when first consumed; here they are only counted.
    """
    report = RebuildReport()
    mongo = make_mongo_client(settings.mongo, app_name="recommend-rebuild")
    try:
        known = await TombstoneStore(mongo[settings.mongo.database]).load()
    finally:
        await mongo.close()
    recommender = await replay(settings, report, batch, known)
    if write:
        written = time.perf_counter()
        mongo = make_mongo_client(settings.mongo, app_name="recommend-rebuild")
        store = CheckpointStore(mongo[settings.mongo.database])
        holder = f"rebuild-{uuid.uuid4().hex[:12]}"
        try:
            await store.ensure()
            if not await store.acquire(holder, _LEASE_SECONDS):
                lease = await store.lease() or {}
                raise RebuildRefused(
                    f"a recommend replica ({lease.get('holder')}) holds the checkpoint lease until "
                    f"{lease.get('expires')}: stop the service, then rebuild"
                )
            try:
                await TombstoneStore(mongo[settings.mongo.database]).replace(recommender.tombstones)
                snapshot = recommender.snapshot({})
                blobs = {tenant: compress(s.packed) for tenant, s in snapshot.tenants.items()}
                written_report = await store.write(
                    holder, blobs, {}, snapshot.positions, part_keys(recommender.kinds), records=snapshot.records
                )
            finally:
                await store.release(holder)
            report.checkpoint_version = written_report.version
            report.checkpoint_bytes = written_report.bytes
        finally:
            await mongo.close()
        report.write_seconds = time.perf_counter() - written
    compiled = time.perf_counter()
    for tenant in recommender.tenants:
        report.tenants[tenant] = recommender.model(tenant).n
    report.compile_seconds = time.perf_counter() - compiled
    report.seconds = report.read_seconds + report.write_seconds + report.compile_seconds
    log.info("state rebuilt", extra={"records": report.records, "seconds": round(report.seconds, 2)})
    return report
