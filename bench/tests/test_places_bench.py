"""Unit tests for the places benchmark (distances, the cut in time, held-out joins) and the YouTube-shaped tenant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bench.recommend_places import parse_variant
from bench.recommend_places_world import city_point, cutoff_time, distance_km, split_in_time
from kith_devkit.generator import GeneratorConfig, build_world, generate
from kith_shared.events.data import MemberJoined

pytestmark = pytest.mark.unit


def test_distances_between_city_centres() -> None:
    seattle = (47.6062, -122.3321)
    assert distance_km(seattle, seattle) == pytest.approx(0.0)
    assert distance_km(seattle, (38.7223, -9.1393)) == pytest.approx(8_500, rel=0.02)  # Lisbon
    assert distance_km(seattle, (47.6677, -122.3847)) == pytest.approx(7.9, abs=0.5)  # Ballard


def test_the_cut_off_is_where_the_latest_share_of_joins_begin() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    joins = [start + timedelta(days=d) for d in range(10)]
    assert cutoff_time(list(reversed(joins)), 0.2) == joins[7]
    assert cutoff_time(joins, 0.0) == joins[-1]


def test_held_out_joins_are_later_public_and_still_held_by_people_with_a_history() -> None:
    config = GeneratorConfig(communities=40, members=300, days=10, activity=0.3, tenant="t")
    world = build_world(config)
    events = list(generate(config))
    split = split_in_time(events, world, 0.2)
    assert split.held_out
    assert all(e.time <= split.cutoff for e in split.train)
    before: dict[str, set[str]] = {}
    for e in split.train:
        if isinstance(e.data, MemberJoined):
            before.setdefault(e.data.member_id, set()).add(e.data.community_id)
    for member, communities in split.held_out.items():
        assert world.member(member).role == "member"
        assert before.get(member), "evaluated members joined something before the cut-off"
        for community_id in communities:
            assert world.community(community_id).visibility == "public"
    assert city_point(world.members[0].city) is not None


def test_variants_are_named_settings_checked_against_their_bounds() -> None:
    assert parse_variant('near={"radius_km": 20}') == ("near", {"radius_km": 20})
    with pytest.raises(ValueError):
        parse_variant('bad={"radius_km": 0}')
    with pytest.raises(ValueError):
        parse_variant("nothing")


def test_the_youtube_shaped_tenant_has_seeded_join_times_within_the_spread_and_follows_both_ways() -> None:
    from bench.recommend_tuning import SPREAD_DAYS, SPREAD_START, youtube_shaped
    from bench.recsys.data import Dataset
    from kith_shared.events.data import MemberFollowed

    dataset = Dataset("toy", {"u1": {"a", "b"}, "u2": {"a"}}, [("u1", "u2")])
    events = list(youtube_shaped(dataset, seed=3))
    again = list(youtube_shaped(dataset, seed=3))
    assert [e.time for e in events] == [e.time for e in again]
    joins = [e for e in events if isinstance(e.data, MemberJoined)]
    follows = [e for e in events if isinstance(e.data, MemberFollowed)]
    assert sorted((e.data.member_id, e.data.community_id) for e in joins) == [("u1", "a"), ("u1", "b"), ("u2", "a")]
    assert {(e.data.member_id, e.data.followed_member_id) for e in follows} == {("u1", "u2"), ("u2", "u1")}
    end = SPREAD_START + timedelta(days=SPREAD_DAYS)
    assert all(SPREAD_START <= e.time < end for e in joins)
    assert [e.time for e in joins] == sorted(e.time for e in joins)
    assert len({e.id for e in events}) == len(events)
    assert {e.tenant for e in events} == {"youtube"}
