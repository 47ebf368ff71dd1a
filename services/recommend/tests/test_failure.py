"""Serving goes on from the last model when the database is unreachable, and says so."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import SecretStr

from kith_devkit.events import community, join
from kith_devkit.servers import ServerProcess
from kith_devkit.testing import RunService, eventually
from kith_recommend.app import create_app
from kith_recommend.settings import RecommendSettings
from kith_shared.auth import Scope

pytestmark = pytest.mark.integration


async def test_database_down_serves_last_model_with_stale_header(
    recommend_settings: RecommendSettings,
    make_database: Callable[..., ServerProcess],
    running_service: RunService,
) -> None:
    database = make_database()
    mongo = recommend_settings.mongo.model_copy(update={"uri": SecretStr(f"mongodb://{database.address}")})
    settings = recommend_settings.model_copy(update={"mongo": mongo})
    async with running_service(create_app, settings, {"acme": [Scope.RECOMMENDATIONS_READ]}) as running:
        client = running.client_for()
        events = [community("c-a", "A", ["chess"]), community("c-b", "B", ["chess"])]
        events += [join("x", "c-a"), join("x", "c-b"), join("ann", "c-a")]
        await running.publish(events)

        async def suggested() -> bool:
            body = (await client.get("/v1/members/ann/suggestions")).json()
            return [s["community_id"] for s in body["suggestions"]] == ["c-b"]

        await eventually(suggested, 30, "c-b suggested to ann")

        async def fresh() -> bool:  # once the consumer's readiness was checked since it connected
            response = await client.get("/v1/members/ann/suggestions")
            return bool(response.headers.get("X-Kith-Model-Stale") == "false")

        await eventually(fresh, 30, "suggestions not marked stale")

        database.stop()

        async def marked_stale() -> bool:
            response = await client.get("/v1/members/ann/suggestions")
            return bool(response.headers.get("X-Kith-Model-Stale") == "true")

        await eventually(marked_stale, 30, "suggestions marked stale")
        stale = await client.get("/v1/members/ann/suggestions")
        assert stale.status_code == 200
        assert [s["community_id"] for s in stale.json()["suggestions"]] == ["c-b"]
        assert "mongodb" in stale.headers["X-Kith-Model-Stale-Reason"]
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert "mongodb" in ready.json()["failing"]
