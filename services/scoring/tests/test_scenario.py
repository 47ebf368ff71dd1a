"""A hand-computed scenario through the real broker, database and HTTP API."""

from __future__ import annotations

from typing import Any

import pytest

from kith_devkit.testing import publish
from kith_scoring.settings import ScoringSettings
from kith_shared.auth import Scope
from kith_shared.events import Event
from kith_shared.events.data import TextFeatures
from services.scoring.tests.helpers import at, event, reply_to

pytestmark = pytest.mark.integration

H = 7 * 24.0  # default half-life in hours


def decay(hours: float) -> float:
    """Return 2^(-hours / half-life)."""
    return float(2.0 ** (-hours / H))


def scenario() -> list[Event]:
    """Two members and a bot in one community over two days."""
    climbing = TextFeatures(hashtags=["climbing"], keywords=["boulder"])
    return [
        event("community.created", at(0, 8), community_id="c1", name="Climbers", topics=["climbing"]),
        event("member.role.set", at(0, 8), member_id="bot", role="bot"),
        event("member.joined", at(0, 10), community_id="c1", member_id="m1"),
        event("member.joined", at(0, 10), community_id="c1", member_id="m2"),
        event("member.joined", at(0, 10), community_id="c1", member_id="bot"),
        event(
            "post.created",
            at(0, 12),
            community_id="c1",
            member_id="m1",
            post_id="p1",
            text="Sunday? #climbing",
            text_features=climbing,
        ),
        event("comment.created", at(0, 12.5), **reply_to("m2", "m1", text="yes")),
        event("post.created", at(0, 13), community_id="c1", member_id="bot", post_id="p2", text="digest"),
        event("reaction.added", at(0, 13), community_id="c1", member_id="m2", target_id="p1", target_member_id="m1"),
        event("post.created", at(1, 9), community_id="c1", member_id="m1", post_id="p3", text="anyone?"),
        event("member.left", at(1, 10), community_id="c1", member_id="m2"),
    ]


AS_OF = at(1, 12).isoformat()


def expected_m1() -> float:
    """m1: joined (w1) 26 h ago, posted (w5) 24 h and 3 h ago."""
    return 1 * decay(26) + 5 * decay(24) + 5 * decay(3)


def expected_m2() -> float:
    """m2: joined (w1) 26 h ago, commented (w3) 23.5 h ago, reacted (w1) 23 h ago, left (w0)."""
    return 1 * decay(26) + 3 * decay(23.5) + 1 * decay(23)


async def test_hand_computed_scenario(scoring_settings: ScoringSettings, start_app: Any) -> None:
    events = scenario()
    async with start_app(scoring_settings) as running:
        await publish(scoring_settings.kafka, events)
        await running.wait_applied(len(events))
        headers = await running.key("acme", Scope.METRICS_READ)
        client = running.client

        reply = await client.get("/v1/members/m1/communities/c1/engagement", params={"as_of": AS_OF}, headers=headers)
        assert reply.status_code == 200, reply.text
        m1 = reply.json()
        assert m1["score"] == pytest.approx(expected_m1(), abs=1e-6)
        assert m1["level"] == 1
        assert m1["counts"] == {"member.joined": 1, "post.created": 2}
        assert m1["active_days"] == 2
        assert m1["streak"] == 2
        assert m1["replies_received"] == 1
        assert m1["replies_given"] == 0
        assert m1["is_member"] is True
        parts = m1["explanation"]["parts"]
        assert parts["post.created"] == pytest.approx(5 * decay(24) + 5 * decay(3), abs=1e-6)
        assert [e["type"] for e in m1["explanation"]["recent_events"]] == [
            "post.created",
            "post.created",
            "member.joined",
        ]

        m2 = (await client.get("/v1/members/m2/engagement", params={"as_of": AS_OF}, headers=headers)).json()
        assert m2["total_score"] == pytest.approx(expected_m2(), abs=1e-6)
        assert m2["replies_given"] == 1
        assert m2["communities"][0]["is_member"] is False

        reply = await client.get("/v1/communities/c1/metrics", params={"window": "7d", "as_of": AS_OF}, headers=headers)
        assert reply.status_code == 200, reply.text
        metrics = reply.json()
        assert metrics["members"] == 1  # m1; m2 left, the bot is left out
        assert metrics["new_members"] == 2
        assert metrics["members_left"] == 1
        assert metrics["active_members"] == 2
        assert metrics["dau"] == 1
        assert metrics["wau"] == 2
        assert metrics["retention"] is None
        assert metrics["posts"] == 2  # p1, p3 (the bot's p2 is left out)
        assert metrics["response_rate"] == 0.5
        assert metrics["median_first_response_seconds"] == 1800
        assert metrics["user_generated_share"] == 0.75  # 3 of 4 posts and comments
        assert metrics["excluded_members"] == 1
        assert [c["member_id"] for c in metrics["top_contributors"]] == ["m1", "m2"]
        assert metrics["trending"][0]["name"] == "climbing"
        assert metrics["profile"]["name"] == "Climbers"
        health = metrics["health"]
        assert {p["name"] for p in health["parts"]} == {
            "activity",
            "retention",
            "responsiveness",
            "growth",
            "ownership",
        }
        # activity 1.0 (wau 2 / 1 member, capped), responsiveness .5, growth 2/3, ownership .75; retention unknown
        expected = 100 * (0.3 * 1 + 0.2 * 0.5 + 0.15 * round(2 / 3, 6) + 0.1 * 0.75) / (0.3 + 0.2 + 0.15 + 0.1)
        assert health["score"] == pytest.approx(expected, abs=1e-4)

        board = (
            await client.get("/v1/communities/c1/leaderboard", params={"as_of": AS_OF, "limit": 1}, headers=headers)
        ).json()
        assert board["total"] == 2
        assert [e["member_id"] for e in board["entries"]] == ["m1"]
