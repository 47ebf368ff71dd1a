"""Rebuild the read model from the topics, from scratch."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from aiokafka import TopicPartition

from kith_recommend.consumer import plan_batch
from kith_recommend.domain.model import TenantState, compile_model
from kith_recommend.settings import RecommendSettings
from kith_recommend.store import Store
from kith_shared.kafka import make_consumer
from kith_shared.mongo import make_mongo_client
from kith_shared.reading import read_to_end
from kith_shared.topics import ACTIVITY, ENGAGEMENT

log = logging.getLogger(__name__)


@dataclass
class RebuildReport:
    """What a rebuild read and wrote, and how long it took."""

    records: int = 0
    changes: int = 0
    dead_letters: int = 0
    tenants: dict[str, int] = field(default_factory=dict)
    documents: int = 0
    read_seconds: float = 0.0
    write_seconds: float = 0.0
    compile_seconds: float = 0.0
    seconds: float = 0.0  # read, write and compile


async def rebuild(
    settings: RecommendSettings,
    *,
    write: bool = True,
    commit_offsets: bool = True,
    batch: int = 5_000,
) -> RebuildReport:
    """Drop the read model and replay the activity and engagement topics into it, up to their current end.

    Events are folded in memory, tenant by tenant, and each tenant's model is then written once.

    Stop the service first (it loads the rebuilt model when it starts again). Reading stops where the
    topics ended when it started. Records that cannot be decoded were dead-lettered when first
    consumed; here they are only counted. With ``commit_offsets`` the
    service's consumer group is moved to where the rebuild stopped, so the service, once started,
    goes on from there instead of applying the same records a second time.
    """
    started = time.perf_counter()
    report = RebuildReport()
    kafka = settings.kafka
    group = kafka.group(settings.consumer_group) if write and commit_offsets else None
    consumer = make_consumer(kafka, group=group, max_poll_records=batch, max_partition_fetch_bytes=8 * 1024 * 1024)
    reached: dict[TopicPartition, int] = {}
    mongo = make_mongo_client(settings.mongo, app_name="recommend-rebuild")
    store = Store(mongo[settings.mongo.database])
    states: dict[str, TenantState] = {}
    try:
        await consumer.start()
        partitions = [
            TopicPartition(topic, p)
            for topic in (kafka.topic(ACTIVITY), kafka.topic(ENGAGEMENT))
            for p in sorted(consumer.partitions_for_topic(topic) or [])
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        last_record_at = started
        async for records in read_to_end(consumer, partitions, max_records=batch):
            for record in records:
                reached[TopicPartition(record.topic, record.partition)] = record.offset + 1
            changes, letters = plan_batch(records)
            report.records += len(records)
            report.changes += len(changes)
            report.dead_letters += len(letters)
            last_record_at = time.perf_counter()
            for change in changes:
                state = states.get(change.tenant)
                if state is None:
                    state = states[change.tenant] = TenantState(change.tenant)
                state.apply(change)
        report.read_seconds = last_record_at - started
        if write:
            written = time.perf_counter()
            await store.ensure_indexes()
            await store.drop()
            for state in states.values():
                report.documents += await store.replace(state)
            report.write_seconds = time.perf_counter() - written
        if group is not None and reached:
            await consumer.commit(reached)
        compiled = time.perf_counter()
        for tenant, state in states.items():
            ranking = settings.ranking
            model = compile_model(state, ranking.trending_half_life_days, ranking.neighbour_degree_exponent)
            report.tenants[tenant] = model.n
        report.compile_seconds = time.perf_counter() - compiled
    finally:
        await consumer.stop()
        await mongo.close()
    report.seconds = report.read_seconds + report.write_seconds + report.compile_seconds
    log.info("read model rebuilt", extra={"records": report.records, "seconds": round(report.seconds, 2)})
    return report
