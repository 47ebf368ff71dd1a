"""Fixtures: a running recommend app on the real broker and database, a key, and an activity publisher."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from kith_recommend.app import create_app
from kith_recommend.settings import RecommendSettings
from kith_shared.auth import Scope
from kith_shared.events import Event
from kith_shared.kafka import EventProducer
from kith_shared.settings import KafkaSettings, MongoSettings
from kith_shared.topics import ACTIVITY


@dataclass
class Running:
    """A started service with a client per tenant and a way to publish normalized activity."""

    app: FastAPI
    settings: RecommendSettings
    clients: dict[str, httpx.AsyncClient]
    producer: EventProducer

    async def publish(self, events: list[Event]) -> None:
        """Publish events on the activity topic, as ingest does after normalizing them."""
        await self.producer.publish(ACTIVITY, events)

    def client(self, tenant: str = "acme") -> httpx.AsyncClient:
        """Return the HTTP client holding a recommendations:read key of ``tenant``."""
        return self.clients[tenant]


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 30.0) -> float:
    """Wait until ``check`` passes; return the seconds it took (fail after ``within``)."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > within:
            pytest.fail(f"condition not met within {within:g}s")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


@pytest.fixture
def recommend_settings(topics: KafkaSettings, mongo_settings: MongoSettings) -> RecommendSettings:
    """Settings pointing at this test's topics and databases, refreshing quickly."""
    return RecommendSettings(
        environment="test",
        kafka=topics,
        mongo=mongo_settings,
        refresh_interval_seconds=0.2,
        batch_timeout_ms=50,
        rate_limit_per_second=0,
    )


@pytest.fixture
async def running(recommend_settings: RecommendSettings) -> AsyncIterator[Running]:
    """Start the service (lifespan included) with keys for tenants acme and other."""
    app = create_app(recommend_settings)
    producer = EventProducer(recommend_settings.kafka)
    await producer.start()
    async with app.router.lifespan_context(app):
        keys = app.state.platform.keys
        clients = {}
        for tenant in ("acme", "other"):
            key = await keys.create_key(tenant, [Scope.RECOMMENDATIONS_READ], name="test")
            clients[tenant] = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://recommend",
                headers={"Authorization": f"Bearer {key.key}"},
            )
        await producer.wait_connected(15)
        try:
            yield Running(app, recommend_settings, clients, producer)
        finally:
            for client in clients.values():
                await client.aclose()
            await producer.stop()
