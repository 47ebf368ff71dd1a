"""Ranking as pure functions: sources, reasons, exclusions, cold start, diversity."""

from __future__ import annotations

import pytest

from kith_devkit.events import community, event, join, post, reply
from kith_recommend.domain.changes import changes_for
from kith_recommend.domain.compiled import compile_model
from kith_recommend.domain.model import TenantState
from kith_recommend.domain.params import RankingParams
from kith_recommend.domain.ranking import Suggestion, similar, suggest
from kith_shared.events import Event

pytestmark = pytest.mark.unit

PARAMS = RankingParams()


def state_of(events: list[Event], tenant: str = "acme") -> TenantState:
    state = TenantState(tenant)
    for e in events:
        state.apply_all(changes_for(e))
    return state


def world() -> list[Event]:
    """Climbers and bakers; ann climbs and replies to bea and cid, who also boulder in Berlin."""
    events: list[Event] = [
        community("c-climb", "Climbing Crew", ["climbing", "outdoors"]),
        community("c-boulder", "Bouldering Berlin", ["climbing", "bouldering"]),
        community("c-alps", "Alpine Routes", ["climbing", "alps"]),
        community("c-bake", "Sourdough Club", ["baking", "bread"]),
        community("c-cake", "Cake Lovers", ["baking", "cake"]),
        community("c-secret", "Secret Crag", ["climbing"], visibility="private"),
        community("c-own", "Ann's Crag", ["climbing"], owner="ann"),
    ]
    for m in ("bea", "cid", "dan", "eve"):
        events += [join(m, "c-climb"), join(m, "c-boulder"), join(m, "c-secret")]
    events += [join("dan", "c-alps"), join("eve", "c-alps"), join("fay", "c-bake"), join("fay", "c-cake")]
    events += [join("gus", "c-bake"), join("gus", "c-cake"), join("hal", "c-bake")]
    events += [join("ann", "c-climb"), reply("ann", "bea", "c-climb"), reply("ann", "cid", "c-climb")]
    events += [post("ann", "c-climb", "new project #climbing", ["climbing"])]
    return events


def ids(suggestions: list[Suggestion]) -> list[str]:
    return [s.community_id for s in suggestions]


def test_suggestions_come_with_reasons_from_each_source() -> None:
    state = state_of(world())
    model = compile_model(state)
    found = suggest(model, state.profile("ann"), PARAMS, 3)
    assert ids(found)[0] == "c-boulder"
    texts = [r.text for r in found[0].reasons]
    assert "2 people you replied to are active here" in texts
    assert "members of Climbing Crew also joined this" in texts
    assert "close to #climbing, which you post about" in texts


def test_exclusions_hold_joined_owned_private_blocked_dismissed() -> None:
    events = world()
    events += [event("member.blocked", {"member_id": "ann", "community_id": "c-alps"})]
    events += [event("recommendation.dismissed", {"member_id": "ann", "community_id": "c-bake"})]
    state = state_of(events)
    found = ids(suggest(compile_model(state), state.profile("ann"), PARAMS, 10))
    assert found, "there is still something to suggest"
    for never in ("c-climb", "c-own", "c-secret", "c-alps", "c-bake"):
        assert never not in found


def test_dismissal_takes_effect_without_recompiling() -> None:
    state = state_of(world())
    model = compile_model(state)
    assert ids(suggest(model, state.profile("ann"), PARAMS, 1)) == ["c-boulder"]
    state.apply_all(changes_for(event("recommendation.dismissed", {"member_id": "ann", "community_id": "c-boulder"})))
    assert "c-boulder" not in ids(suggest(model, state.profile("ann"), PARAMS, 10))


def test_cold_start_from_declared_interests() -> None:
    events = [*world(), event("member.interests.declared", {"member_id": "zoe", "interests": ["Baking"]})]
    state = state_of(events)
    found = suggest(compile_model(state), state.profile("zoe"), PARAMS, 2)
    assert set(ids(found)) == {"c-bake", "c-cake"}
    assert found[0].reasons[0].text == "matches your interest in #baking"


def test_single_join_uses_co_membership() -> None:
    state = state_of([*world(), join("ivy", "c-cake")])
    found = suggest(compile_model(state), state.profile("ivy"), PARAMS, 1)
    assert ids(found) == ["c-bake"]
    assert "members of Cake Lovers also joined this" in [r.text for r in found[0].reasons]


