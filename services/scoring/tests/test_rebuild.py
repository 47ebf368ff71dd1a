"""The rebuild: from a JSON Lines file and from the topic, through the function and the command."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kith_devkit.testing import publish
from kith_scoring.cli import app
from kith_scoring.settings import ScoringSettings
from kith_shared.mongo import make_mongo_client
from services.scoring.tests.helpers import assert_rebuild_identical, caught_up, scratch_rebuild, stream, wait_for

pytestmark = pytest.mark.integration


def environment(settings: ScoringSettings) -> dict[str, str]:
    """Return the SCORING_* variables that point the command at this test's broker and database."""
    return {
        "SCORING_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "SCORING_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
        "SCORING_MONGO__URI": settings.mongo.uri.get_secret_value(),
        "SCORING_MONGO__DATABASE": settings.mongo.database,
    }


async def test_rebuild_reports_no_difference_then_the_one_that_was_made(
    scoring_settings: ScoringSettings, start_app: Any, tmp_path: Path
) -> None:
    events = stream(1_500)
    async with start_app(scoring_settings):
        await publish(scoring_settings.kafka, events)
        await wait_for(lambda: caught_up(scoring_settings))
    source = tmp_path / "events.jsonl"
    source.write_text("".join(e.model_dump_json(exclude_none=True) + "\n" for e in events))

    await assert_rebuild_identical(scoring_settings, len(events), source)  # from the file
    await assert_rebuild_identical(scoring_settings, len(events))  # from the topic

    client = make_mongo_client(scoring_settings.mongo, app_name="tests")
    try:
        collection = client[scoring_settings.mongo.database]["member_communities"]
        victim = await collection.find_one({"anonymous": False})
        assert victim is not None
        await collection.update_one({"_id": victim["_id"]}, {"$inc": {"rg": 1}})
    finally:
        await client.close()
    tampered = await scratch_rebuild(scoring_settings, source)
    assert [(d.collection, d.id) for d in tampered.differences] == [("member_communities", victim["_id"])]

    runner = CliRunner()
    result = await asyncio.to_thread(
        runner.invoke,
        app,
        ["rebuild", "--from-file", str(source), "--scratch-database", f"scratch_{uuid.uuid4().hex[:8]}"],
        env=environment(scoring_settings),
    )
    assert result.exit_code == 1, result.output
    assert "1 documents differ" in result.output
    assert victim["_id"] in result.output
