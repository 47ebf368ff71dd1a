"""Rate limits per key: a burst goes through, then 429 with Retry-After, other keys unaffected, then recovery."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from kith_devkit.testing import eventually
from kith_shared.auth import MetricsReader, Scope
from kith_shared.platform import Platform
from kith_shared.settings import KafkaSettings, MongoSettings, ServiceSettings

pytestmark = pytest.mark.integration

RATE, BURST = 2.0, 4


@pytest.fixture
async def limited(
    kafka_settings: KafkaSettings, mongo_settings: MongoSettings
) -> AsyncIterator[tuple[Platform, httpx.AsyncClient]]:
    """A tiny app with the platform installed, limited to 2 requests/s per key with a burst of 4."""
    settings = ServiceSettings(
        kafka=kafka_settings, mongo=mongo_settings, rate_limit_per_second=RATE, rate_limit_burst=BURST
    )
    platform = Platform(settings, "rate-test")
    app = FastAPI()
    platform.install(app)

    @app.get("/v1/metrics")
    async def metrics(principal: MetricsReader) -> dict[str, str]:
        """Answer with the caller's key."""
        return {"key_id": principal.key_id}

    await platform.keys.ensure_indexes()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield platform, client
    await platform.stop()


async def test_a_key_past_its_burst_gets_429_until_tokens_come_back(
    limited: tuple[Platform, httpx.AsyncClient],
) -> None:
    platform, client = limited
    hasty = (await platform.keys.create_key("acme", [Scope.METRICS_READ])).key
    calm = (await platform.keys.create_key("acme", [Scope.METRICS_READ])).key

    async def get(key: str) -> httpx.Response:
        return await client.get("/v1/metrics", headers={"Authorization": f"Bearer {key}"})

    statuses = [(await get(hasty)).status_code for _ in range(BURST + 3)]
    # The burst passes (a token or two may come back while it is sent); then the key is refused.
    assert statuses[:BURST] == [200] * BURST
    assert 429 in statuses[BURST:]
    refused = await get(hasty)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    # Another key of the same tenant has its own bucket.
    assert (await get(calm)).status_code == 200

    async def recovered() -> bool:
        return (await get(hasty)).status_code == 200

    await eventually(recovered, 10, "the limited key to be served again", every=0.25)


async def test_requests_without_a_valid_key_are_not_counted_against_a_key(
    limited: tuple[Platform, httpx.AsyncClient],
) -> None:
    platform, client = limited
    key = (await platform.keys.create_key("acme", [Scope.METRICS_READ])).key
    for _ in range(BURST * 3):
        assert (await client.get("/v1/metrics", headers={"Authorization": "Bearer kith_no_such"})).status_code == 401
    assert (await client.get("/v1/metrics", headers={"Authorization": f"Bearer {key}"})).status_code == 200
