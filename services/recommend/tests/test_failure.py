"""Serving goes on from the last model when the database is unreachable, and says so."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr

from kith_devkit.servers import ServerProcess
from kith_recommend.app import create_app
from kith_recommend.settings import RecommendSettings
from kith_recommend.synthetic import community, join
from kith_shared.auth import Scope
from kith_shared.kafka import EventProducer
from kith_shared.topics import ACTIVITY

from .conftest import eventually

pytestmark = pytest.mark.integration


async def test_database_down_serves_last_model_with_stale_header(
    recommend_settings: RecommendSettings, make_database: Callable[..., ServerProcess]
) -> None:
    database = make_database()
    mongo = recommend_settings.mongo.model_copy(update={"uri": SecretStr(f"mongodb://{database.address}")})
    settings = recommend_settings.model_copy(update={"mongo": mongo})
    app = create_app(settings)
    producer = EventProducer(settings.kafka)
    await producer.start()
    async with app.router.lifespan_context(app):
        key = await app.state.platform.keys.create_key("acme", [Scope.RECOMMENDATIONS_READ])
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://recommend",
            headers={"Authorization": f"Bearer {key.key}"},
        )
        await producer.wait_connected(15)
        events = [community("c-a", "A", ["chess"]), community("c-b", "B", ["chess"])]
        events += [join("x", "c-a"), join("x", "c-b"), join("ann", "c-a")]
        await producer.publish(ACTIVITY, events)

        async def suggested() -> bool:
            body = (await client.get("/v1/members/ann/suggestions")).json()
            return [s["community_id"] for s in body["suggestions"]] == ["c-b"]

        await eventually(suggested)
        fresh = await client.get("/v1/members/ann/suggestions")
        assert fresh.headers["X-Kith-Model-Stale"] == "false"

        database.stop()

        async def marked_stale() -> bool:
            response = await client.get("/v1/members/ann/suggestions")
            return bool(response.headers.get("X-Kith-Model-Stale") == "true")

        await eventually(marked_stale, within=30)
        stale = await client.get("/v1/members/ann/suggestions")
        assert stale.status_code == 200
        assert [s["community_id"] for s in stale.json()["suggestions"]] == ["c-b"]
        assert "mongodb" in stale.headers["X-Kith-Model-Stale-Reason"]
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert "mongodb" in ready.json()["failing"]
        await client.aclose()
    await producer.stop()
