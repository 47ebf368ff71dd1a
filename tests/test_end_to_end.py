"""The whole journey on the real broker and database: ingest -> scoring and recommend, over HTTP and Kafka."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cloudevents.core.bindings.kafka import to_binary_event
from cloudevents.core.v1.event import CloudEvent
from confluent_kafka import Producer

from kith_devkit.testing import eventually
from kith_shared.topics import RAW
from tests.conftest import Stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

_ids = itertools.count()
NOW = datetime.now(UTC).replace(microsecond=0)


def event(event_type: str, data: dict[str, Any], *, minutes_ago: float = 0) -> dict[str, Any]:
    """Return an event as a client app sends it."""
    return {
        "id": f"e2e-{next(_ids)}",
        "source": "app://e2e",
        "type": event_type,
        "time": (NOW - timedelta(minutes=minutes_ago)).isoformat(),
        "tenant": "acme",
        "data": data,
    }


def community(cid: str, name: str, topics: list[str]) -> dict[str, Any]:
    """Return a community.created event."""
    return event("community.created", {"community_id": cid, "name": name, "topics": topics}, minutes_ago=600)


def joined(member: str, cid: str, minutes_ago: float = 300) -> dict[str, Any]:
    """Return a member.joined event."""
    return event("member.joined", {"community_id": cid, "member_id": member}, minutes_ago=minutes_ago)


async def post_batch(ingest: httpx.AsyncClient, events: list[dict[str, Any]]) -> dict[str, Any]:
    """Send a batch and check every event was accepted."""
    answer = await ingest.post("/v1/events:batch", json=events)
    assert answer.status_code == 202, answer.text
    body: dict[str, Any] = answer.json()
    assert body["accepted"] == len(events), body
    return body


async def suggested(recommend: httpx.AsyncClient, member: str, limit: int = 10) -> list[str]:
    """Return the ids of a member's suggested communities."""
    answer = await recommend.get(f"/v1/members/{member}/suggestions", params={"limit": limit, "explain": "true"})
    assert answer.status_code == 200, answer.text
    return [item["community_id"] for item in answer.json()["suggestions"]]


async def engagement(scoring: httpx.AsyncClient, member: str) -> dict[str, Any] | None:
    """Return a member's engagement across communities, or None while scoring has not seen them."""
    answer = await scoring.get(f"/v1/members/{member}/engagement")
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def communities_of(summary: dict[str, Any]) -> set[str]:
    """Return the communities a member's engagement covers."""
    return {c["community_id"] for c in summary["communities"]}


WORLD = [
    community("c-climb", "Climbing Crew", ["climbing"]),
    community("c-boulder", "Bouldering Berlin", ["climbing", "bouldering"]),
    community("c-chess", "Chess Club", ["chess"]),
    community("c-bread", "Sourdough Circle", ["sourdough", "baking"]),
    *[joined(f"m-{i}", "c-climb") for i in range(6)],
    *[joined(f"m-{i}", "c-boulder") for i in range(5)],
    *[joined(f"m-{i}", "c-chess") for i in range(10, 14)],
    *[joined(f"m-{i}", "c-bread") for i in range(20, 23)],
    joined("m-new", "c-climb"),
]


async def test_http_and_third_party_kafka_events_reach_scoring_and_recommend(stack: Stack) -> None:
    async with stack.clients() as (ingest, scoring, recommend):
        await post_batch(ingest, WORLD)
        # Co-membership: people in Climbing Crew also joined Bouldering Berlin.
        await eventually(lambda: _contains(recommend, "m-new", "c-boulder"), 60, "c-boulder suggested to m-new")

        # A post at ingest over HTTP shows up in scoring's metrics.
        post = event(
            "post.created",
            {
                "community_id": "c-climb",
                "member_id": "m-new",
                "post_id": "p-1",
                "text": "<b>Crimps</b> today? #climbing",
            },
        )
        assert (await ingest.post("/v1/events", json=post)).status_code == 202

        async def post_counted() -> dict[str, Any] | None:
            summary = await engagement(scoring, "m-new")
            return summary if summary and summary["counts"].get("post.created") == 1 else None

        await eventually(post_counted, 60, "m-new's post counted by scoring")

        # A join published by a third-party producer on the raw topic, in CloudEvents binary mode.
        sdk_event = CloudEvent(
            attributes={"type": "member.joined", "source": "app://partner", "id": "partner-1",
                        "time": NOW, "tenant": "acme", "datacontenttype": "application/json"},
            data={"community_id": "c-boulder", "member_id": "m-new"},
        )  # fmt: skip
        message = to_binary_event(sdk_event)
        producer = Producer({"bootstrap.servers": stack.kafka.bootstrap_servers, "acks": "all"})
        producer.produce(stack.kafka.topic(RAW), value=message.value, key=b"acme:c-boulder",
                         headers=list(message.headers.items()))  # fmt: skip
        assert producer.flush(10) == 0

        async def joined_in_scoring() -> bool:
            summary = await engagement(scoring, "m-new")
            return summary is not None and "c-boulder" in communities_of(summary)

        await eventually(joined_in_scoring, 60, "scoring sees m-new in c-boulder")
        await eventually(lambda: _absent(recommend, "m-new", "c-boulder"), 60, "c-boulder no longer suggested to m-new")


