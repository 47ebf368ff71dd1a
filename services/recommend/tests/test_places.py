"""Places, staff and bots, honest lists and reasons, as pure functions over the read model."""

from __future__ import annotations

from typing import Any

import pytest

from kith_devkit.events import community, event, join, post
from kith_recommend.domain.changes import changes_for
from kith_recommend.domain.compiled import compile_model
from kith_recommend.domain.model import TenantState
from kith_recommend.domain.params import RankingParams
from kith_recommend.domain.ranking import Suggestion, suggest
from kith_shared.events import Event

pytestmark = pytest.mark.unit

SEATTLE = {"name": "Seattle", "country": "US", "latitude": 47.6062, "longitude": -122.3321}
BELLEVUE = {"name": "Bellevue", "country": "US", "latitude": 47.6101, "longitude": -122.2015}
TACOMA = {"name": "Tacoma", "country": "US", "latitude": 47.2529, "longitude": -122.4443}
DENVER = {"name": "Denver", "country": "US", "latitude": 39.7392, "longitude": -104.9903}
LISBON = {"name": "Lisbon", "country": "PT", "latitude": 38.7223, "longitude": -9.1393}


def placed(cid: str, name: str, mode: str, where: dict[str, Any] | None = None) -> Event:
    data: dict[str, Any] = {"community_id": cid, "name": name, "topics": ["running"], "mode": mode}
    if where is not None:
        data["location"] = where
    return event("community.created", data)


def state_of(events: list[Event]) -> TenantState:
    state = TenantState("acme")
    for e in events:
        state.apply_all(changes_for(e))
    return state


def ids(found: list[Suggestion]) -> list[str]:
    return [s.community_id for s in found]


def runners() -> list[Event]:
    """Running clubs in four cities, an online group and a hybrid one; runners join several of them."""
    events = [
        placed("c-sea", "Seattle Run Club", "local", SEATTLE),
        placed("c-bel", "Bellevue Striders", "local", BELLEVUE),
        placed("c-tac", "Tacoma Trail Runners", "local", TACOMA),
        placed("c-den", "Denver Pace Group", "local", DENVER),
        placed("c-lis", "Lisbon Run Club", "local", LISBON),
        placed("c-web", "Marathon Training Online", "online"),
        placed("c-hyb", "Ultra Runners", "hybrid", DENVER),
        placed("c-home", "Home Club", "online"),
    ]
    # The far clubs are the most popular: without places they would come first.
    for i in range(12):
        events += [join(f"r{i}", "c-home"), join(f"r{i}", "c-den"), join(f"r{i}", "c-lis")]
    for i in range(6):
        events += [join(f"s{i}", "c-home"), join(f"s{i}", "c-sea"), join(f"s{i}", "c-web"), join(f"s{i}", "c-hyb")]
    for i in range(3):
        events += [join(f"t{i}", "c-home"), join(f"t{i}", "c-tac"), join(f"t{i}", "c-bel")]
    events.append(join("m-42", "c-home"))
    return events


def profile_at(where: dict[str, Any] | None, member: str = "m-42") -> Event:
    data: dict[str, Any] = {"member_id": member}
    if where is not None:
        data["location"] = where
    return event("member.profile.updated", data)


