"""What the soak checks after its run: every accepted event on the topic, every service ready and at lag 0,
and recommend's last checkpoint equal to a replay of the topics (scoring is checked by its own rebuild).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from typing import Any

import httpx
from pydantic import SecretStr

from bench.pipeline_stack import Stack
from kith_devkit.servers import stop_process
from kith_devkit.testing.kafka import from_start
from kith_recommend.discovery.state import parts_for
from kith_recommend.engine import Recommender
from kith_recommend.rebuild import RebuildReport, replay
from kith_recommend.settings import RecommendSettings
from kith_recommend.store import CheckpointStore
from kith_shared.events import decode_kafka_record
from kith_shared.mongo import make_mongo_client
from kith_shared.reading import read_to_end
from kith_shared.settings import KafkaSettings, MongoSettings
from kith_shared.topics import ACTIVITY


async def topic_identities(kafka: KafkaSettings) -> tuple[set[tuple[str, str]], int]:
    """Return the (source, id) of every event on the activity topic, and how many records it holds."""
    found: set[tuple[str, str]] = set()
    records = 0
    async with from_start(kafka, ACTIVITY, max_poll_records=5_000) as (consumer, partitions):
        async for batch in read_to_end(consumer, partitions, max_records=5_000):
            for record in batch:
                event = decode_kafka_record(record.value, list(record.headers or []))
                found.add(event.identity)
                records += 1
    return found, records


async def ready_within(stack: Stack, services: tuple[str, ...], within: float) -> dict[str, float | None]:
    """Wait until every service answers /readyz 200; return when each did (None: never, within the limit)."""
    started = time.monotonic()
    when: dict[str, float | None] = dict.fromkeys(services)
    async with httpx.AsyncClient(timeout=3.0) as client:
        while time.monotonic() - started < within and any(v is None for v in when.values()):
            for name in services:
                if when[name] is None:
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get(stack.url(name) + "/readyz")).status_code == 200:
                            when[name] = round(time.monotonic() - started, 1)
            await asyncio.sleep(0.5)
    return when


async def lag_zero_within(stack: Stack, within: float) -> dict[str, int | None]:
    """Wait until scoring and recommend are at lag 0; return their last lags."""
    deadline = time.monotonic() + within
    lags: dict[str, int | None] = {}
    while time.monotonic() < deadline:
        lags = await stack.lags(("scoring", "recommend"))
        if all(lag == 0 for lag in lags.values()):
            break
        await asyncio.sleep(1.0)
    return lags


def _pairs(edges: dict[str, dict[str, float]]) -> dict[tuple[str, str], float]:
    return {(a, b): weight for a, targets in edges.items() for b, weight in targets.items()}


def _state_differences(found: Recommender, expected: Recommender) -> list[str]:
    """Return how the restored state differs from the replayed one (sums in another order equal up to rounding)."""
    problems: list[str] = []
    if set(found.tenants) != set(expected.tenants):
        problems.append(f"tenants {sorted(found.tenants)} != {sorted(expected.tenants)}")
    for tenant in expected.tenants:
        a, b = found.state(tenant), expected.state(tenant)
        for kind, by_a in b.edges.items():
            mine, theirs = _pairs(a.edges[kind]), _pairs(by_a)
            for pair in sorted(mine.keys() | theirs.keys()):
                x, y = mine.get(pair), theirs.get(pair)
                if x is not None and y is not None and math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12):
                    continue
                member, community = pair
                problems.append(f"{tenant} {kind} {member}->{community}: live {x}, replayed {y}")
        if (a.communities, a.interests, a.now, a.version) != (b.communities, b.interests, b.now, b.version):
            problems.append(f"{tenant}: other profiles, clock or count of changes applied")
    if found.positions != expected.positions:
        problems.append("other positions")
    return problems


async def recommend_matches_a_replay(stack: Stack) -> dict[str, Any]:
    """Stop recommend gracefully (its last checkpoint), load that checkpoint and compare it with a replay."""
    stop_process(stack.processes["recommend"], timeout=60.0)
    settings = RecommendSettings(kafka=stack.kafka, mongo=MongoSettings(uri=SecretStr(stack.mongo_uri)))
    client = make_mongo_client(settings.mongo, app_name="bench-soak")
    try:
        loaded = await CheckpointStore(client[settings.mongo.database]).load()
    finally:
        await client.close()
    if loaded is None:
        return {"equal": False, "differences": ["no checkpoint"]}
    found = Recommender(settings.ranking, parts_for(settings.detection))
    found.restore(loaded)
    report = RebuildReport()
    expected = await replay(settings, report)
    problems = _state_differences(found, expected)
    return {
        "equal": not problems,
        "differences": problems[:10],
        "records_replayed": report.records,
    }
