"""Tenant-wide figures over time on the real database: overview, community list, a community's series, cohorts."""

from __future__ import annotations

from typing import Any

import pytest

from kith_devkit.testing import publish
from kith_scoring.settings import ScoringSettings
from kith_shared.auth import Scope
from kith_shared.events import Event
from kith_shared.topics import ACTIVITY
from services.scoring.tests.helpers import at, event, normalize, wait_for

pytestmark = pytest.mark.integration

#: The period shown (Monday 12 to Sunday 18 October 2026) and the one before it (5 to 11 October).
PERIOD = {"from": "2026-10-12", "to": "2026-10-18"}
REPLY = {"post_id": "p1", "replied_to_member_id": "m1", "text": "nice"}


def world() -> list[Event]:
    """Two communities of acme over two weeks, a staff member, and one community of another tenant."""

    def post(day: float, member: str, community: str, post_id: str, text: str) -> Event:
        return normalize(
            event("post.created", at(day), community_id=community, member_id=member, post_id=post_id, text=text)
        )

    return [
        event("community.created", at(0), community_id="c1", name="Climbers <b>", topics=["climbing"]),
        event("community.created", at(0), community_id="c2", name="Readers", topics=["books"]),
        event("member.joined", at(0, 9), community_id="c1", member_id="m1"),
        post(0, "m1", "c1", "p1", "first climb #boulder"),
        event("member.joined", at(1), community_id="c1", member_id="m2"),
        event("comment.created", at(1, 2), community_id="c1", member_id="m2", comment_id="k1", **REPLY),
        event("member.joined", at(2), community_id="c2", member_id="m3"),
        post(2, "m3", "c2", "p2", "a novel"),
        event("member.role.set", at(0), member_id="s1", community_id="c1", role="staff"),
        event("member.joined", at(0, 1), community_id="c1", member_id="s1"),
        post(8, "s1", "c1", "p3", "house rules"),
        post(8, "m1", "c1", "p4", "again #boulder"),
        event("member.left", at(9), community_id="c1", member_id="m2"),
        event("member.joined", at(10), community_id="c1", member_id="m4"),
        event("member.joined", at(0), tenant="other", community_id="c1", member_id="z1"),
    ]