def test_local_clubs_beyond_the_radius_are_never_suggested_and_nearer_ones_rank_higher() -> None:
    state = state_of([*runners(), profile_at(SEATTLE)])
    model = compile_model(state)
    found = suggest(model, state.profile("m-42"), RankingParams(), 10)
    assert "c-den" not in ids(found)
    assert "c-lis" not in ids(found)
    assert {"c-sea", "c-bel", "c-web", "c-hyb"} <= set(ids(found))
    assert "c-tac" in ids(found)  # 40 km away: within the default 50 km
    by_id = {s.community_id: s for s in found}
    assert by_id["c-sea"].distance_km is not None
    assert by_id["c-sea"].distance_km < 1
    assert by_id["c-sea"].reasons[0].text == "meets in Seattle, under 1 km from you"
    assert by_id["c-bel"].reasons[0].text == "meets in Bellevue, 10 km from you"
    assert by_id["c-hyb"].reasons[0].text.startswith("meets in Denver, 1641 km from you, and online")
    assert by_id["c-web"].place is None
    assert all(r.kind != "place" for r in by_id["c-web"].reasons)
    # Without a place of the member's, no local club is shown (it could be in any city); hybrid and
    # online ones are, unpenalized. A tenant may show local clubs to them anyway, as places off would.
    unplaced = state_of(runners()).profile("m-42")
    stranger = suggest(model, unplaced, RankingParams(mmr_lambda=1.0), 10)
    assert set(ids(stranger)) == {"c-hyb", "c-web"}
    assert all(s.distance_km is None for s in stranger)
    anywhere = suggest(model, unplaced, RankingParams(mmr_lambda=1.0, local_without_place=True), 10)
    assert ids(anywhere)[:2] == ["c-den", "c-lis"]
    assert all(s.distance_km is None for s in anywhere)


def test_radius_and_decay_are_settings_and_hybrid_decays_mildly() -> None:
    state = state_of([*runners(), profile_at(SEATTLE)])
    model = compile_model(state)
    profile = state.profile("m-42")
    wide = suggest(model, profile, RankingParams(radius_km=30, mmr_lambda=1.0), 10)
    assert "c-tac" not in ids(wide)
    assert "c-bel" in ids(wide)
    narrow = suggest(model, profile, RankingParams(radius_km=5, mmr_lambda=1.0), 10)
    assert "c-bel" not in ids(narrow)
    assert "c-sea" in ids(narrow)
    sharp = {s.community_id: s for s in suggest(model, profile, RankingParams(radius_km=60, mmr_lambda=1.0), 10)}
    # Bellevue and Tacoma have the same members' pull; the nearer one ranks higher.
    assert sharp["c-bel"].relevance > sharp["c-tac"].relevance
    # A hybrid community 1,600 km away keeps at least hybrid_floor of its relevance; none kept: it falls.
    floor = {s.community_id: s.relevance for s in suggest(model, profile, RankingParams(hybrid_floor=1.0), 10)}
    none = {s.community_id: s.relevance for s in suggest(model, profile, RankingParams(hybrid_floor=0.0), 10)}
    assert none.get("c-hyb", 0.0) < floor["c-hyb"] * 0.01


def test_places_off_ranks_every_community_as_if_online() -> None:
    state = state_of([*runners(), profile_at(SEATTLE)])
    model = compile_model(state)
    profile = state.profile("m-42")
    off = suggest(model, profile, RankingParams(use_places=False, mmr_lambda=1.0), 10)
    placeless = suggest(
        model, state_of(runners()).profile("m-42"), RankingParams(mmr_lambda=1.0, local_without_place=True), 10
    )
    # The far clubs come back, in the order of a member whose place is unknown, and no distance is shown.
    assert ids(off)[:2] == ["c-den", "c-lis"]
    assert [(s.community_id, s.relevance) for s in off] == [(s.community_id, s.relevance) for s in placeless]
    assert all(s.distance_km is None for s in off)
    by_id = {s.community_id: s for s in off}
    assert by_id["c-sea"].reasons[0].text == "meets in Seattle"
    # Settings per tenant take it like any other ranking setting.
    assert RankingParams.model_validate({"use_places": False}).use_places is False


