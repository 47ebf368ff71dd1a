"""Erasure sticks across the system: late events on other partitions, a rebuild of both services, every answer
and every stored document, with the three services as processes on the real broker and database."""

from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from pymongo import AsyncMongoClient

from kith_devkit.testing import eventually
from kith_recommend.documents import CHECKPOINT_CHUNKS
from kith_recommend.rebuild import rebuild as rebuild_recommend
from kith_recommend.settings import RecommendSettings
from kith_scoring.rebuild import rebuild as rebuild_scoring
from kith_scoring.settings import ScoringSettings
from kith_shared.events import SCHEMA_VERSION, Event, validate_event
from kith_shared.kafka import EventProducer
from kith_shared.settings import MongoSettings
from kith_shared.topics import ACTIVITY, ENGAGEMENT
from tests.conftest import Stack
from tests.test_end_to_end import community, event, joined, post_batch

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GONE = "m-gone-q7"
NOW = datetime.now(UTC).replace(microsecond=0)
#: Figures of a community an erasure must leave as they were.
FIGURES = ("members", "new_members", "active_members", "wau", "posts", "response_rate")

WORLD = [
    community("c-climb", "Climbing Crew", ["climbing"]),
    community("c-boulder", "Bouldering Berlin", ["climbing", "bouldering"]),
    community("c-chess", "Chess Club", ["chess"]),
    *[joined(f"m-{i}", "c-climb") for i in range(6)],
    *[joined(f"m-{i}", "c-boulder") for i in range(4)],
    joined(GONE, "c-climb"),
    joined(GONE, "c-chess"),
    event("post.created", {"community_id": "c-climb", "member_id": GONE, "post_id": "p-gone",
                           "text": "Crimps? #climbing"}, minutes_ago=120),
    event("member.followed", {"member_id": "m-1", "followed_member_id": GONE}, minutes_ago=110),
    event("comment.created", {"community_id": "c-climb", "member_id": "m-2", "comment_id": "k-1", "post_id": "p-gone",
                              "replied_to_member_id": GONE, "text": "Yes!"}, minutes_ago=100),
]  # fmt: skip


def normalized(event_type: str, data: dict[str, Any], minutes_ago: float) -> Event:
    """Return an event as ingest publishes it (accepted before the erasure, applied after it)."""
    at = NOW - timedelta(minutes=minutes_ago)
    body = {"id": f"late-{event_type}-{minutes_ago}", "source": "app://late", "type": event_type,
            "time": at.isoformat(), "tenant": "acme", "data": data,
            "receivedtime": at.isoformat(), "schemaversion": SCHEMA_VERSION}  # fmt: skip
    return validate_event(body)


LATE_ACTIVITY = [
    normalized("post.viewed", {"community_id": "c-climb", "member_id": GONE, "post_id": "p-gone"}, 90),
    normalized("member.joined", {"community_id": "c-boulder", "member_id": GONE}, 80),
    normalized("member.followed", {"member_id": GONE, "followed_member_id": "m-3"}, 70),
    normalized("member.interests.declared", {"member_id": GONE, "interests": ["chess"]}, 60),
    normalized("comment.created", {"community_id": "c-climb", "member_id": "m-4", "comment_id": "k-2",
                                   "post_id": "p-gone", "replied_to_member_id": GONE, "text": "Late reply"}, 50),
]  # fmt: skip
LATE_ENGAGEMENT = [
    normalized("engagement.changed", {"member_id": GONE, "community_id": "c-boulder", "score": 4.0, "level": 1,
                                      "as_of": NOW.isoformat()}, 40),
]  # fmt: skip


async def answers(stack: Stack) -> dict[str, str]:
    """Return the text of every answer a tenant's client can get about the tenant's members and communities."""
    found: dict[str, str] = {}
    async with stack.client("scoring") as scoring, stack.client("recommend") as recommend:
        for cid in ("c-climb", "c-boulder", "c-chess"):
            for route in ("metrics", "leaderboard", "trending", "slipping"):
                found[f"scoring {cid} {route}"] = (await scoring.get(f"/v1/communities/{cid}/{route}")).text
            found[f"recommend {cid} similar"] = (await recommend.get(f"/v1/communities/{cid}/similar")).text
        for route in ("/v1/overview", "/v1/communities", "/v1/cohorts"):
            found[f"scoring {route}"] = (await scoring.get(route)).text
        for member in ("m-1", "m-2", "m-3", "m-4", "m-5"):
            found[f"scoring {member}"] = (await scoring.get(f"/v1/members/{member}/engagement")).text
            found[f"recommend {member}"] = (
                await recommend.get(f"/v1/members/{member}/suggestions", params={"explain": "true"})
            ).text
        found["recommend model"] = (await recommend.get("/v1/model")).text
    return found


async def figures(scoring: httpx.AsyncClient, cid: str) -> dict[str, Any]:
    params = {"window": "7d", "as_of": (NOW + timedelta(seconds=1)).isoformat()}  # as of one instant: never cached
    body: dict[str, Any] = (await scoring.get(f"/v1/communities/{cid}/metrics", params=params)).json()
    return {name: body[name] for name in FIGURES}


