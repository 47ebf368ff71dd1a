"""kill -9 at random points, checkpoint writes included: the state equals one that applied every record once."""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kith_devkit.scale import tenant_at_scale
from kith_devkit.testing import child_process, eventually, kill_between_parts, process_env, publish
from kith_recommend.domain.model import TenantState
from kith_recommend.engine import Recommender
from kith_recommend.rebuild import RebuildReport, replay
from kith_recommend.settings import RecommendSettings
from kith_recommend.store import CheckpointStore
from kith_shared.mongo import make_mongo_client

pytestmark = pytest.mark.integration


# Checkpoints all the time, so that kills land inside checkpoint writes too.
CHILD_ENV = {
    "BATCH_MAX_RECORDS": "300",
    "CHECKPOINT_SECONDS": "0.2",
    "CHECKPOINT_RECORDS": "400",
    "CHECKPOINT_LEASE_SECONDS": "3",
}


@contextlib.asynccontextmanager
async def checkpoints(settings: RecommendSettings) -> AsyncIterator[CheckpointStore]:
    """Yield the checkpoint store of this test's database."""
    client = make_mongo_client(settings.mongo, app_name="tests")
    try:
        yield CheckpointStore(client[settings.mongo.database])
    finally:
        await client.close()


async def checkpointed(settings: RecommendSettings) -> int:
    """Return how many records the current checkpoint's positions cover."""
    async with checkpoints(settings) as store:
        manifest = await store.manifest()
    return sum(p["offset"] for p in (manifest or {}).get("positions", []))


async def checkpoint_state(settings: RecommendSettings) -> Recommender:
    async with checkpoints(settings) as store:
        loaded = await store.load()
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
    env = process_env(recommend_settings, CHILD_ENV)
    with child_process("kith_recommend", env, tmp_path / "recommend.log") as recommend:
        await kill_between_parts(
            recommend,
            parts,
            lambda part: publish(recommend_settings.kafka, part, chunk=1_000),
            lambda: checkpointed(recommend_settings),
            rng,
            most_pause=0.5,
            within=90,
        )

        async def caught_up() -> bool:
            return await checkpointed(recommend_settings) == len(events)

        await eventually(caught_up, 120, "a checkpoint covering every record")

    assert recommend.kills >= 5
    report = RebuildReport()
    rebuilt = await replay(recommend_settings, report)
    assert report.records == len(events)
    assert report.dead_letters == 0
    found = await checkpoint_state(recommend_settings)
    assert set(found.tenants) == set(rebuilt.tenants) == {"acme", "other"}
    for tenant in rebuilt.tenants:
        assert_equal_states(found.state(tenant), rebuilt.state(tenant))
    assert found.positions == rebuilt.positions
