"""Micro-communities through the API, on the real broker and database: groups, details, actions, the loop closing."""

from __future__ import annotations

from typing import Any

import pytest

from kith_devkit.events import community, event, join
from kith_devkit.testing import eventually

from .conftest import Running
from .microcommunities_world import BAKERS, CLIMBERS, by_members, detect_until, groups, world

pytestmark = pytest.mark.integration


async def test_events_in_groups_out_with_statuses_pages_and_details(service: Running) -> None:
    await service.publish(world())
    body = await detect_until(service, lambda b: len(b["items"]) == 2, "the bakers and the climbers found")
    found = by_members(body)
    assert set(found) == {frozenset(BAKERS), frozenset(CLIMBERS)}  # the bot and the staff member left out
    bakers, climbers = found[frozenset(BAKERS)], found[frozenset(CLIMBERS)]
    assert bakers["status"] == "emerging"
    assert [t["tag"] for t in bakers["topics"]][:2] in (["sourdough", "rye"], ["rye", "sourdough"])
    assert bakers["cohesion"]["density"] == 1.0
    assert bakers["growth"] == {"gained": 6, "lost": 0, "window": "7d", "window_days": 7}
    assert len(bakers["central_members"]) == 5
    assert climbers["status"] == "inside"
    assert climbers["overlaps"][0] == {
        "id": "c-club", "community_id": "c-club", "name": "Climbing Club", "jaccard": 0.1, "share": 1.0
    }  # fmt: skip
    assert set(bakers) == {
        "id", "size", "status", "overlaps", "topics", "cohesion", "first_seen", "growth", "central_members",
        "member_ids",
    }  # fmt: skip

    # Filters, sort and pages.
    assert [i["id"] for i in (await groups(service, status="inside"))["items"]] == [climbers["id"]]
    assert [i["id"] for i in (await groups(service, community_id="c-club"))["items"]] == [climbers["id"]]
    assert (await groups(service, community_id="c-nowhere"))["items"] == []
    first = await groups(service, limit=1, sort="cohesion")
    assert "member_ids" not in first["items"][0]
    second = await groups(service, limit=1, sort="cohesion", cursor=first["next_cursor"])
    assert {first["items"][0]["id"], second["items"][0]["id"]} == {bakers["id"], climbers["id"]}
    assert second["next_cursor"] is None
    client = service.client_for()
    bad = await client.get("/v1/micro-communities", params={"cursor": first["next_cursor"], "sort": "size"})
    assert bad.status_code == 422
    assert bad.json()["error"]["problems"][0]["field"] == "query.cursor"
    assert (await client.get("/v1/micro-communities", params={"include": "everything"})).status_code == 422
    assert (await client.get("/v1/micro-communities", params={"status": "famous"})).status_code == 422

    # One group, with its history and its ties for drawing.
    detail = (await client.get(f"/v1/micro-communities/{bakers['id']}", params={"include": "edges"})).json()
    assert detail["history"] == [{"at": bakers["first_seen"], "size": 6, "status": "emerging"}]
    assert "member_ids" not in detail
    assert len(detail["edges"]) == 15  # every pair of six
    assert {e["a"] for e in detail["edges"]} | {e["b"] for e in detail["edges"]} == set(BAKERS)
    assert all(e["weight"] > 0 for e in detail["edges"])
    missing = await client.get("/v1/micro-communities/mc-0000000000000000")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "microcommunity_not_found"

    # Another tenant sees none of it; a tenant with no interactions gets an empty list; scopes apply.
    assert await groups(service, "other") == {"items": [], "next_cursor": None}
    assert (await service.client_for("other").get(f"/v1/micro-communities/{bakers['id']}")).status_code == 404
    assert (await service.client_for("reader").get("/v1/micro-communities")).status_code == 403
    assert (await service.client.get("/v1/micro-communities")).status_code == 401


async def test_actions_and_the_loop_closing_with_seeded_from(service: Running) -> None:
    await service.publish(world())
    body = await detect_until(service, lambda b: len(b["items"]) == 2, "two groups")
    bakers = by_members(body)[frozenset(BAKERS)]
    climbers = by_members(body)[frozenset(CLIMBERS)]
    client = service.client_for()

    actions = (await client.get(f"/v1/micro-communities/{bakers['id']}/actions")).json()
    create = next(a for a in actions if a["kind"] == "create_community")
    assert create["proposed_name"] in ("Sourdough & Rye", "Rye & Sourdough")
    assert create["title"].startswith("Create a community for this group")
    assert create["members"] == bakers["central_members"]
    assert "6 members who interact with one another" in create["reason"]
    assert set(create) == {"kind", "title", "reason", "members", "proposed_name"}
    inside = (await client.get(f"/v1/micro-communities/{climbers['id']}/actions")).json()
    subspace = next(a for a in inside if a["kind"] == "invite_to_subspace")
    assert subspace["community_id"] == "c-club"
    assert "Climbing Club" in subspace["reason"]
    assert (await client.get("/v1/micro-communities/mc-nope/actions")).status_code == 404

    # A climber slips away (scoring's engagement change): the group's actions say to re-engage them.
    slipping = {"member_id": "climber5", "community_id": "c-club", "score": 0.2, "level": 0, "state": "slipping",
                "as_of": "2026-11-01T00:00:00Z"}  # fmt: skip
    await service.publish([event("engagement.changed", slipping)])

    async def re_engage() -> dict[str, Any] | None:
        found = (await client.get(f"/v1/micro-communities/{climbers['id']}/actions")).json()
        return next((a for a in found if a["kind"] == "re_engage"), None)

    action = await eventually(re_engage, 30, "a re-engage action")
    assert action["members"] == ["climber5"]

    # A community is created for the bakers: it comes first in their suggestions, with the reason.
    created = community("c-bread", "Sourdough & Rye", ["sourdough"], owner="baker0")
    created = created.model_copy(update={"data": created.data.model_copy(update={"seeded_from": bakers["id"]})})
    await service.publish([created, join("baker0", "c-bread"), join("baker1", "c-bread")])

    async def first_suggestion() -> dict[str, Any] | None:
        answer = await client.get("/v1/members/baker2/suggestions", params={"limit": 3})
        suggested = answer.json()["suggestions"]
        return suggested[0] if suggested and suggested[0]["community_id"] == "c-bread" else None

    top = await eventually(first_suggestion, 30, "c-bread first for baker2")
    assert top["reasons"][0] == {"kind": "seeded", "text": "you talk with 2 of its first members"}
    joined = (await client.get("/v1/members/baker0/suggestions")).json()["suggestions"]
    assert "c-bread" not in [s["community_id"] for s in joined]  # already in it
    climber = (await client.get("/v1/members/climber0/suggestions")).json()["suggestions"]
    assert not climber or climber[0]["community_id"] != "c-bread"

    invite = next(a for a in (await client.get(f"/v1/micro-communities/{bakers['id']}/actions")).json())
    assert invite["kind"] == "invite_to_community"
    assert invite["community_id"] == "c-bread"
    assert sorted(invite["members"]) == BAKERS[2:]

    # They all join: the group now matches its community.
    await service.publish([join(m, "c-bread") for m in BAKERS[2:]])
    body = await detect_until(
        service, lambda b: by_members(b).get(frozenset(BAKERS), {}).get("status") == "matches", "the bakers match"
    )
    matched = by_members(body)[frozenset(BAKERS)]
    assert matched["id"] == bakers["id"]
    assert matched["overlaps"][0]["id"] == "c-bread"