async def model_members(recommend: httpx.AsyncClient) -> int:
    answer = await recommend.get("/v1/model")
    return int(answer.json()["members"]) if answer.status_code == 200 else -1


async def stored_mentions(mongo_uri: str, databases: list[str], needle: str) -> list[str]:
    """Return where ``needle`` appears in any stored document (checkpoint chunks decompressed) of ``databases``."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri)
    found: list[str] = []
    try:
        for name in databases:
            db = client[name]
            for collection in await db.list_collection_names():
                async for doc in db[collection].find({}):
                    text = json.dumps(doc, default=str)
                    if collection == CHECKPOINT_CHUNKS:
                        text += zlib.decompressobj().decompress(bytes(doc["data"])).decode("latin-1")
                    if needle in text:
                        found.append(f"{name}.{collection} {doc['_id']}")
    finally:
        await client.close()
    return found


async def test_an_erased_member_is_gone_from_every_answer_and_document_even_after_late_events_and_rebuilds(
    stack: Stack,
) -> None:
    async with stack.client("ingest") as ingest, stack.client("scoring") as scoring, stack.client("recommend") as rec:
        await post_batch(ingest, WORLD)

        async def seen() -> bool:
            mine = await scoring.get(f"/v1/members/{GONE}/engagement")
            counted = mine.status_code == 200 and mine.json()["counts"].get("post.created") == 1
            return counted and await model_members(rec) == 7

        await eventually(seen, 90, "the member counted by scoring and known to recommend")
        before = {cid: await figures(scoring, cid) for cid in ("c-climb", "c-chess")}

        await post_batch(ingest, [event("member.erased", {"member_id": GONE})])

        async def erased() -> bool:
            gone = (await scoring.get(f"/v1/members/{GONE}/engagement")).status_code == 404
            return gone and await model_members(rec) == 6

        await eventually(erased, 90, "the member erased by scoring and recommend")
        for cid, figures_before in before.items():
            assert await figures(scoring, cid) == figures_before, cid
        refused = await ingest.post("/v1/events", json=joined(GONE, "c-boulder"))
        assert refused.status_code == 422
        assert refused.json()["error"]["problems"][0]["field"] == "data.member_id"

        # Events of the member accepted before the erasure, applied after it, from other partitions.
        producer = EventProducer(stack.kafka)
        await producer.start()
        try:
            await producer.wait_connected(30)
            await producer.publish(ACTIVITY, LATE_ACTIVITY)
            await producer.publish(ENGAGEMENT, LATE_ENGAGEMENT)
        finally:
            await producer.stop()
        await post_batch(ingest, [joined("m-marker", "c-climb", minutes_ago=5)])

        async def marker_applied() -> bool:
            known = (await scoring.get("/v1/members/m-marker/engagement")).status_code == 200
            return known and await model_members(rec) == 7

        await eventually(marker_applied, 90, "the events after the late ones applied")
        # The late post view landed on the stand-in: c-climb's figures moved by the marker's join alone.
        after = await figures(scoring, "c-climb")
        assert after["members"] == before["c-climb"]["members"] + 1
        assert after["posts"] == before["c-climb"]["posts"]
        live_figures = {cid: await figures(scoring, cid) for cid in ("c-climb", "c-boulder", "c-chess")}

    given = await answers(stack)
    assert any("m-1" in text for text in given.values())  # the answers do name members
    assert {where: text for where, text in given.items() if GONE in text} == {}

    # Both services rebuilt from the topics (recommend stopped: the rebuild writes its checkpoint).
    envs = stack.envs
    uri = envs["scoring"]["SCORING_MONGO__URI"]
    databases = [envs[s][f"{s.upper()}_MONGO__DATABASE"] for s in ("ingest", "scoring", "recommend")]
    scratch = f"{databases[1]}_rebuilt"
    scoring_settings = ScoringSettings(
        kafka=stack.kafka, mongo=MongoSettings(uri=SecretStr(uri), database=databases[1])
    )
    report = await rebuild_scoring(scoring_settings, scratch_database=scratch)
    assert report.identical, report.differences[:3]
    stack.stop("recommend")
    recommend_settings = RecommendSettings(
        kafka=stack.kafka, mongo=MongoSettings(uri=SecretStr(uri), database=databases[2])
    )
    rebuilt = await rebuild_recommend(recommend_settings)
    assert rebuilt.records >= len(WORLD) + len(LATE_ACTIVITY) + len(LATE_ENGAGEMENT)
    stack.start("recommend")
    await stack.wait_ready("recommend")

    async with stack.client("scoring") as scoring, stack.client("recommend") as rec:

        async def loaded() -> bool:
            return await model_members(rec) == 7

        await eventually(loaded, 60, "the rebuilt model loaded")
        assert {cid: await figures(scoring, cid) for cid in live_figures} == live_figures
    assert {where: text for where, text in (await answers(stack)).items() if GONE in text} == {}
    assert await stored_mentions(uri, [databases[2]], "m-marker")  # the search reads checkpoints too
    assert await stored_mentions(uri, [*databases, scratch], GONE) == []
