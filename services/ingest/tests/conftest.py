"""Fixtures of the ingest tests: the app on real servers with a writer key, and a reader of the topics."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from aiokafka.structs import TopicPartition

from kith_devkit.testing import MakeSettings, RunningService, RunService
from kith_ingest.app import create_app
from kith_ingest.settings import IngestSettings
from kith_shared.auth import Scope
from kith_shared.kafka import make_consumer
from kith_shared.settings import KafkaSettings
from kith_shared.topics import TopicSpec

RunIngest = Callable[[IngestSettings], AbstractAsyncContextManager[RunningService[IngestSettings]]]


@pytest.fixture
def ingest_settings(make_settings: MakeSettings) -> IngestSettings:
    """Settings on this test's topics and databases, without the raw-topic consumer.

    Costly text is cleaned in threads here (a worker process per test app would cost seconds each);
    ``test_costly_text`` runs the default process pool.
    """
    return make_settings(IngestSettings, consume_raw=False, normalize_pool="thread")


@pytest.fixture
def run_ingest(running_service: RunService) -> RunIngest:
    """Return a factory running the app (lifespan included) with a writer key of tenant ``demo``."""
    return lambda settings: running_service(create_app, settings, {"demo": [Scope.EVENTS_WRITE]})


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
