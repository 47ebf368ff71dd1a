"""Checkpoints on the real database: atomic flips, the writer's lease, erasure, restarts and new incarnations."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import TopicPartition
from pymongo.asynchronous.database import AsyncDatabase

from kith_devkit.events import community, event, join
from kith_devkit.servers import ServerProcess, free_port, wait_for_kafka
from kith_devkit.testing import RunService, eventually
from kith_recommend.app import create_app
from kith_recommend.checkpoints import Checkpointer, CheckpointPolicy
from kith_recommend.documents import CHECKPOINT_CHUNKS, chunk_id
from kith_recommend.domain.changes import Edge, changes_for
from kith_recommend.domain.params import RankingParams
from kith_recommend.engine import Recommender
from kith_recommend.rebuild import RebuildRefused, rebuild
from kith_recommend.resume import marker, resume_positions
from kith_recommend.settings import RecommendSettings
from kith_recommend.store import CheckpointStore, LeaseLost, Position
from kith_shared.auth import Scope
from kith_shared.kafka import ensure_topics, make_consumer, make_producer
from kith_shared.mongo import Document, make_mongo_client
from kith_shared.settings import MongoSettings
from kith_shared.topics import ACTIVITY

pytestmark = pytest.mark.integration


@pytest.fixture
async def db(mongo_settings: MongoSettings) -> AsyncIterator[AsyncDatabase[Document]]:
    client = make_mongo_client(mongo_settings, app_name="tests")
    yield client[mongo_settings.database]
    await client.close()


def recommender_with(*members: str, tenant: str = "acme") -> Recommender:
    recommender = Recommender(RankingParams())
    for m in members:
        recommender.apply(changes_for(join(m, "c-1", tenant=tenant)))
    return recommender


async def write(store: CheckpointStore, checkpointer: Checkpointer) -> int:
    report = await checkpointer.checkpoint()
    assert report is not None
    return report.version


async def all_chunk_bytes(db: AsyncDatabase[Document]) -> list[bytes]:
    """Return every stored tenant blob, decompressed (whatever its version)."""
    blobs: dict[tuple[str, int], list[tuple[int, bytes]]] = {}
    async for doc in db[CHECKPOINT_CHUNKS].find({}):
        blobs.setdefault((doc["tenant"], doc["version"]), []).append((doc["seq"], bytes(doc["data"])))
    return [zlib.decompress(b"".join(p for _, p in sorted(parts))) for parts in blobs.values()]


async def test_a_checkpoint_reads_back_as_written_and_only_changed_tenants_are_rewritten(
    db: AsyncDatabase[Document],
) -> None:
    store = CheckpointStore(db)
    await store.ensure()
    recommender = recommender_with("ann", "bea")
    recommender.apply(changes_for(join("zed", "c-9", tenant="other")))
    recommender.positions[("t.activity.v1", 2)] = Position(17, "m17")
    recommender.loaded = True
    checkpointer = Checkpointer(store, recommender, holder="a")
    first = await write(store, checkpointer)

    loaded = await store.load()
    assert loaded is not None
    assert loaded.version == first
    assert set(loaded.blobs) == {"acme", "other"}
    assert loaded.positions == {("t.activity.v1", 2): Position(17, "m17")}
    restored = Recommender(RankingParams())
    restored.restore(loaded)
    assert restored.state("acme").edges[Edge.MEMBER] == {"ann": {"c-1": 1.0}, "bea": {"c-1": 1.0}}

    recommender.apply(changes_for(join("cid", "c-1")))
    recommender.records += 1
    second = await checkpointer.checkpoint()
    assert second is not None
    assert (second.tenants_written, second.tenants_kept) == (1, 1)
    assert second.entries["other"]["version"] == first  # kept as it was
    assert second.entries["acme"]["version"] == second.version
    assert second.deleted_chunks == 1  # acme's chunk of the first version
    restored.restore(await store.load() or loaded)
    assert set(restored.state("acme").edges[Edge.MEMBER]) == {"ann", "bea", "cid"}
    assert "zed" in restored.state("other").edges[Edge.MEMBER]


async def test_large_tenants_are_chunked_and_a_write_cut_short_leaves_the_last_checkpoint(
    db: AsyncDatabase[Document],
) -> None:
    store = CheckpointStore(db)
    recommender = recommender_with(*(f"member-{i:05d}" for i in range(3_000)))
    snapshot = recommender.snapshot({})
    blob = zlib.compress(snapshot.tenants["acme"].packed, 3)
    assert await store.acquire("a", 30)
    report = await store.write("a", {"acme": blob}, {}, {}, ["model@1"], chunk_bytes=1_024)
    assert report.entries["acme"]["chunks"] > 3

    # A writer killed after writing some chunks of a new version, before flipping: readers never see them.
    await db[CHECKPOINT_CHUNKS].insert_one(
        {"_id": chunk_id("acme", 99, 0), "tenant": "acme", "version": 99, "seq": 0, "data": b"half"}
    )
    loaded = await store.load()
    assert loaded is not None
    assert loaded.blobs["acme"] == blob
    # The next checkpoint deletes what the cut-short write left (versions only grow past it).
    await db["checkpoint"].update_one({"_id": "manifest"}, {"$set": {"next_version": 99}})
    again = await store.write("a", {"acme": blob}, {}, {}, ["model@1"])
    assert again.version == 100
    assert await db[CHECKPOINT_CHUNKS].count_documents({}) == 1


async def test_only_the_lease_holder_flips_and_a_deposed_writer_changes_nothing(db: AsyncDatabase[Document]) -> None:
    store = CheckpointStore(db)
    now = datetime.now(UTC)
    assert await store.acquire("a", 30, now=now)
    assert await store.acquire("a", 30, now=now)  # renewing
    assert not await store.acquire("b", 30, now=now)
    first = await store.write("a", {"acme": zlib.compress(b"\x80")}, {}, {("t", 0): Position(5, "x")}, ["model@1"])

    # a stalls past its lease; b takes over and writes
    later = now + timedelta(seconds=31)
    assert await store.acquire("b", 30, now=later)
    with pytest.raises(LeaseLost):
        await store.write("a", {"acme": zlib.compress(b"\x81")}, {}, {("t", 0): Position(9, "y")}, ["model@1"])
    manifest = await store.manifest()
    assert manifest is not None
    assert manifest["version"] == first.version
    assert manifest["positions"][0]["offset"] == 5
    assert await db[CHECKPOINT_CHUNKS].count_documents({}) == 1  # a's unflipped chunks are gone

    # The released lease is free at once.
    await store.release("b")
    assert await store.acquire("a", 30)


async def test_an_erased_member_is_gone_from_every_stored_chunk_after_the_next_checkpoint(
    db: AsyncDatabase[Document],
) -> None:
    store = CheckpointStore(db)
    recommender = recommender_with("ann", "erin-the-erased")
    recommender.loaded = True
    checkpointer = Checkpointer(store, recommender, CheckpointPolicy(), holder="a")
    await write(store, checkpointer)
    assert any(b"erin-the-erased" in blob for blob in await all_chunk_bytes(db))

    async with recommender.lock:
        recommender.apply(changes_for(event("member.erased", {"member_id": "erin-the-erased"})))
        recommender.records += 1
    assert "erin-the-erased" not in recommender.state("acme").edges[Edge.MEMBER]  # at once, in memory
    await write(store, checkpointer)
    blobs = await all_chunk_bytes(db)
    assert blobs
    assert not any(b"erin-the-erased" in blob for blob in blobs)


async def test_the_old_per_event_read_model_is_dropped(db: AsyncDatabase[Document]) -> None:
    await db["edges"].insert_one({"_id": "acme|member|a|c", "tenant": "acme"})
    await db["profiles"].insert_one({"_id": "acme|clock|", "tenant": "acme"})
    await CheckpointStore(db).ensure()
    assert not {"edges", "profiles"} & set(await db.list_collection_names())


async def test_a_restart_resumes_from_the_checkpoint_and_a_rebuild_refuses_while_a_replica_writes(
    recommend_settings: RecommendSettings, running_service: RunService, db: AsyncDatabase[Document]
) -> None:
    settings = recommend_settings.model_copy(update={"checkpoint_seconds": 0.5})
    keys = {"acme": [Scope.RECOMMENDATIONS_READ]}
    async with running_service(create_app, settings, keys) as running:
        await running.publish([community("c-1", "One", ["chess"]), join("ann", "c-1"), join("bea", "c-1")])
        checkpointer: Checkpointer = running.app.state.checkpointer

        async def saved() -> bool:
            return checkpointer.last is not None and checkpointer.recommender.records >= 3

        await eventually(saved, 30, "a checkpoint of three records")
        await eventually(lambda: _checkpointed_records(checkpointer, 3), 30, "a checkpoint holding three records")

    # A rebuild refuses while a replica holds the lease (here: a live holder's lease, set by hand).
    store = CheckpointStore(db)
    assert await store.acquire("someone-else", 30)
    with pytest.raises(RebuildRefused, match="stop the service"):
        await rebuild(settings)
    await store.release("someone-else")

    async with running_service(create_app, settings, keys) as running:
        recommender: Recommender = running.app.state.recommender
        await eventually(lambda: _is_loaded(recommender), 30, "the checkpoint loaded")
        assert set(recommender.state("acme").edges[Edge.MEMBER]) == {"ann", "bea"}
        await running.publish([join("cid", "c-1")])

        async def three() -> bool:
            return set(recommender.state("acme").edges[Edge.MEMBER]) == {"ann", "bea", "cid"}

        await eventually(three, 30, "cid applied once after the restart")
        joins = recommender.state("acme").edges[Edge.JOINS_DAY]["c-1"]
        assert sum(joins.values()) == 3.0  # each join counted once: nothing read twice across the restart


async def _checkpointed_records(checkpointer: Checkpointer, records: int) -> bool:
    manifest = await checkpointer.store.manifest()
    return manifest is not None and manifest.get("records", 0) >= records


async def _is_loaded(recommender: Recommender) -> bool:
    return recommender.loaded


async def test_positions_are_kept_on_the_same_topic_and_reset_on_a_new_incarnation(
    recommend_settings: RecommendSettings,
) -> None:
    kafka = recommend_settings.kafka
    topic = kafka.topic(ACTIVITY)
    producer = make_producer(kafka)
    await producer.start()
    try:
        sent = [await producer.send_and_wait(topic, f"record {i}".encode(), key=b"k", partition=0) for i in range(3)]
    finally:
        await producer.stop()
    assert [r.offset for r in sent] == [0, 1, 2]
    consumer = make_consumer(kafka, group=None)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        records = (await consumer.getmany(tp, timeout_ms=10_000)).get(tp, [])
    finally:
        await consumer.stop()
    assert len(records) == 3
    same = Position(2, marker(records[1]))
    other = TopicPartition(topic, 1)
    resumed = await resume_positions(
        kafka,
        {
            tp: same,
            TopicPartition(topic, 2): Position(2, marker(records[0])),  # empty partition: it ends before offset 1
            other: Position(0),
        },
    )
    assert resumed[tp] == same
    assert resumed[TopicPartition(topic, 2)] == Position(0)
    assert resumed[other] == Position(0)
    assert (await resume_positions(kafka, {tp: Position(2, "another record")}))[tp] == Position(0)
    assert (await resume_positions(kafka, {tp: Position(5, marker(records[2]))}))[tp] == Position(0)


async def test_a_broker_that_forgot_its_topics_is_read_from_the_beginning_after_a_restart(
    recommend_settings: RecommendSettings,
    running_service: RunService,
    make_broker: Callable[..., ServerProcess],
) -> None:
    port = free_port()
    broker = make_broker(port)
    await wait_for_kafka(broker.address)
    kafka = recommend_settings.kafka.model_copy(update={"bootstrap_servers": broker.address})
    settings = recommend_settings.model_copy(update={"kafka": kafka, "checkpoint_seconds": 0.5})
    await ensure_topics(kafka)
    keys = {"acme": [Scope.RECOMMENDATIONS_READ]}
    async with running_service(create_app, settings, keys) as running:
        await running.publish([join("ann", "c-1"), join("bea", "c-1"), join("cid", "c-1")])
        checkpointer: Checkpointer = running.app.state.checkpointer
        await eventually(lambda: _checkpointed_records(checkpointer, 3), 60, "a checkpoint holding three records")

    broker.stop()
    broker = make_broker(port)  # the same address, empty: offsets start again at 0
    await wait_for_kafka(broker.address)
    await ensure_topics(kafka)
    async with running_service(create_app, settings, keys) as running:
        # Four new events on the same partition: offset 2 holds another record than before.
        await running.publish([join(m, "c-1") for m in ("dan", "eve", "fay", "gus")])
        recommender: Recommender = running.app.state.recommender

        async def all_seven() -> bool:
            return len(recommender.state("acme").edges[Edge.MEMBER]) == 7

        await eventually(all_seven, 60, "the new incarnation's four joins applied besides the three before")
