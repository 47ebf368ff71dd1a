"""Backfills and simulated activity through ingest's contract, on the real system."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kith_cli.activity import SimulationTarget, demo_config, simulate
from kith_cli.client import IngestClient, RawTopicSender, Tally
from kith_cli.importing import import_file, read_lines
from kith_cli.main import app
from kith_devkit.testing import eventually
from tests.conftest import Stack
from tests.test_end_to_end import community, joined

JOINS = 1_100


def _write_history(path: Path) -> None:
    lines = [json.dumps(community("c-hist", "History Club", ["history"]))]
    lines += [json.dumps(joined(f"h-{i}", "c-hist", minutes_ago=100 + i)) for i in range(JOINS)]
    lines.insert(300, "{not json")
    lines.insert(700, json.dumps({"id": "x", "source": "s", "time": "2026-01-01T00:00:00Z", "data": {}}))
    path.write_text("\n".join(lines) + "\n")


class Interrupted(Exception):
    """Stands for a crash or Ctrl-C in the middle of an import."""


@pytest.mark.integration
async def test_import_resumes_after_an_interruption_without_duplicating(stack: Stack, tmp_path: Path) -> None:
    source = tmp_path / "history.jsonl"
    _write_history(source)
    rejected: list[tuple[int, str]] = []
    saved: list[int] = []

    def crash_before_saving_the_third_checkpoint(number: int) -> None:
        if len(saved) == 2:
            raise Interrupted
        saved.append(number)

    client = IngestClient(stack.url("ingest"), stack.key)
    try:
        with pytest.raises(Interrupted):
            await import_file(
                client,
                read_lines(source),
                tenant="acme",
                resume_after=0,
                reject=lambda n, r: rejected.append((n, r)),
                checkpoint=crash_before_saving_the_third_checkpoint,
                progress=lambda n, t: None,
            )
        second = await import_file(
            client,
            read_lines(source),
            tenant="acme",
            resume_after=saved[-1],
            reject=lambda n, r: rejected.append((n, r)),
            checkpoint=saved.append,
            progress=lambda n, t: None,
        )
    finally:
        await client.close()

    # The batch sent before the crash but not checkpointed comes back as duplicates, never twice.
    assert second.duplicate > 0
    assert {number for number, _ in rejected} == {301, 701}
    assert any("not valid JSON" in reason for _, reason in rejected)
    assert any("type" in reason for _, reason in rejected)

    async with stack.client("scoring") as scoring:

        async def counted() -> dict[str, Any] | None:
            answer = await scoring.get("/v1/communities/c-hist/metrics", params={"window": "30d"})
            body: dict[str, Any] = answer.json()
            return body if answer.status_code == 200 and body["members"] == JOINS else None

        await eventually(counted, 90, "every imported join counted exactly once")


@pytest.mark.integration
async def test_import_command_reports_rejections_and_skips_what_is_done(stack: Stack, tmp_path: Path) -> None:
    source = tmp_path / "history.jsonl"
    _write_history(source)
    runner = CliRunner()
    args = [
        "import",
        str(source),
        "--tenant",
        "acme",
        "--ingest-url",
        stack.url("ingest"),
        "--key",
        stack.key,
        "--root",
        str(tmp_path),
    ]
    first = await asyncio.to_thread(runner.invoke, app, args)
    assert first.exit_code == 1, first.output  # some lines were rejected
    assert f"accepted {JOINS + 1}" in first.output
    rejects = [json.loads(line) for line in (tmp_path / "history.jsonl.rejected.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rejects] == [301, 701]

    again = await asyncio.to_thread(runner.invoke, app, args)
    assert "accepted 0, duplicate 0" in again.output  # resumed past the end: nothing re-sent


@pytest.mark.unit
def test_csv_lines_become_events(tmp_path: Path) -> None:
    source = tmp_path / "events.csv"
    source.write_text(
        "id,source,type,time,data.community_id,data.member_id,data\n"
        "e1,app://csv,member.joined,2026-11-01T10:00:00Z,c-1,m-1,\n"
        'e2,app://csv,post.created,2026-11-01T11:00:00Z,,,"{""community_id"": ""c-1"", ""member_id"": ""m-1"", '
        '""post_id"": ""p-1"", ""text"": ""hello""}"\n'
    )
    lines = list(read_lines(source))
    assert [line.number for line in lines] == [2, 3]
    assert lines[0].event == {
        "id": "e1",
        "source": "app://csv",
        "type": "member.joined",
        "time": "2026-11-01T10:00:00Z",
        "data": {"community_id": "c-1", "member_id": "m-1"},
    }
    assert lines[1].event is not None
    assert lines[1].event["data"]["text"] == "hello"


@pytest.mark.integration
async def test_simulation_over_http_and_the_raw_topic_is_accepted(stack: Stack) -> None:
    http = IngestClient(stack.url("ingest"), stack.key)
    raw = RawTopicSender(stack.kafka)
    await raw.start()
    shown: list[Tally] = []
    try:
        config = dataclasses.replace(demo_config(), tenant="acme")
        total = await simulate(
            SimulationTarget(http, raw), config, rate=40, duration=3, progress=lambda t, r: shown.append(t)
        )
    finally:
        await http.close()
        await raw.stop()
    assert total.sent >= 40
    assert total.accepted > 0
    assert total.rejected == 0
    assert shown
