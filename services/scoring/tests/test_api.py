"""The HTTP API: 404s, auth, tenant isolation, settings with history, erasure, engagement events."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kith_devkit.testing import publish
from kith_scoring.settings import ScoringSettings
from kith_shared.auth import Scope
from kith_shared.erasure import PLACEHOLDER_ERASURE_SECRET, tombstone
from kith_shared.mongo import make_mongo_client
from services.scoring.tests.helpers import at, caught_up, engagement_events, event, wait_for

pytestmark = pytest.mark.integration

AS_OF = at(2).isoformat()


def activity(tenant: str, member: str, community: str = "c1") -> list[Any]:
    """A join and a post of one member."""
    return [
        event("member.joined", at(0, 9), tenant=tenant, community_id=community, member_id=member),
        event(
            "post.created",
            at(0, 10),
            tenant=tenant,
            community_id=community,
            member_id=member,
            post_id=f"p-{member}",
            text="hello",
        ),
    ]


async def test_api_answers_404_401_403_422_and_keeps_tenants_apart(
    scoring_settings: ScoringSettings, start_app: Any
) -> None:
    events = activity("acme", "m1") + activity("acme", "m2") + activity("other", "z9")
    async with start_app(scoring_settings) as running:
        await publish(scoring_settings.kafka, events)
        await wait_for(lambda: caught_up(scoring_settings))
        acme = await running.key("acme", Scope.METRICS_READ)
        other = await running.key("other", Scope.METRICS_READ)
        client = running.client

        assert (await client.get("/v1/communities/c1/metrics")).status_code == 401
        missing = await client.get("/v1/communities/nope/metrics", headers=acme)
        assert missing.status_code == 404
        assert missing.json()["error"]["message"] == "no community 'nope' is known in tenant 'acme'"
        for path in ("leaderboard", "trending", "slipping"):
            assert (await client.get(f"/v1/communities/nope/{path}", headers=acme)).status_code == 404
        assert (await client.get("/v1/members/ghost/engagement", headers=acme)).status_code == 404
        reply = await client.get("/v1/members/ghost/communities/c1/engagement", headers=acme)
        assert reply.status_code == 404
        assert "no member 'ghost' is known in community 'c1'" in reply.json()["error"]["message"]
        reply = await client.get("/v1/communities/c1/metrics", params={"window": "7 weeks"}, headers=acme)
        assert reply.status_code == 422
        assert reply.json()["error"]["problems"][0]["field"] == "window"
        assert (await client.get("/v1/settings/scoring", headers=acme)).status_code == 403

        # The same community id in two tenants: each key sees only its own tenant's members.
        mine = (await client.get("/v1/communities/c1/leaderboard", params={"as_of": AS_OF}, headers=acme)).json()
        theirs = (await client.get("/v1/communities/c1/leaderboard", params={"as_of": AS_OF}, headers=other)).json()
        assert [e["member_id"] for e in mine["entries"]] == ["m1", "m2"]
        assert [e["member_id"] for e in theirs["entries"]] == ["z9"]
        assert (await client.get("/v1/members/m1/engagement", headers=other)).status_code == 404
        assert (await client.get("/v1/members/z9/communities/c1/engagement", headers=acme)).status_code == 404


async def test_settings_apply_from_then_on_and_are_recorded(scoring_settings: ScoringSettings, start_app: Any) -> None:
    async with start_app(scoring_settings) as running:
        admin = await running.key("acme", Scope.ADMIN)
        client = running.client
        current = (await client.get("/v1/settings/scoring", headers=admin)).json()
        assert current["current"]["config"]["weights"]["post.created"] == 5.0
        assert len(current["history"]) == 1

        before = datetime.now(UTC) - timedelta(minutes=5)
        weights = {**current["current"]["config"]["weights"], "post.created": 10.0}
        body = {**current["current"]["config"], "weights": weights, "half_life_days": 14}
        reply = await client.put("/v1/settings/scoring", json=body, headers=admin)
        assert reply.status_code == 200, reply.text
        history = reply.json()["history"]
        assert [v["version"] for v in history] == [0, 1]
        assert history[1]["config"]["weights"]["post.created"] == 10.0
        assert history[1]["changed_by"]

        bad = await client.put("/v1/settings/scoring", json={**body, "level_thresholds": [3, 2]}, headers=admin)
        assert bad.status_code == 422

        now = datetime.now(UTC) + timedelta(seconds=5)
        old = event("post.created", before, community_id="c1", member_id="m1", post_id="p-old", text="x")
        new = event("post.created", now, community_id="c1", member_id="m1", post_id="p-new", text="y")
        await publish(scoring_settings.kafka, [old, new])
        await running.wait_applied(2)
        reply = await client.get(
            "/v1/members/m1/communities/c1/engagement", params={"as_of": now.isoformat()}, headers=admin
        )
        explanation = reply.json()["explanation"]
        assert explanation["half_life_days"] == 14
        # Received before the change: weight 5, 7-day half-life; after: weight 10.
        old_part = 5 * 2 ** (-(now - before).total_seconds() / (7 * 86_400))
        assert explanation["parts"]["post.created"] == pytest.approx(old_part + 10, abs=1e-5)
        assert {e["weight"] for e in explanation["recent_events"]} == {5.0, 10.0}


async def test_erasure_removes_the_member_and_keeps_community_figures(
    scoring_settings: ScoringSettings, start_app: Any
) -> None:
    events = activity("acme", "m1") + activity("acme", "m2")
    async with start_app(scoring_settings) as running:
        key = await running.key("acme", Scope.METRICS_READ)
        client = running.client
        await publish(scoring_settings.kafka, events)
        await running.wait_applied(len(events))
        params = {"as_of": AS_OF, "window": "7d"}
        before = (await client.get("/v1/communities/c1/metrics", params=params, headers=key)).json()

        await publish(scoring_settings.kafka, [event("member.erased", at(1), member_id="m2")])
        await running.wait_applied(len(events) + 1)
        assert (await client.get("/v1/members/m2/engagement", headers=key)).status_code == 404
        after = (await client.get("/v1/communities/c1/metrics", params=params, headers=key)).json()
        for figure in ("members", "new_members", "active_members", "wau", "posts", "response_rate"):
            assert after[figure] == before[figure], figure
        assert [c["member_id"] for c in after["top_contributors"]] == ["m1"]
        board = (await client.get("/v1/communities/c1/leaderboard", params=params, headers=key)).json()
        assert [e["member_id"] for e in board["entries"]] == ["m1"]

        # A late event of the erased member lands on the stand-in, never under the member's id again.
        late = event("post.viewed", at(0, 12), community_id="c1", member_id="m2", post_id="p-m1")
        await publish(scoring_settings.kafka, [late])
        await running.wait_applied(len(events) + 2)
        assert (await client.get("/v1/members/m2/engagement", headers=key)).status_code == 404

        # The tombstone is a keyed hash: no stored document names the erased member.
        mongo = make_mongo_client(scoring_settings.mongo, app_name="scoring-test")
        try:
            db = mongo[scoring_settings.mongo.database]
            for name in await db.list_collection_names():
                async for doc in db[name].find({}):
                    assert '"m2"' not in json.dumps(doc, default=str), (name, doc)
            tombstones = [doc async for doc in db["erased_members"].find({})]
            assert [doc["_id"] for doc in tombstones] == [tombstone(PLACEHOLDER_ERASURE_SECRET, "acme", "m2")]
        finally:
            await mongo.close()

        # Reinstated, the member id counts again from then on (what was erased stays erased).
        await publish(scoring_settings.kafka, [event("member.reinstated", at(2), member_id="m2")])
        await running.wait_applied(len(events) + 3)
        again = event("post.created", at(2, 1), community_id="c1", member_id="m2", post_id="p-new", text="back")
        await publish(scoring_settings.kafka, [again])
        await running.wait_applied(len(events) + 4)
        mine = await client.get("/v1/members/m2/engagement", headers=key)
        assert mine.status_code == 200
        assert [c["community_id"] for c in mine.json()["communities"]] == ["c1"]

    published = await engagement_events(scoring_settings)
    states = {(e.data.member_id, e.data.state) for e in published}
    assert ("m1", "active") in states
    assert ("m2", "erased") in states
    assert all(e.tenant == "acme" for e in published)


async def test_tombstones_stored_under_the_raw_id_are_re_keyed_at_start_and_still_hold(
    scoring_settings: ScoringSettings, start_app: Any
) -> None:
    mongo = make_mongo_client(scoring_settings.mongo, app_name="scoring-test")
    db = mongo[scoring_settings.mongo.database]
    try:
        legacy = {"_id": "acme:m9", "tenant": "acme", "member_id": "m9", "token": "anon-00000000000000a9", "at": at(0)}
        await db["erased_members"].insert_one(legacy)
        async with start_app(scoring_settings) as running:
            key = await running.key("acme", Scope.METRICS_READ)

            async def re_keyed() -> bool:
                return [d["_id"] async for d in db["erased_members"].find({})] == [
                    tombstone(PLACEHOLDER_ERASURE_SECRET, "acme", "m9")
                ]

            await wait_for(re_keyed, within=30)
            await publish(scoring_settings.kafka, activity("acme", "m9"))
            await running.wait_applied(len(activity("acme", "m9")))
            assert (await running.client.get("/v1/members/m9/engagement", headers=key)).status_code == 404
        stored = [json.dumps(d, default=str) async for d in db["member_communities"].find({})]
        assert stored
        assert not [d for d in stored if '"m9"' in d]
    finally:
        await mongo.close()