async def _contains(recommend: httpx.AsyncClient, member: str, community_id: str) -> bool:
    return community_id in await suggested(recommend, member)


async def _absent(recommend: httpx.AsyncClient, member: str, community_id: str) -> bool:
    return community_id not in await suggested(recommend, member)


async def test_new_member_journey(stack: Stack) -> None:
    async with stack.clients() as (ingest, scoring, recommend):
        await post_batch(ingest, WORLD)
        await eventually(lambda: _ready(recommend), 60, "model built")

        # Declares interests: suggestions come from them alone.
        answer = await recommend.put("/v1/members/m-eve/interests", json={"interests": ["chess"]})
        assert answer.status_code == 202, answer.text
        await eventually(lambda: _first(recommend, "m-eve", "c-chess"), 60, "c-chess first for m-eve")
        before = await suggested(recommend, "m-eve")

        # Joins the suggested community and posts there.
        await post_batch(
            ingest,
            [
                joined("m-eve", "c-chess", minutes_ago=1),
                event(
                    "post.created",
                    {
                        "community_id": "c-chess",
                        "member_id": "m-eve",
                        "post_id": "p-eve",
                        "text": "Anyone up for a #blitz game tonight?",
                    },
                ),
            ],
        )

        async def engaged() -> dict[str, Any] | None:
            summary = await engagement(scoring, "m-eve")
            return summary if summary and "c-chess" in communities_of(summary) and summary["total_score"] > 0 else None

        summary = await eventually(engaged, 60, "m-eve's engagement in c-chess")
        assert summary["counts"].get("post.created") == 1

        after = await eventually(
            lambda: _changed(recommend, "m-eve", before), 60, "m-eve's suggestions change after joining"
        )
        assert "c-chess" not in after


async def _ready(recommend: httpx.AsyncClient) -> bool:
    answer = await recommend.get("/v1/model")
    return answer.status_code == 200 and answer.json()["communities"] >= 4


async def _first(recommend: httpx.AsyncClient, member: str, community_id: str) -> bool:
    found = await suggested(recommend, member)
    return bool(found) and found[0] == community_id


async def _changed(recommend: httpx.AsyncClient, member: str, before: list[str]) -> list[str] | None:
    now = await suggested(recommend, member)
    return now if now != before else None


@pytest.mark.parametrize("service", ["ingest", "scoring", "recommend"])
async def test_restarting_a_service_mid_stream_loses_nothing(stack: Stack, service: str) -> None:
    members = [f"r-{i}" for i in range(300)]
    joins = [joined(member, "c-big", minutes_ago=30) for member in members]
    async with stack.client("ingest") as ingest:
        await post_batch(ingest, [community("c-big", "Big Room", ["running"]), *joins[:100]])
        stack.stop(service)
        if service != "ingest":
            await post_batch(ingest, joins[100:200])
        stack.start(service)
        await stack.wait_ready(service)
        if service == "ingest":
            await post_batch(ingest, joins[100:200])
        await post_batch(ingest, joins[200:])

    async with stack.client("scoring") as scoring, stack.client("recommend") as recommend:

        async def all_counted() -> dict[str, Any] | None:
            answer = await scoring.get("/v1/communities/c-big/metrics", params={"window": "7d"})
            if answer.status_code != 200:
                return None
            body: dict[str, Any] = answer.json()
            return body if body["members"] == len(members) else None

        metrics = await eventually(all_counted, 90, "scoring counts every join exactly once")
        assert metrics["new_members"] == len(members)

        async def all_known() -> bool:
            answer = await recommend.get("/v1/model")
            return answer.status_code == 200 and answer.json()["members"] >= len(members)

        await eventually(all_known, 90, "recommend's model holds every member")
        # A member never gets the community they are in suggested back.
        assert "c-big" not in await suggested(recommend, members[-1])
