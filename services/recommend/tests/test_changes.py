"""Events become read-model changes, and changes the tenant's state."""

from __future__ import annotations

from datetime import datetime

import pytest

from kith_devkit.events import community, event, join, post
from kith_devkit.generator import community_id, member_id
from kith_devkit.scale import tenant_at_scale
from kith_recommend.domain.changes import (
    GRAPH_CHANGES,
    PLATFORM_SCOPE,
    AttendanceChange,
    Edge,
    SeedChange,
    TieChange,
    changes_for,
)
from kith_recommend.domain.compiled import compile_model
from kith_recommend.domain.microcommunities import InteractionKind
from kith_recommend.domain.model import TenantState
from kith_recommend.domain.params import RankingParams
from kith_recommend.domain.ranking import suggest
from kith_shared.events import Event

pytestmark = pytest.mark.unit


def test_an_erasure_removes_the_member_from_every_edge_and_profile() -> None:
    events: list[Event] = list(tenant_at_scale(40, 300, seed=3, days=20, activity=0.5))
    erased = member_id(1)
    state = TenantState("bench")
    for e in events:
        state.apply_all(changes_for(e))
    assert state.knows_member(erased)
    state.apply_all(changes_for(event("member.erased", {"member_id": erased}, tenant="bench")))
    assert not state.knows_member(erased)
    for kind in (Edge.FOLLOWS, Edge.INTERACTS):
        assert all(erased not in targets for targets in state.edges[kind].values()), kind
    state.apply_all(changes_for(join(erased, community_id(2), tenant="bench")))  # a later event counts again
    assert state.edges[Edge.MEMBER][erased] == {community_id(2): 1.0}


def test_a_leave_after_a_join_leaves_no_membership() -> None:
    changes = [
        c
        for e in (join("ann", "c-a"), event("member.left", {"member_id": "ann", "community_id": "c-a"}))
        for c in changes_for(e)
    ]
    state = TenantState("acme")
    state.apply_all(changes)
    assert "ann" not in state.edges[Edge.MEMBER]


def test_a_leave_and_a_score_from_scoring_give_one_state_whichever_comes_first() -> None:
    """Leaves come on the activity topic, scores on the engagement topic: no replay repeats their order."""
    joined, left = join("ann", "c-a"), event("member.left", {"member_id": "ann", "community_id": "c-a"})
    scored = event(
        "engagement.changed",
        {"member_id": "ann", "community_id": "c-a", "score": 12.0, "level": 2, "as_of": "2026-11-01T00:00:00Z"},
    )
    states = []
    for order in ((joined, scored, left), (joined, left, scored)):
        state = TenantState("acme")
        for e in order:
            state.apply_all(changes_for(e))
        states.append(state)
    assert states[0].edges == states[1].edges
    assert "ann" not in states[0].edges[Edge.MEMBER]


def test_posts_feed_member_and_community_topics_and_replies_feed_ties() -> None:
    state = TenantState("acme")
    for e in (
        post("ann", "c-a", "#Climbing today", ["Climbing"]),
        event(
            "comment.created",
            {
                "member_id": "bea",
                "community_id": "c-a",
                "comment_id": "k1",
                "post_id": "p1",
                "replied_to_member_id": "ann",
                "text": "nice",
            },
        ),
    ):
        state.apply_all(changes_for(e))
    assert state.edges[Edge.TAG]["ann"] == {"climbing": 2.0}
    assert state.edges[Edge.COMMUNITY_TAG]["c-a"] == {"climbing": 2.0}
    assert state.edges[Edge.INTERACTS]["bea"] == {"ann": 2.0}
    assert state.edges[Edge.ACTIVITY]["bea"]["c-a"] == 2.0


