"""Readiness follows the broker and the database: 503 naming what is down, 200 once both answer, 503 again after."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from kith_devkit.servers import ServerProcess, free_port
from kith_devkit.testing import eventually
from kith_shared.platform import Platform
from kith_shared.settings import KafkaSettings, MongoSettings, ServiceSettings

pytestmark = pytest.mark.integration


async def readyz(client: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    response = await client.get("/readyz")
    body = response.json()
    assert isinstance(body, dict)
    return response.status_code, body


async def test_readyz_names_unreachable_dependencies_then_recovers(
    make_broker: Callable[..., ServerProcess], make_database: Callable[..., ServerProcess]
) -> None:
    broker_port, database_port = free_port(), free_port()
    while database_port == broker_port:
        database_port = free_port()
    settings = ServiceSettings(
        kafka=KafkaSettings(bootstrap_servers=f"127.0.0.1:{broker_port}", idempotence=False, request_timeout_ms=2_000),
        mongo=MongoSettings(uri=SecretStr(f"mongodb://127.0.0.1:{database_port}"), server_selection_timeout_ms=500),
    )
    platform = Platform(settings, "readiness-test")
    app = FastAPI()
    platform.install(app)
    await platform.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            assert (await client.get("/healthz")).status_code == 200

            status, body = await readyz(client)
            assert status == 503
            assert body["status"] == "not ready"
            assert sorted(body["failing"]) == ["kafka", "mongodb"]
            assert "broker" in body["checks"]["kafka"]
            assert "database unreachable" in body["checks"]["mongodb"]

            make_database(database_port)

            async def database_ok() -> tuple[int, dict[str, Any]] | None:
                status, body = await readyz(client)
                return (status, body) if body["checks"]["mongodb"] == "ok" else None

            status, body = await eventually(database_ok, 30, "the database check to pass")
            assert status == 503
            assert body["failing"] == ["kafka"]

            broker = make_broker(broker_port)

            async def answer_with(wanted: bool) -> tuple[int, dict[str, Any]] | None:
                status, body = await readyz(client)
                return (status, body) if (status == 200) == wanted else None

            status, body = await eventually(lambda: answer_with(True), 60, "ready once both are up")
            assert body == {"status": "ready", "checks": {"kafka": "ok", "mongodb": "ok"}, "failing": []}

            broker.stop()
            status, body = await eventually(lambda: answer_with(False), 30, "not ready once the broker stopped")
            assert status == 503
            assert body["failing"] == ["kafka"]
    finally:
        await platform.stop()
