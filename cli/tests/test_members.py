"""kith members erase / reinstate against a real ingest process on the test's broker and database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from kith_cli.main import app
from kith_devkit.testing import MakeSettings, child_process, eventually, process_env
from kith_ingest.settings import IngestSettings
from kith_shared.auth import KeyStore, Scope
from kith_shared.mongo import make_mongo_client

pytestmark = pytest.mark.integration


def _post(member: str, number: int) -> dict[str, object]:
    return {
        "id": f"post-{member}-{number}",
        "source": "app://test",
        "type": "post.created",
        "time": datetime.now(UTC).isoformat(),
        "data": {"community_id": "c-1", "member_id": member, "post_id": f"p-{member}-{number}", "text": "hello"},
    }


async def test_members_are_erased_and_reinstated_from_the_terminal(make_settings: MakeSettings, tmp_path: Path) -> None:
    settings = make_settings(IngestSettings)
    client = make_mongo_client(settings.mongo, app_name="test")
    try:
        keys = KeyStore(client[settings.mongo.auth_database])
        await keys.ensure_indexes()
        admin = (await keys.create_key("acme", [Scope.ADMIN, Scope.EVENTS_WRITE], "operator")).key
        writer = (await keys.create_key("acme", [Scope.EVENTS_WRITE], "app")).key
    finally:
        await client.close()
    env = process_env(settings)
    url = f"http://127.0.0.1:{env['INGEST_PORT']}"
    runner = CliRunner()

    def kith(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, [*args, "--ingest-url", url])
        return result.exit_code, result.output

    with child_process("kith_ingest", env, tmp_path / "ingest.log"):
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {writer}"}) as http:

            async def ready() -> bool:
                try:
                    return (await http.get("/readyz")).status_code == 200
                except httpx.HTTPError:
                    return False

            await eventually(ready, 60, "ingest ready")
            assert (await http.post("/v1/events", json=_post("m-1", 1))).status_code == 202

            code, output = await asyncio.to_thread(kith, "members", "erase", "m-1", "--key", writer, "--yes")
            assert code == 0, output
            assert "m-1: erasure accepted" in output
            refused = await http.post("/v1/events", json=_post("m-1", 2))
            assert refused.status_code == 422
            assert refused.json()["error"]["problems"][0]["field"] == "data.member_id"

            code, output = await asyncio.to_thread(kith, "members", "reinstate", "m-1", "--key", writer)
            assert code == 4, output  # reinstating takes the admin scope
            code, output = await asyncio.to_thread(kith, "members", "reinstate", "m-1", "--key", admin)
            assert code == 0, output
            assert "m-1: reinstated" in output

            async def admitted() -> bool:
                return (await http.post("/v1/events", json=_post("m-1", 3))).status_code in (200, 202)

            await eventually(admitted, 30, "the reinstated member's events admitted again")
            code, output = await asyncio.to_thread(kith, "members", "reinstate", "m-2", "--key", admin)
            assert code == 4
            assert "404" in output
            assert "not erased" in output