async def test_overview_lists_series_and_cohorts_count_what_happened(
    scoring_settings: ScoringSettings, start_app: Any
) -> None:
    events = world()
    async with start_app(scoring_settings) as running:
        await publish(scoring_settings.kafka, events)
        await running.wait_applied(len(events))
        acme = await running.key("acme", Scope.METRICS_READ)
        other = await running.key("other", Scope.METRICS_READ)
        client = running.client

        reply = await client.get("/v1/overview", params=PERIOD, headers=acme)
        assert reply.status_code == 200, reply.text
        overview = reply.json()
        totals, before = overview["totals"], overview["previous_totals"]
        assert (totals["members"], totals["new_members"], totals["members_left"], totals["active"]) == (3, 1, 1, 2)
        assert (before["members"], before["new_members"], before["active"]) == (3, 3, 3)
        # The staff member's post is left out of posts, and counts against the members' share of content.
        assert (totals["posts"], totals["response_rate"], totals["user_generated_share"]) == (1, 0.0, 0.5)
        assert (before["posts"], before["response_rate"]) == (2, 0.5)
        assert before["median_first_response_seconds"] == 86_400 + 2 * 3_600
        assert [b["start"] for b in overview["series"]] == [f"2026-10-{d}" for d in range(12, 19)]
        assert [b["start"] for b in overview["previous_series"]] == [f"2026-10-{d:02d}" for d in range(5, 12)]
        assert [b["active"] for b in overview["series"]] == [0, 1, 0, 1, 0, 0, 0]
        assert overview["communities"] == 2
        assert {t["name"]: t["count"] for t in overview["trending"] if t["kind"] == "hashtag"} == {"boulder": 1}
        bands = {band["band"]: band["communities"] for band in overview["health_distribution"]}
        assert sum(bands.values()) == 2

        weekly = (await client.get("/v1/overview", params={**PERIOD, "interval": "week"}, headers=acme)).json()
        assert len(weekly["series"]) == 1
        assert weekly["series"][0]["active"] == 2

        theirs = (await client.get("/v1/overview", params=PERIOD, headers=other)).json()
        assert (theirs["communities"], theirs["previous_totals"]["members"]) == (1, 1)

        listed = (await client.get("/v1/communities", params=PERIOD, headers=acme)).json()
        assert [row["community_id"] for row in listed["items"]] == ["c1", "c2"]
        c1, c2 = listed["items"]
        assert c1["name"] == "Climbers <b>"
        assert (c1["members"], c1["active"], c1["active_previous"], c1["growth"]) == (2, 2, 2, 0.0)
        assert (c2["members"], c2["active"], c2["active_previous"], c2["growth"]) == (1, 0, 1, -1.0)
        assert c1["trend"] == [0, 1, 0, 1, 0, 0, 0]
        assert c1["health"] is not None
        assert c1["top_topics"][0] == "boulder"

        async def ids(**params: Any) -> list[str]:
            page = (await client.get("/v1/communities", params={**PERIOD, **params}, headers=acme)).json()
            return [row["community_id"] for row in page["items"]]

        assert await ids(topic="books") == ["c2"]
        assert await ids(topic="#boulder") == ["c1"]
        assert await ids(min_size=2) == ["c1"]
        assert await ids(q="read") == ["c2"]
        assert await ids(sort="name", order="asc") == ["c1", "c2"]
        assert await ids(sort="growth", order="asc") == ["c2", "c1"]
        first = (await client.get("/v1/communities", params={**PERIOD, "limit": 1}, headers=acme)).json()
        assert (first["total"], first["next_cursor"]) == (2, "1")
        assert await ids(limit=1, cursor=first["next_cursor"]) == ["c2"]

        weeks = {"from": "2026-10-05", "to": "2026-10-18", "interval": "week"}
        community = (await client.get("/v1/communities/c1/series", params=weeks, headers=acme)).json()
        assert [(b["start"], b["members"], b["new_members"]) for b in community["series"]] == [
            ("2026-10-05", 2, 2),
            ("2026-10-12", 2, 1),
        ]
        assert community["name"] == "Climbers <b>"
        assert community["series"][1]["health"] is not None

        reply = await client.get("/v1/cohorts", params={**weeks, "weeks": 3}, headers=acme)
        cohorts = reply.json()["cohorts"]
        assert [(c["week"], c["size"]) for c in cohorts] == [("2026-10-05", 3), ("2026-10-12", 1)]
        assert cohorts[0]["retention"] == [1.0, pytest.approx(1 / 3, abs=1e-6), 0.0]
        assert cohorts[1]["retention"] == [1.0, 0.0, 0.0]

        admin = await running.key("acme", Scope.ADMIN)
        lag = (await client.get("/v1/operations/lag", headers=admin)).json()
        assert lag["consumer_group"] == scoring_settings.kafka.group("scoring")
        assert scoring_settings.kafka.topic(ACTIVITY) in {p["topic"] for p in lag["partitions"]}
        assert lag["total"] == 0
        assert (await client.get("/v1/operations/lag", headers=acme)).status_code == 403


async def test_insight_routes_refuse_bad_periods_unknown_communities_and_missing_scopes(
    scoring_settings: ScoringSettings, start_app: Any
) -> None:
    async with start_app(scoring_settings) as running:
        reader = await running.key("acme", Scope.METRICS_READ)
        writer = await running.key("acme", Scope.EVENTS_WRITE)
        client = running.client
        assert (await client.get("/v1/overview")).status_code == 401
        assert (await client.get("/v1/overview", headers=writer)).status_code == 403
        backwards = await client.get("/v1/overview", params={"from": "2026-10-18", "to": "2026-10-01"}, headers=reader)
        assert backwards.status_code == 422
        assert "ends" in backwards.json()["error"]["message"]
        two_years = {"from": "2024-01-01", "to": "2026-01-01"}
        too_long = await client.get("/v1/communities", params=two_years, headers=reader)
        assert too_long.status_code == 422
        bad_sort = await client.get("/v1/communities", params={"sort": "shoe size"}, headers=reader)
        assert bad_sort.status_code == 422
        unknown = await client.get("/v1/communities/nope/series", headers=reader)
        assert unknown.status_code == 404
        assert unknown.json()["error"]["message"] == "no community 'nope' is known in tenant 'acme'"

        async def empty_overview() -> bool:
            reply = await client.get("/v1/overview", headers=reader)
            return reply.status_code == 200 and bool(reply.json()["communities"] == 0)

        await wait_for(empty_overview, 30)
        paths = (await client.get("/openapi.json")).json()["paths"]
        assert {"/v1/overview", "/v1/communities", "/v1/communities/{community_id}/series", "/v1/cohorts"} <= set(paths)
