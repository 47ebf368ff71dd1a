"""kill -9 at random points, checkpoint writes included: the state equals one that applied every record once."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kith_devkit.scale import tenant_at_scale
from kith_devkit.servers import free_port
from kith_devkit.testing import eventually
from kith_recommend.domain.model import TenantState
from kith_recommend.engine import Recommender
from kith_recommend.rebuild import RebuildReport, replay
from kith_recommend.settings import RecommendSettings
from kith_recommend.store import CheckpointStore
from kith_shared.events import Event
from kith_shared.kafka import EventProducer
from kith_shared.mongo import make_mongo_client
from kith_shared.topics import ACTIVITY

pytestmark = pytest.mark.integration


def child_env(settings: RecommendSettings) -> dict[str, str]:
    """Return the environment pointing a recommend process at this test's broker, topics and database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOMMEND_")}
    env.update(
        {
            "RECOMMEND_ENVIRONMENT": "test",
            "RECOMMEND_PORT": str(free_port()),
            "RECOMMEND_LOG_LEVEL": "INFO",
            "RECOMMEND_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
            "RECOMMEND_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
            "RECOMMEND_KAFKA__IDEMPOTENCE": str(settings.kafka.idempotence).lower(),
            "RECOMMEND_MONGO__URI": settings.mongo.uri.get_secret_value(),
            "RECOMMEND_MONGO__DATABASE": settings.mongo.database,
            "RECOMMEND_MONGO__AUTH_DATABASE": settings.mongo.auth_database,
            "RECOMMEND_BATCH_MAX_RECORDS": "300",
            # Checkpoints all the time, so that kills land inside checkpoint writes too.
            "RECOMMEND_CHECKPOINT_SECONDS": "0.2",
            "RECOMMEND_CHECKPOINT_RECORDS": "400",
            "RECOMMEND_CHECKPOINT_LEASE_SECONDS": "3",
        }
    )
    return env


async def publish(settings: RecommendSettings, events: list[Event]) -> None:
    producer = EventProducer(settings.kafka)
    await producer.start()
    try:
        await producer.wait_connected(30)
        for start in range(0, len(events), 1_000):
            await producer.publish(ACTIVITY, events[start : start + 1_000])
    finally:
        await producer.stop()


async def checkpointed(settings: RecommendSettings) -> int:
    """Return how many records the current checkpoint's positions cover."""
    client = make_mongo_client(settings.mongo, app_name="tests")
    try:
        manifest = await CheckpointStore(client[settings.mongo.database]).manifest()
        return sum(p["offset"] for p in (manifest or {}).get("positions", []))
    finally:
        await client.close()


async def checkpoint_state(settings: RecommendSettings) -> Recommender:
    client = make_mongo_client(settings.mongo, app_name="tests")
    try:
        loaded = await CheckpointStore(client[settings.mongo.database]).load()
    finally:
        await client.close()
    assert loaded is not None
    recommender = Recommender(settings.ranking)
    recommender.restore(loaded)
    return recommender


def assert_equal_states(found: TenantState, expected: TenantState) -> None:
    """Equal edges, profiles and clock; weights summed in another order are equal up to rounding."""
    for kind, by_a in expected.edges.items():
        assert found.edges[kind].keys() == by_a.keys(), kind
        for a, weights in by_a.items():
            assert found.edges[kind][a] == pytest.approx(weights, rel=1e-9), (kind, a)
    assert found.communities == expected.communities
    assert found.interests == expected.interests
    assert found.now == expected.now
    assert found.version == expected.version  # one step per change applied: none twice, none missed


@pytest.mark.slow
async def test_sigkill_at_random_points_leaves_the_state_equal_to_a_rebuild(
    recommend_settings: RecommendSettings, tmp_path: Path
) -> None:
    rng = random.Random(2027)
    events = list(tenant_at_scale(60, 800, seed=11, days=20, activity=0.6, tenant="acme"))
    events += list(tenant_at_scale(20, 200, seed=12, days=20, activity=0.6, tenant="other"))
    rng.shuffle(events)  # tenants and communities interleaved across partitions
    parts = [events[i : i + 1_500] for i in range(0, len(events), 1_500)]
    env = child_env(recommend_settings)
    log = (tmp_path / "recommend.log").open("ab")

    def spawn() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "kith_recommend"], env=env, stdout=log, stderr=subprocess.STDOUT)

    kills = 0
    process = spawn()
    try:
        for index, part in enumerate(parts):
            baseline = await checkpointed(recommend_settings)
            await publish(recommend_settings, part)
            if index == len(parts) - 1:
                break

            async def moved(baseline: int = baseline) -> bool:
                return await checkpointed(recommend_settings) > baseline

            await eventually(moved, 90, "a checkpoint past the last one")
            await asyncio.sleep(rng.uniform(0.0, 0.5))
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            kills += 1
            process = spawn()

        async def caught_up() -> bool:
            return await checkpointed(recommend_settings) == len(events)

        await eventually(caught_up, 120, "a checkpoint covering every record")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()

    assert kills >= 5
    report = RebuildReport()
    rebuilt = await replay(recommend_settings, report)
    assert report.records == len(events)
    assert report.dead_letters == 0
    found = await checkpoint_state(recommend_settings)
    assert set(found.tenants) == set(rebuilt.tenants) == {"acme", "other"}
    for tenant in rebuilt.tenants:
        assert_equal_states(found.state(tenant), rebuilt.state(tenant))
    assert found.positions == rebuilt.positions
