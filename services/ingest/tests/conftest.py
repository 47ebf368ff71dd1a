"""Fixtures of the ingest tests: the app on real servers, API keys, and readers of the topics."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiokafka.structs import TopicPartition
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from kith_ingest.app import create_app
from kith_ingest.settings import IngestSettings
from kith_shared.auth import KeyStore, Scope
from kith_shared.kafka import make_consumer
from kith_shared.settings import KafkaSettings, MongoSettings
from kith_shared.topics import TopicSpec


@dataclass
class Running:
    """An ingest app running in-process, with a client and a writer key of tenant ``demo``."""

    app: FastAPI
    client: httpx.AsyncClient
    keys: KeyStore
    key: str

    def auth(self, key: str | None = None) -> dict[str, str]:
        """Return the headers authenticating with ``key`` (the demo writer by default)."""
        return {"Authorization": f"Bearer {key or self.key}"}


RunIngest = Callable[[IngestSettings], AbstractAsyncContextManager[Running]]


@pytest.fixture
def ingest_settings(topics: KafkaSettings, mongo_settings: MongoSettings) -> IngestSettings:
    """Settings on this test's topics and databases, without the raw-topic consumer."""
    return IngestSettings(kafka=topics, mongo=mongo_settings, environment="test", consume_raw=False)


@pytest.fixture
def run_ingest() -> RunIngest:
    """Return a factory running the app (lifespan included) until the block ends."""

    @asynccontextmanager
    async def run(settings: IngestSettings) -> AsyncIterator[Running]:
        app = create_app(settings)
        async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30) as manager:
            keys: KeyStore = app.state.keys
            created = await keys.create_key("demo", [Scope.EVENTS_WRITE], "test writer")
            with contextlib.suppress(Exception):
                await app.state.platform.producer.wait_connected(15)
            transport = httpx.ASGITransport(manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://ingest", timeout=30) as client:
                yield Running(app, client, keys, created.key)

    return run


ReadTopic = Callable[..., Any]


async def _read(
    kafka: KafkaSettings, spec: TopicSpec, count: int, within: float = 20.0, settle: float = 0.5
) -> list[Any]:
    topic = kafka.topic(spec)
    consumer = make_consumer(kafka, group=None)
    await consumer.start()
    records: list[Any] = []
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                while len(records) < count:
                    for batch in (await consumer.getmany(timeout_ms=300)).values():
                        records.extend(batch)
        # Look a little longer, so that a test sees a record that should not be there.
        for batch in (await consumer.getmany(timeout_ms=int(settle * 1000))).values():
            records.extend(batch)
    finally:
        await consumer.stop()
    return records


@pytest.fixture
def read_topic() -> ReadTopic:
    """Return ``read(kafka, spec, count, within=20)``: the records of a topic, from the start, once ``count`` came."""
    return _read
