"""Events become read-model changes, and changes the tenant's state."""

from __future__ import annotations

from datetime import datetime

import pytest

from kith_devkit.events import community, event, join, post
from kith_devkit.generator import community_id, member_id
from kith_devkit.scale import tenant_at_scale
from kith_recommend.domain.changes import Edge, changes_for
from kith_recommend.domain.model import TenantState, compile_model
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
