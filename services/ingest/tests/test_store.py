"""Deduplication claims on the real database: won once, released on failure, taken over when abandoned."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from kith_ingest.store import DedupeStore, claim_key
from kith_shared.mongo import make_mongo_client
from kith_shared.settings import MongoSettings

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(mongo_settings: MongoSettings) -> AsyncIterator[DedupeStore]:
    client = make_mongo_client(mongo_settings, app_name="test")
    store = DedupeStore(client[mongo_settings.database], window=timedelta(days=7), claim_timeout=timedelta(seconds=30))
    await store.ensure_indexes()
    await store.start()
    try:
        yield store
    finally:
        await store.stop()
        await client.close()


def keys(*ids: str) -> list[str]:
    return [claim_key("demo", "app://test", event_id) for event_id in ids]


async def test_concurrent_claims_are_won_once_and_released_claims_are_free_again(store: DedupeStore) -> None:
    now = datetime.now(UTC)
    first, second, third = await asyncio.gather(
        store.claim(keys("a", "b"), now), store.claim(keys("b", "c"), now), store.claim(keys("a", "d"), now)
    )
    assert set(first.keys) == set(keys("a", "b"))
    assert set(second.keys) == set(keys("c"))
    assert set(third.keys) == set(keys("d"))
    await store.release(second)
    assert (await store.claim(keys("c"), now)).keys == tuple(keys("c"))
    store.confirm_later(first, now)
    assert (await store.claim(keys("a", "b", "e"), now)).keys == tuple(keys("e"))


async def test_abandoned_and_expired_claims_are_taken_over_but_published_ones_are_not(store: DedupeStore) -> None:
    then = datetime.now(UTC) - timedelta(minutes=5)
    abandoned = await store.claim(keys("p"), then)
    published = await store.claim(keys("q"), then)
    store.confirm_later(published, then)
    await store.stop()  # writes the pending confirmation
    now = datetime.now(UTC)
    retry = await store.claim(keys("p", "q"), now)
    assert retry.keys == tuple(keys("p"))
    assert abandoned.keys == tuple(keys("p"))
    expired = await store.claim(keys("q"), now + timedelta(days=8))
    assert expired.keys == tuple(keys("q"))