def test_unknown_member_gets_popular_communities() -> None:
    state = state_of(world())
    found = suggest(compile_model(state), state.profile("nobody"), PARAMS, 3)
    assert len(found) == 3
    assert ids(found)[0] in {"c-climb", "c-boulder"}
    assert found[0].reasons[0].kind in {"popularity", "trending"}


def test_trending_reason_for_a_community_growing_this_week() -> None:
    events = [*world(), community("c-new", "Night Runs", ["running"])]
    events += [join(f"r{i}", "c-new", day=10) for i in range(6)]
    events += [join("ann", "c-climb", day=10)]
    state = state_of(events)
    found = suggest(compile_model(state), state.profile("zed"), PARAMS.model_copy(update={"trending_weight": 5.0}), 1)
    assert ids(found) == ["c-new"]
    assert "growing fast this week" in [r.text for r in found[0].reasons]


def test_small_community_boost_is_a_setting() -> None:
    events = [community("c-big", "Big Room", ["chess"]), community("c-small", "Small Room", ["chess"])]
    events += [join(f"b{i}", "c-big") for i in range(400)] + [join(f"s{i}", "c-small") for i in range(10)]
    events += [event("member.interests.declared", {"member_id": "zoe", "interests": ["chess"]})]
    state = state_of(events)
    model = compile_model(state)
    no_boost = PARAMS.model_copy(update={"small_community_boost": 0.0, "popularity_weight": 0.5})
    boost = PARAMS.model_copy(update={"small_community_boost": 2.0, "popularity_weight": 0.5})
    assert ids(suggest(model, state.profile("zoe"), no_boost, 1)) == ["c-big"]
    assert ids(suggest(model, state.profile("zoe"), boost, 1)) == ["c-small"]


def test_the_small_community_reason_follows_the_size_setting() -> None:
    events = [community("c-small", "Small Room", ["chess"]), community("c-other", "Other Room", ["chess"])]
    events += [join(f"s{i}", "c-small") for i in range(10)] + [join(f"s{i}", "c-other") for i in range(3)]
    events += [join("zoe", "c-other"), post("zoe", "c-other", "openings #chess", ["chess"])]
    events += [post(f"s{i}", "c-small", "a game #chess", ["chess"]) for i in range(10)]
    state = state_of(events)
    model = compile_model(state)

    def small_reasons(size: int) -> list[str]:
        params = PARAMS.model_copy(update={"small_community_size": size})
        (found,) = suggest(model, state.profile("zoe"), params, 1)
        assert found.community_id == "c-small"
        return [r.text for r in found.reasons if r.kind == "small"]

    assert small_reasons(50) == ["a small, active community (10 members)"]
    assert small_reasons(5) == []


def test_mmr_diversifies_the_list() -> None:
    events = [community(f"c-k{i}", f"Knitting {i}", ["knitting"]) for i in range(4)]
    events += [community("c-chess", "Chess", ["chess"])]
    events += [event("member.interests.declared", {"member_id": "zoe", "interests": ["knitting", "chess"]})]
    events += [join(f"k{i}", f"c-k{i % 4}") for i in range(40)] + [join(f"h{i}", "c-chess") for i in range(8)]
    state = state_of(events)
    model = compile_model(state)
    plain = ids(suggest(model, state.profile("zoe"), PARAMS.model_copy(update={"mmr_lambda": 1.0}), 2))
    diverse = ids(suggest(model, state.profile("zoe"), PARAMS.model_copy(update={"mmr_lambda": 0.3}), 2))
    assert "c-chess" not in plain
    assert "c-chess" in diverse


def test_similar_communities_share_members_and_topics() -> None:
    state = state_of(world())
    found = similar(compile_model(state), "c-climb", 3)
    assert ids(found)[0] == "c-boulder"
    assert "c-secret" not in ids(found)
    assert found[0].reasons[0].text == "4 members in common"
    with pytest.raises(KeyError):
        similar(compile_model(state), "c-nope", 3)


def test_erasure_forgets_the_member() -> None:
    state = state_of([*world(), event("member.erased", {"member_id": "ann"})])
    assert not state.knows_member("ann")
    assert "ann" not in compile_model(state).member_index
