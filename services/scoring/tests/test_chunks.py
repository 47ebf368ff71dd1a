"""A backlog applied in committed chunks; a group rebalancing mid-batch; a re-read below the fence of the same topic."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kith_devkit.testing import publish
from kith_scoring.settings import ScoringSettings
from kith_shared.kafka import make_consumer
from kith_shared.mongo import make_mongo_client
from kith_shared.topics import ACTIVITY
from services.scoring.tests.helpers import assert_rebuild_identical, caught_up, stream, wait_for

pytestmark = pytest.mark.integration


async def progress_docs(settings: ScoringSettings) -> list[dict[str, Any]]:
    """Return the stored progress of every partition."""
    client = make_mongo_client(settings.mongo, app_name="tests")
    try:
        return [doc async for doc in client[settings.mongo.database]["partition_progress"].find({})]
    finally:
        await client.close()


async def rewind_group(settings: ScoringSettings, to: int = 0) -> None:
    """Commit offset ``to`` for every partition of the group (as a lost commit leaves it), the consumers stopped."""
    kafka = settings.kafka
    consumer = make_consumer(kafka, group=kafka.group(settings.consumer_group), request_timeout_ms=30_000)
    consumer.subscribe([kafka.topic(ACTIVITY)])
    await consumer.start()
    try:
        async with asyncio.timeout(60):
            while len(consumer.assignment()) < ACTIVITY.partitions:
                await consumer.getmany(timeout_ms=200, max_records=1)
        await consumer.commit(dict.fromkeys(consumer.assignment(), to))
    finally:
        await consumer.stop()


async def test_a_backlog_is_applied_in_committed_chunks_so_lag_falls_steadily(
    scoring_settings: ScoringSettings, start_app: Any
) -> None:
    events = stream(6_000)
    await publish(scoring_settings.kafka, events)
    settings = scoring_settings.model_copy(
        update={"batch_max_records": 6_000, "chunk_max_records": 1_000, "chunk_first_records": 1_000}
    )
    seen: list[int] = []
    async with start_app(settings) as running:
        consumer = running.app.state.consumer

        async def watch() -> bool:
            if consumer.lag:
                seen.append(consumer.waiting)
            return await caught_up(settings)

        await wait_for(watch, within=180)
        assert consumer.store.stats.transactions >= 6  # one per chunk, not one per batch
        assert consumer.batches <= 3
    falling = [value for value in dict.fromkeys(seen) if 0 < value < len(events)]
    assert len(falling) >= 3, seen  # the lag moved down chunk by chunk, not all at once at the end
    await assert_rebuild_identical(settings, len(events))


async def test_a_re_read_below_the_fence_of_the_same_topic_never_resets_the_fence(
    scoring_settings: ScoringSettings, start_app: Any
) -> None:
    events = stream(1_200)
    await publish(scoring_settings.kafka, events)
    async with start_app(scoring_settings):
        await wait_for(lambda: caught_up(scoring_settings), within=90)
    fences = {doc["_id"]: doc["offset"] for doc in await progress_docs(scoring_settings)}

    await rewind_group(scoring_settings)  # the commits were lost: everything is read again, in small chunks
    small = scoring_settings.model_copy(update={"chunk_max_records": 50, "chunk_first_records": 50})
    async with start_app(small) as running:
        consumer = running.app.state.consumer

        async def reread() -> bool:
            return not consumer.waiting and consumer.lag and consumer.scoring.incarnation_checks > 0

        await wait_for(reread, within=120)
        assert consumer.scoring.applied == 0  # every record was fenced off as already applied
    after = await progress_docs(scoring_settings)
    assert {doc["_id"]: doc["offset"] for doc in after} == fences
    assert all("incarnation" not in doc for doc in after)
    await assert_rebuild_identical(scoring_settings)


async def test_a_group_rebalancing_mid_batch_counts_nothing_twice(
    scoring_settings: ScoringSettings, start_app: Any
) -> None:
    events = stream(4_000)
    settings = scoring_settings.model_copy(
        update={
            "chunk_max_records": 500,
            "chunk_first_records": 500,
            "max_poll_interval_ms": 6_000,
            "batch_max_seconds": 3.0,
            "session_timeout_ms": 6_000,
        }
    )
    async with start_app(settings) as running:
        consumer = running.app.state.consumer
        store = consumer.store
        apply = store.apply
        slowed: list[int] = []

        async def slow_first_chunk(records: Any, same_incarnation: Any = None) -> Any:
            outcome = await apply(records, same_incarnation)
            if not slowed:
                slowed.append(len(records))
                consumer.sizer.most = 100  # what is read again comes in smaller chunks, ending below the fence
                await asyncio.sleep(9.0)  # durable, then stalled past the poll interval: the group moves on
            return outcome

        store.apply = slow_first_chunk
        await publish(settings.kafka, events)
        await wait_for(lambda: caught_up(settings), within=180)
        await wait_for(lambda: not consumer.waiting, within=60)
        assert slowed
        assert consumer.scoring.incarnation_checks > 0  # a re-read below the fence, settled by the broker
    assert all("incarnation" not in doc for doc in await progress_docs(settings))
    await assert_rebuild_identical(settings, len(events))