def test_a_location_is_inferred_from_events_attended_and_a_declared_one_wins() -> None:
    attended = [
        event("event.attended", {"community_id": "c-home", "member_id": "m-42", "event_id": "e1", "location": SEATTLE}),
        event("event.attended", {"community_id": "c-home", "member_id": "m-42", "event_id": "e2", "location": SEATTLE}),
        event("event.hosted", {"community_id": "c-sea", "member_id": "m-42", "event_id": "e3"}),  # where c-sea meets
        event("event.attended", {"community_id": "c-home", "member_id": "m-42", "event_id": "e4", "location": LISBON}),
    ]
    state = state_of([*runners(), *attended])
    where = state.location("m-42")
    assert where is not None
    assert (where.name, where.source) == ("Seattle", "inferred")
    assert "c-lis" not in ids(suggest(compile_model(state), state.profile("m-42"), RankingParams(), 10))
    state.apply_all(changes_for(profile_at(LISBON)))
    declared = state.location("m-42")
    assert declared is not None
    assert (declared.name, declared.source) == ("Lisbon", "declared")
    found = suggest(compile_model(state), state.profile("m-42"), RankingParams(), 10)
    assert "c-lis" in ids(found)
    assert "c-sea" not in ids(found)
    state.apply_all(changes_for(profile_at(None)))  # withdrawn: the inferred place applies again
    again = state.location("m-42")
    assert again is not None
    assert again.source == "inferred"


def test_joined_local_clubs_place_a_member_but_hybrid_ones_do_not() -> None:
    state = state_of([*runners(), join("m-42", "c-hyb")])  # hybrid, meets in Denver: joinable from anywhere
    assert state.location("m-42") is None
    state.apply_all(changes_for(join("m-42", "c-tac")))
    where = state.location("m-42")
    assert where is not None
    assert (where.name, where.source) == ("Tacoma", "inferred")


def test_a_hybrid_communitys_meet_ups_place_a_member_only_when_nothing_else_does() -> None:
    far = [
        event("event.attended", {"community_id": "c-hyb", "member_id": "m-42", "event_id": f"h{i}", "location": DENVER})
        for i in range(3)
    ]  # hybrid: may have been followed from home
    state = state_of([*runners(), *far])
    where = state.location("m-42")
    assert where is not None
    assert (where.name, where.source) == ("Denver", "inferred")  # nothing else is known
    state.apply_all(changes_for(join("m-42", "c-tac")))
    where = state.location("m-42")
    assert where is not None
    assert where.name == "Tacoma"
    meet_up = {"community_id": "c-web", "member_id": "m-42", "event_id": "w1", "location": SEATTLE}
    state.apply_all(changes_for(event("event.attended", meet_up)))  # an online community's, attended in person
    where = state.location("m-42")
    assert where is not None
    assert where.name == "Seattle"


def test_erasure_removes_the_members_location_declared_and_inferred() -> None:
    seen = event("event.attended", {"community_id": "c-home", "member_id": "m-42", "event_id": "e", "location": TACOMA})
    state = state_of([*runners(), profile_at(SEATTLE), seen])
    assert state.location("m-42") is not None
    state.apply_all(changes_for(event("member.erased", {"member_id": "m-42"})))
    assert state.location("m-42") is None
    assert "m-42" not in state.locations
    assert not state.knows_member("m-42")


def test_the_list_is_monotonic_in_the_score_it_shows_after_diversity() -> None:
    state = state_of(runners())
    model = compile_model(state)
    for lam in (1.0, 0.9, 0.6, 0.3):
        found = suggest(model, state.profile("m-42"), RankingParams(mmr_lambda=lam), 8)
        assert [s.position for s in found] == list(range(1, len(found) + 1))
        scores = [s.score for s in found]
        assert scores == sorted(scores, reverse=True), (lam, scores)
        if lam == 1.0:
            assert scores == [s.relevance for s in found]