def test_engagement_weighs_co_membership() -> None:
    """Co-members engaged in a community pull their other communities up more than passive ones."""
    events = [community(c, c, ["x"]) for c in ("c-seed", "c-active", "c-passive")]
    for m in ("p1", "p2"):
        events += [join(m, "c-seed"), join(m, "c-active" if m == "p1" else "c-passive")]
    events += [join("ann", "c-seed")]
    events += [
        event(
            "engagement.changed",
            {"member_id": "p1", "community_id": "c-active", "score": 40.0, "level": 3, "as_of": "2026-11-01T00:00:00Z"},
        )
    ]
    state = TenantState("acme")
    for e in events:
        state.apply_all(changes_for(e))
    model = compile_model(state)
    found = suggest(model, state.profile("ann"), RankingParams(mmr_lambda=1.0), 2)
    assert [s.community_id for s in found] == ["c-active", "c-passive"]


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"])
def test_events_at_the_edges_of_time_compile_and_rank(when: str) -> None:
    state = TenantState("acme")
    for raw in (community("c-1", "Edge", ["time"]), join("m-1", "c-1"), join("m-2", "c-1")):
        at_edge = raw.model_copy(update={"time": datetime.fromisoformat(when)})
        state.apply_all(changes_for(at_edge))
    model = compile_model(state)
    assert model.ids == ["c-1"]
    assert [s.community_id for s in suggest(model, state.profile("m-3"), RankingParams(), 5)] == ["c-1"]


def test_events_make_graph_changes_roles_and_slipping_that_the_ranking_state_keeps_apart() -> None:
    engagement = {"member_id": "bea", "community_id": "c-a", "score": 1.0, "level": 0, "as_of": "2026-11-01T00:00:00Z"}
    created = community("c-new", "New", ["x"])
    created = created.model_copy(update={"data": created.data.model_copy(update={"seeded_from": "mc-1"})})
    events = [
        event("member.followed", {"member_id": "ann", "followed_member_id": "bea"}),
        event("member.unfollowed", {"member_id": "ann", "followed_member_id": "bea"}),
        event(
            "reaction.added", {"member_id": "cid", "community_id": "c-a", "target_id": "p1", "target_member_id": "ann"}
        ),
        event("event.attended", {"member_id": "cid", "community_id": "c-a", "event_id": "e1"}),
        join("dan", "c-a"),
        created,
        event("member.role.set", {"member_id": "bot", "role": "bot"}),
        event("member.role.set", {"member_id": "eve", "community_id": "c-a", "role": "staff"}),
        event("engagement.changed", {**engagement, "state": "slipping"}),
    ]
    changes = [c for e in events for c in changes_for(e)]
    graph = [c for c in changes if isinstance(c, GRAPH_CHANGES)]
    assert [type(c).__name__ for c in graph] == [
        "TieChange", "TieChange", "TieChange", "AttendanceChange", "SeedChange",
    ]  # fmt: skip
    follow, unfollow, reaction = graph[:3]
    assert isinstance(follow, TieChange)
    assert isinstance(unfollow, TieChange)
    assert isinstance(reaction, TieChange)
    assert (follow.kind, follow.action, unfollow.action) == (InteractionKind.FOLLOW, "add", "remove")
    assert (reaction.kind, reaction.source, reaction.target) == (InteractionKind.REACTION, "cid", "ann")
    assert graph[3] == AttendanceChange("acme", "c-a/e1", "cid", graph[3].at)
    assert graph[4] == SeedChange("acme", "c-new", "mc-1", graph[4].at)
    state = TenantState("acme")
    state.apply_all(changes)
    assert state.roles == {"bot": {PLATFORM_SCOPE: "bot"}, "eve": {"c-a": "staff"}}
    assert state.edges[Edge.SLIPPING] == {"bea": {"c-a": 1.0}}
    assert state.communities["c-new"]["seeded_from"] == "mc-1"
    version = state.version
    state.apply_all(graph)
    assert state.version == version  # graph changes are not the ranking state's: no recompile
    state.apply_all(changes_for(event("engagement.changed", {**engagement, "state": "back"})))
    assert state.edges[Edge.SLIPPING] == {}
    state.apply_all(changes_for(event("member.erased", {"member_id": "eve"})))
    assert "eve" not in state.roles
