"""Crashes and outages: kill -9 at random points, the database going away, poison records."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition
from pydantic import SecretStr

from kith_devkit.servers import ServerProcess, free_port
from kith_devkit.testing import child_process, kill_between_parts, process_env, publish
from kith_scoring.domain.effects import build_effects
from kith_scoring.settings import ScoringSettings
from kith_shared.events import DeadLetter, encode_structured
from kith_shared.kafka import make_consumer, make_producer
from kith_shared.mongo import make_mongo_client
from kith_shared.reading import read_to_end
from kith_shared.topics import ACTIVITY, DEAD_LETTER
from services.scoring.tests.helpers import assert_rebuild_identical, at, caught_up, event, stream, wait_for

pytestmark = pytest.mark.integration


CHILD_ENV = {"BATCH_MAX_RECORDS": "400", "SESSION_TIMEOUT_MS": "3000", "SLIPPING_SWEEP_SECONDS": "0"}


async def dead_letters(settings: ScoringSettings) -> list[DeadLetter]:
    """Return every dead letter on this test's dead-letter topic."""
    consumer = make_consumer(settings.kafka, group=None)
    await consumer.start()
    try:
        tp = TopicPartition(settings.kafka.topic(DEAD_LETTER), 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        return [DeadLetter.model_validate_json(r.value) async for batch in read_to_end(consumer, [tp]) for r in batch]
    finally:
        await consumer.stop()


async def applied_offsets(settings: ScoringSettings) -> int:
    """Return the sum of the stored partition offsets (how far the consumer got)."""
    client = make_mongo_client(settings.mongo, app_name="tests")
    try:
        return sum([doc["offset"] + 1 async for doc in client[settings.mongo.database]["partition_progress"].find({})])
    finally:
        await client.close()


@pytest.mark.slow
async def test_sigkill_at_random_points_leaves_metrics_equal_to_a_rebuild(
    scoring_settings: ScoringSettings, tmp_path: Path
) -> None:
    rng = random.Random(2026)
    events = stream(20_000, communities=60, members=800)
    duplicates = rng.sample(events, 400)  # a producer's retries: the same events at later offsets
    parts = [events[i : i + 2_900] for i in range(0, len(events), 2_900)]
    parts[-1] = parts[-1] + duplicates
    env = process_env(scoring_settings, CHILD_ENV)
    with child_process("kith_scoring", env, tmp_path / "scoring.log") as scoring:
        await kill_between_parts(
            scoring,
            parts,
            lambda part: publish(scoring_settings.kafka, part),
            lambda: applied_offsets(scoring_settings),
            rng,
            most_pause=0.6,
            within=60,
        )
        await wait_for(lambda: caught_up(scoring_settings), within=120)

    assert scoring.kills >= 5
    report = await assert_rebuild_identical(scoring_settings, len(events) + len(duplicates))
    assert report.documents["member_communities"] > 100


async def test_database_restart_mid_stream_loses_nothing(
    scoring_settings: ScoringSettings, start_app: Any, make_database: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    port = free_port()
    data_dir = tmp_path / "scoring-db"
    database = make_database(port, data_dir)
    mongo = scoring_settings.mongo.model_copy(
        update={"uri": SecretStr(f"mongodb://{database.address}"), "server_selection_timeout_ms": 1_000}
    )
    settings = scoring_settings.model_copy(update={"mongo": mongo, "store_retry_max_seconds": 1.0})
    events = stream(3_000)
    first, second = events[:1_500], events[1_500:]
    async with start_app(settings) as running:
        await publish(settings.kafka, first)
        await wait_for(lambda: caught_up(settings), within=60)
        database.stop()
        await publish(settings.kafka, second)

        async def paused() -> bool:
            reply = await running.client.get("/readyz")
            return reply.status_code == 503 and "consumer" in reply.json()["failing"]

        await wait_for(paused, within=30)
        make_database(port, data_dir)
        await wait_for(lambda: caught_up(settings), within=90)
        await wait_for(lambda: running.client.get("/readyz"), within=1)
        assert running.app.state.consumer.paused is None
    await assert_rebuild_identical(settings, len(events))


async def test_poison_records_go_to_the_dead_letter_topic_while_the_rest_flow(
    scoring_settings: ScoringSettings, start_app: Any
) -> None:
    kafka = scoring_settings.kafka
    good = [event("member.joined", at(0, h), community_id="c1", member_id=f"m{h}") for h in range(1, 6)]
    raw = good[0].model_copy(update={"id": "raw-1", "receivedtime": None, "schemaversion": None})
    async with start_app(scoring_settings) as running:
        producer = make_producer(kafka)
        await producer.start()
        try:
            topic = kafka.topic(ACTIVITY)
            await producer.send_and_wait(topic, b"{not json", key=b"acme:c1")
            await producer.send_and_wait(topic, encode_structured(raw), key=b"acme:c1")
        finally:
            await producer.stop()
        await publish(kafka, good)
        await running.wait_applied(len(good))
        await wait_for(lambda: caught_up(scoring_settings), within=30)

    letters = await dead_letters(scoring_settings)
    assert sorted(letter.error for letter in letters) == ["DecodeError", "NotNormalized"]
    assert all(letter.stage == "scoring" for letter in letters)
    assert {letter.original_value() for letter in letters} >= {b"{not json"}


async def test_an_event_whose_effects_fail_is_dead_lettered_after_its_tries_and_nothing_else_stops(
    scoring_settings: ScoringSettings, start_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    kafka = scoring_settings.kafka
    before = [event("member.joined", at(0, h), community_id="c1", member_id=f"m{h}") for h in range(1, 4)]
    poisoned = event("member.joined", at(0, 5), community_id="c1", member_id="m0")
    after = [event("member.joined", at(1, h), tenant=t, community_id="c2", member_id=f"n{h}")
             for h in range(1, 4) for t in ("acme", "other")]  # fmt: skip

    # Every event scoring can decode is applied today; a fault in applying one (a bug, a value no rule
    # foresaw) is stood in for by effects that fail whenever the batch holds member m0's event.
    def failing_build(events: list[Any], context: Any) -> Any:
        if any(getattr(e.data, "member_id", None) == "m0" for e in events):
            raise ValueError("no rule for this event")
        return build_effects(events, context)

    monkeypatch.setattr("kith_scoring.store.apply.build_effects", failing_build)
    async with start_app(scoring_settings) as running:
        await publish(kafka, [*before, poisoned, *after])
        await wait_for(lambda: caught_up(scoring_settings), within=60)
        consumer = running.app.state.consumer
        assert consumer.dead_lettered == 1
        assert (await running.client.get("/readyz")).status_code == 200
        key = await running.key("other")
        reply = await running.client.get("/v1/communities/c2/metrics?window=30d", headers=key)
        assert reply.status_code == 200, reply.text
    letters = await dead_letters(scoring_settings)
    assert len(letters) == 1
    assert letters[0].stage == "scoring"
    assert letters[0].error == "ValueError"
    assert "failed 3 times" in letters[0].reason
    assert b'"m0"' in letters[0].original_value()
    await assert_rebuild_identical(scoring_settings)
