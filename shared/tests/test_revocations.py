"""A revocation reaches every replica of every service through the control topic, not after the cache expires."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from kith_cli import admin
from kith_devkit.testing import eventually
from kith_shared import auth
from kith_shared.auth import Scope
from kith_shared.events import decode_kafka_record
from kith_shared.events.types import KeyRevokedEvent
from kith_shared.kafka import make_consumer
from kith_shared.platform import Platform
from kith_shared.settings import KafkaSettings, MongoSettings, ServiceSettings
from kith_shared.topics import CONTROL

pytestmark = pytest.mark.integration


@pytest.fixture
async def replicas(topics: KafkaSettings, mongo_settings: MongoSettings) -> AsyncIterator[list[Platform]]:
    """Three started platforms sharing a broker and a key store, as replicas of different services are."""
    settings = ServiceSettings(kafka=topics, mongo=mongo_settings)
    started = [Platform(settings, service) for service in ("ingest", "scoring", "recommend")]
    for platform in started:
        await platform.start()
    for platform in started:
        await platform.producer.wait_connected(30)
    try:
        yield started
    finally:
        for platform in started:
            await platform.stop()


async def test_a_revoked_key_stops_working_on_every_replica_long_before_the_cache_expires(
    replicas: list[Platform], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Cached answers now last an hour: only the broadcast can make the other replicas forget a key.
    monkeypatch.setattr(auth, "_CACHE_SECONDS", 3600.0)
    revoking, *others = replicas
    by_route = await revoking.keys.create_key("acme", [Scope.METRICS_READ])
    by_cli = await revoking.keys.create_key("acme", [Scope.METRICS_READ])
    kept = await revoking.keys.create_key("acme", [Scope.METRICS_READ])
    for platform in replicas:
        for created in (by_route, by_cli, kept):
            assert await platform.keys.resolve(created.key) is not None

    async def forgotten_everywhere(key: str) -> bool:
        return all([await platform.keys.resolve(key) is None for platform in others])

    started = time.monotonic()
    assert await revoking.keys.revoke(by_route.key_id, "acme")
    await eventually(lambda: forgotten_everywhere(by_route.key), 30, "the revocation on every replica", every=0.1)
    route_seconds = time.monotonic() - started

    uri = revoking.settings.mongo.uri.get_secret_value()
    monkeypatch.setattr(admin, "mongo_settings", lambda _: revoking.settings.mongo)
    revoked, broadcast = await admin.revoke_key(uri, by_cli.key_id, revoking.settings.kafka)
    assert (revoked, broadcast) == (True, True)
    await eventually(lambda: forgotten_everywhere(by_cli.key), 30, "the CLI's revocation on every replica", every=0.1)

    for platform in replicas:
        assert await platform.keys.resolve(kept.key) is not None
    print(f"revocation seen by every replica after {route_seconds:.2f}s")  # noqa: T201 - the figure the README quotes


async def test_the_control_topic_carries_the_revocation_as_a_contract_event(
    replicas: list[Platform],
) -> None:
    platform = replicas[0]
    created = await platform.keys.create_key("acme", [Scope.ADMIN])
    assert await platform.keys.revoke(created.key_id)
    consumer = platform.revocations.consumer

    async def read() -> bool:
        return consumer.applied >= 1

    await eventually(read, 30, "the revocation applied by the listener")
    assert consumer.dead_lettered == 0
    topic = platform.settings.kafka.topic(CONTROL)
    assert topic.endswith("control.v1")
    reader = make_consumer(platform.settings.kafka, topic, group=None)
    await reader.start()
    try:
        batches = await reader.getmany(timeout_ms=5_000)
    finally:
        await reader.stop()
    events = [decode_kafka_record(r.value, r.headers) for records in batches.values() for r in records]
    assert [(e.type, e.tenant) for e in events] == [("key.revoked", "acme")]
    assert isinstance(events[0], KeyRevokedEvent)
    assert events[0].data.key_id == created.key_id
