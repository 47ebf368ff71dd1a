"""Helpers of scoring's tests: normalized events, a running app, waiting for the consumer, reading topics, rebuilds.

Imported by the tests as ``services.scoring.tests.helpers`` (the repository root is on the path).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import TopicPartition
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from kith_devkit.generator import GeneratorConfig, generate
from kith_devkit.testing import from_start
from kith_scoring.app import create_app
from kith_scoring.rebuild import RebuildReport, high_watermarks, rebuild
from kith_scoring.settings import ScoringSettings
from kith_shared.auth import KeyStore, Scope
from kith_shared.events import EVENT_ADAPTER, SCHEMA_VERSION, Event
from kith_shared.events.data import CommentCreated, PostCreated, TextFeatures
from kith_shared.kafka import make_consumer
from kith_shared.topics import ACTIVITY, ENGAGEMENT

_ids = itertools.count(1)
T0 = datetime(2026, 10, 5, 0, 0, tzinfo=UTC)


def at(days: float = 0, hours: float = 0) -> datetime:
    """Return an instant relative to Monday 2026-10-05 00:00 UTC."""
    return T0 + timedelta(days=days, hours=hours)


def event(event_type: str, when: datetime, tenant: str = "acme", envelope_id: str | None = None, **data: Any) -> Event:
    """Build a normalized event as ingest would publish it."""
    raw = {
        "id": envelope_id or f"ev-{next(_ids)}",
        "source": "app://tests",
        "type": event_type,
        "time": when.isoformat(),
        "tenant": tenant,
        "data": data,
    }
    parsed = EVENT_ADAPTER.validate_python(raw)
    return parsed.model_copy(update={"receivedtime": when + timedelta(seconds=1), "schemaversion": SCHEMA_VERSION})


def reply_to(
    member: str, author: str, *, comment_id: str = "k1", text: str = "hi", post_id: str = "p1", community_id: str = "c1"
) -> dict[str, Any]:
    """Return the data of ``member``'s comment answering ``author``'s post (``p1`` of ``c1`` by default)."""
    return {
        "community_id": community_id,
        "member_id": member,
        "comment_id": comment_id,
        "post_id": post_id,
        "replied_to_member_id": author,
        "text": text,
    }


class Running:
    """A started scoring app with an HTTP client and keys."""

    def __init__(self, app: FastAPI, client: httpx.AsyncClient) -> None:
        self.app = app
        self.client = client

    async def key(self, tenant: str, *scopes: Scope) -> dict[str, str]:
        """Create a key of ``tenant`` and return the header that carries it."""
        keys: KeyStore = self.app.state.keys
        created = await keys.create_key(tenant, list(scopes) or [Scope.METRICS_READ])
        return {"Authorization": f"Bearer {created.key}"}

    async def wait_applied(self, count: int, within: float = 60.0) -> None:
        """Wait until the consumer applied at least ``count`` events."""
        await wait_for(lambda: self.app.state.consumer.applied >= count, within)


async def wait_for(condition: Callable[[], bool | Awaitable[bool]], within: float = 60.0) -> None:
    """Poll ``condition`` until it holds; fail after ``within`` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(0.1)


def normalize(raw: Event) -> Event:
    """Return a generated (raw) event as ingest would publish it: received, versioned, hashtags found."""
    update: dict[str, Any] = {"receivedtime": raw.time + timedelta(seconds=2), "schemaversion": SCHEMA_VERSION}
    data = raw.data
    if isinstance(data, PostCreated | CommentCreated):
        tags = sorted({t.lower() for t in re.findall(r"#(\w+)", data.text)})
        words = sorted({w.lower() for w in re.findall(r"[A-Za-z]{7,}", data.text)})[:5]
        update["data"] = data.model_copy(update={"text_features": TextFeatures(hashtags=tags, keywords=words)})
    return raw.model_copy(update=update)


def stream(count: int, seed: int = 7, communities: int = 40, members: int = 400) -> list[Event]:
    """Return the first ``count`` events of a generated history, normalized."""
    config = GeneratorConfig(seed=seed, communities=communities, members=members, days=90, tenant="acme")
    events = []
    for raw in generate(config):
        events.append(normalize(raw))
        if len(events) >= count:
            break
    return events


async def caught_up(settings: ScoringSettings) -> bool:
    """Tell whether the consumer group committed every partition of the activity topic to its end.

    Offsets are committed only once a chunk's records are applied (its effects and progress
    durable) or dead-lettered, so this is "every record so far is done".
    """
    ends = await high_watermarks(settings)
    kafka = settings.kafka
    topic = kafka.topic(ACTIVITY)
    consumer = make_consumer(kafka, group=kafka.group(settings.consumer_group))
    await consumer.start()
    try:
        committed = {p: await consumer.committed(TopicPartition(topic, p)) or 0 for p in ends}
    finally:
        await consumer.stop()
    return bool(ends) and all(committed[partition] >= end for partition, end in ends.items())


@contextlib.asynccontextmanager
async def running_app(settings: ScoringSettings) -> AsyncIterator[Running]:
    """Start the app with its lifespan and an HTTP client bound to it."""
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://scoring") as client:
            yield Running(app, client)


async def engagement_events(settings: ScoringSettings) -> list[Any]:
    """Read every event on the engagement topic."""
    async with from_start(settings.kafka, ENGAGEMENT) as (consumer, _):
        found: list[Any] = []
        for _ in range(6):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found.extend(EVENT_ADAPTER.validate_json(r.value) for r in records)
        return found


async def scratch_rebuild(settings: ScoringSettings, source: Path | None = None) -> RebuildReport:
    """Recompute every metric into a scratch database of its own and compare it with what the service stored."""
    return await rebuild(settings, scratch_database=f"scratch_{uuid.uuid4().hex[:8]}", source=source)


async def assert_rebuild_identical(
    settings: ScoringSettings, events: int | None = None, source: Path | None = None
) -> RebuildReport:
    """Assert that a rebuild (from ``events`` records, when given) finds every stored document as it is."""
    report = await scratch_rebuild(settings, source)
    if events is not None:
        assert report.events == events
    assert report.identical, report.differences[:3]
    return report