def test_staff_and_bots_are_nobodys_co_members_or_ties() -> None:
    events: list[Event] = [
        community("c-a", "Alpha", ["chess"]),
        community("c-b", "Bravo", ["chess"]),
        community("c-c", "Charlie", ["chess"]),
    ]
    events += [join("ann", "c-a")]
    for bot in ("bot-1", "bot-2", "bot-3"):
        events += [join(bot, "c-a"), join(bot, "c-b")]
    events += [join("bea", "c-a"), join("bea", "c-c")]
    events += [event("member.followed", {"member_id": "ann", "followed_member_id": "bot-1"})]
    before = state_of(events)
    found = suggest(compile_model(before), before.profile("ann"), RankingParams(mmr_lambda=1.0), 3)
    assert ids(found)[0] == "c-b"  # three co-members and a followed member, all bots, pull Bravo up
    roles = [event("member.role.set", {"member_id": b, "role": "bot"}) for b in ("bot-1", "bot-2")]
    roles.append(event("member.role.set", {"member_id": "bot-3", "community_id": "c-b", "role": "staff"}))
    after = state_of([*events, *roles])
    model = compile_model(after)
    found = suggest(model, after.profile("ann"), RankingParams(mmr_lambda=1.0), 3)
    assert ids(found)[0] == "c-c"
    texts = [r.text for s in found for r in s.reasons]
    assert not any("you follow" in t for t in texts)
    assert int(model.size[model.index["c-b"]]) == 0


def test_reasons_name_only_declared_topics_never_a_stopword_or_a_mere_written_word() -> None:
    events: list[Event] = [community("c-pot", "Pottery Studio", ["ai"]), community("c-home", "Home", ["misc"])]
    events += [join(f"p{i}", "c-pot") for i in range(3)]
    for i in range(3):
        events.append(post(f"p{i}", "c-pot", "this week pottery", ["week", "pottery"]))
    events += [join("ann", "c-home"), post("ann", "c-home", "this week #week", ["week"])]
    state = state_of(events)
    found = suggest(compile_model(state), state.profile("ann"), RankingParams(), 3)
    texts = [r.text for s in found for r in s.reasons]
    assert not any("#week" in t for t in texts)
    events.append(post("ann", "c-home", "#pottery and #ai", ["pottery", "ai"]))
    state = state_of(events)
    found = suggest(compile_model(state), state.profile("ann"), RankingParams(), 3)
    pot = next(s for s in found if s.community_id == "c-pot")
    topic = [r.text for r in pot.reasons if r.kind == "topic"]
    assert topic
    assert "#week" not in topic[0]
    # A written word nobody chose as a topic ("helps") is never named, though it weighs in the score.
    for i in range(3):
        events.append(post(f"p{i}", "c-pot", "this helps", ["helps"]))
    events += [post("ann", "c-home", "#helps #helps #helps", ["helps"]) for _ in range(5)]
    state = state_of(events)
    found = suggest(compile_model(state), state.profile("ann"), RankingParams(), 3)
    texts = [r.text for s in found for r in s.reasons]
    assert not any("#helps" in t for t in texts)
    assert any("#ai" in t for t in texts)


def test_on_the_generators_world_no_seattle_member_is_suggested_a_local_club_elsewhere() -> None:
    from kith_devkit.events import as_ingested
    from kith_devkit.generator import GeneratorConfig, build_world, generate

    config = GeneratorConfig(days=10, activity=0.5)
    world = build_world(config)
    state = TenantState(config.tenant)
    for raw in generate(config):
        state.apply_all(changes_for(as_ingested(raw)))
    model = compile_model(state)
    city_of = {c.id: c.city for c in world.communities if c.mode == "local"}
    seattle = [m.id for m in world.members if m.city == "Seattle" and m.role == "member"]
    places = {m: state.location(m) for m in seattle}
    # Declared, or inferred from meet-ups and clubs joined; a few joined only clubs elsewhere (visitors).
    located = [m for m, p in places.items() if p is not None and p.name == "Seattle"]
    assert len(located) >= 0.7 * len(seattle)
    suggested_local = 0
    for member in located:
        for s in suggest(model, state.profile(member), RankingParams(), 10):
            if s.community_id in city_of:
                suggested_local += 1
                assert city_of[s.community_id] == "Seattle", (member, s.name)
    assert suggested_local > 0
