"""The synthetic activity generator: deterministic, valid, realistic enough to measure against."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import statistics
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from functools import cache

import pytest

from kith_devkit.generator import GeneratorConfig, build_world, generate, live
from kith_shared.events import ACTIVITY_TYPES, Event, encode_structured, validate_event
from kith_shared.events.types import CommentCreatedEvent, PostCreatedEvent

pytestmark = pytest.mark.unit

SMALL = GeneratorConfig(seed=11, communities=40, members=400, days=12)
WRITES = frozenset({"post.created", "comment.created", "reaction.added"})


@cache
def history(config: GeneratorConfig = SMALL) -> tuple[Event, ...]:
    return tuple(generate(config))


def digest(events: tuple[Event, ...] | list[Event]) -> str:
    sha = hashlib.sha256()
    for event in events:
        sha.update(encode_structured(event))
    return sha.hexdigest()


def test_same_seed_gives_the_identical_stream_ids_included() -> None:
    again = list(generate(SMALL))
    assert [e.id for e in again] == [e.id for e in history()]
    assert digest(again) == digest(history())


def test_another_seed_gives_another_stream() -> None:
    other = list(generate(GeneratorConfig(seed=12, communities=40, members=400, days=12)))
    assert digest(other) != digest(history())


def test_stream_does_not_depend_on_string_hashing() -> None:
    code = (
        "import hashlib, sys\n"
        "from kith_shared.events import encode_structured\n"
        "from kith_devkit.generator import GeneratorConfig, generate\n"
        "sha = hashlib.sha256()\n"
        "for e in generate(GeneratorConfig(seed=11, communities=40, members=400, days=12)):\n"
        "    sha.update(encode_structured(e))\n"
        "sys.stdout.write(sha.hexdigest())\n"
    )
    for hash_seed in ("1", "2"):
        out = subprocess.run(  # noqa: S603 - our own interpreter and code
            [sys.executable, "-c", code], env={"PYTHONHASHSEED": hash_seed}, capture_output=True, text=True, check=True
        )
        assert out.stdout == digest(history())


def test_every_event_is_valid_per_the_shared_models() -> None:
    events = history()
    assert len(events) > 3_000
    for event in events:
        again = validate_event(json.loads(encode_structured(event)))
        assert again == event
        assert event.type in ACTIVITY_TYPES
        assert event.tenant == SMALL.tenant
        assert event.source == SMALL.source


def test_events_are_time_ordered_unique_and_inside_the_history() -> None:
    events = history()
    times = [e.time for e in events]
    assert times == sorted(times)
    assert len({e.identity for e in events}) == len(events)
    assert times[0] >= SMALL.start
    assert times[-1] < SMALL.start + timedelta(days=SMALL.days)


def test_stream_covers_the_activity_a_community_has() -> None:
    counts = Counter(e.type for e in history())
    for event_type in (
        "community.created", "member.interests.declared", "member.joined", "post.created", "comment.created",
        "reaction.added", "post.viewed", "event.hosted", "event.attended", "member.followed", "member.role.set",
    ):  # fmt: skip
        assert counts[event_type] > 0, event_type
    assert counts["post.viewed"] > counts["post.created"]
    roles = Counter(e.data.role for e in history() if e.type == "member.role.set")
    assert roles["owner"] == SMALL.communities
    assert roles["staff"] >= 1
    assert roles["bot"] >= 1


def test_members_leave_edit_and_take_back_reactions_somewhere() -> None:
    counts = Counter(e.type for e in generate(GeneratorConfig(seed=3, communities=100, members=1000, days=20)))
    assert counts["member.left"] > 0
    assert counts["post.edited"] > 0
    assert counts["reaction.removed"] > 0


def test_ids_name_real_communities_and_members() -> None:
    world = build_world(SMALL)
    communities = {c.id for c in world.communities}
    members = {m.id for m in world.members}
    assert min(communities) == "c-0001"
    assert min(members) == "m-00001"
    for event in history():
        if event.community_id is not None:
            assert event.community_id in communities
        if event.member_id is not None:
            assert event.member_id in members


def test_members_act_only_in_communities_they_joined_and_have_not_left() -> None:
    inside: dict[tuple[str, str], bool] = {}
    created: set[str] = set()
    for event in history():
        if event.type == "community.created":
            created.add(event.data.community_id)
        elif event.type == "member.joined":
            assert event.data.community_id in created
            inside[(event.data.community_id, event.data.member_id)] = True
        elif event.type == "member.left":
            inside[(event.data.community_id, event.data.member_id)] = False
        elif event.type in WRITES or event.type in ("post.viewed", "event.hosted", "event.attended"):
            assert event.community_id is not None
            assert event.member_id is not None
            assert inside.get((event.community_id, event.member_id)), event


def test_community_sizes_are_heavy_tailed() -> None:
    world = build_world(GeneratorConfig())
    sizes = sorted(Counter(m.community_id for m in world.memberships).values())
    mean = statistics.fmean(sizes)
    median = statistics.median(sizes)
    assert median < mean
    assert sizes[-1] >= 10 * median
    assert sum(1 for size in sizes if size < mean) / len(sizes) > 0.6


def test_some_communities_are_private_or_hidden() -> None:
    world = build_world(GeneratorConfig())
    visibility = Counter(c.visibility for c in world.communities)
    assert visibility["public"] > visibility["private"] > 0
    assert visibility["hidden"] > 0


def test_members_have_one_to_four_interests_and_mostly_join_matching_communities() -> None:
    world = build_world(GeneratorConfig())
    assert {len(m.interests) for m in world.members} == {1, 2, 3, 4}
    matching = 0
    for membership in world.memberships:
        member = world.member(membership.member_id)
        community = world.community(membership.community_id)
        matching += bool(set(member.interests) & set(community.topics))
    assert matching / len(world.memberships) > 0.7


def test_activity_is_skewed_a_few_members_do_most() -> None:
    writes = Counter(e.member_id for e in history() if e.type in WRITES)
    ranked = sorted(writes.values(), reverse=True)
    top_tenth = sum(ranked[: max(1, len(ranked) // 10)])
    assert top_tenth / sum(ranked) > 0.35
    assert statistics.median(ranked) < statistics.fmean(ranked)


def test_members_who_fade_out_are_visibly_quieter_afterwards() -> None:
    config = GeneratorConfig(seed=5, communities=60, members=600, days=20)
    faders = {m.id: m.fades_at for m in build_world(config).members if m.fades_at is not None}
    window = timedelta(days=4)
    before = after = 0
    for event in generate(config):
        fades_at = faders.get(event.member_id or "")
        if fades_at is None or event.type not in WRITES:
            continue
        if fades_at - window <= event.time < fades_at:
            before += 1
        elif fades_at + timedelta(days=1) <= event.time < fades_at + timedelta(days=1) + window:
            after += 1
    assert faders
    assert after < before / 4


def test_comments_reply_to_other_members_along_a_real_parent_chain() -> None:
    posts: dict[str, PostCreatedEvent] = {}
    comments: dict[str, CommentCreatedEvent] = {}
    threaded = 0
    for event in history():
        if isinstance(event, PostCreatedEvent):
            posts[event.data.post_id] = event
        elif isinstance(event, CommentCreatedEvent):
            data = event.data
            post = posts[data.post_id]
            assert post.data.community_id == data.community_id
            assert post.time < event.time
            assert data.replied_to_member_id is not None
            assert data.replied_to_member_id != data.member_id
            if data.parent_id is None:
                assert data.replied_to_member_id == post.data.member_id
            else:
                parent = comments[data.parent_id]
                assert parent.data.post_id == data.post_id
                assert parent.time < event.time
                assert data.replied_to_member_id == parent.data.member_id
                threaded += 1
            comments[data.comment_id] = event
    assert comments
    assert threaded > 0


def test_reactions_and_views_point_at_earlier_content_of_someone_else() -> None:
    authors: dict[str, tuple[str, datetime]] = {}
    for event in history():
        if event.type == "post.created":
            authors[event.data.post_id] = (event.data.member_id, event.time)
        elif event.type == "comment.created":
            authors[event.data.comment_id] = (event.data.member_id, event.time)
        elif event.type == "reaction.added":
            author, created = authors[event.data.target_id]
            assert event.data.target_member_id == author != event.data.member_id
            assert created < event.time
        elif event.type == "post.viewed":
            author, created = authors[event.data.post_id]
            assert event.data.author_member_id == author != event.data.member_id
            assert created < event.time


def test_posts_carry_hashtags_mentions_links_and_some_markup() -> None:
    members = {m.id for m in build_world(SMALL).members}
    texts = [e.data.text for e in history() if e.type == "post.created"]
    marked = [text for text in texts if "<p>" in text]
    assert 0.05 < len(marked) / len(texts) < 0.6
    assert any("<b>" in text for text in marked)
    assert any('<a href="' in text for text in marked)
    assert any("#" in text for text in texts)
    assert any("https://" in text for text in texts)
    mentions = [found for text in texts for found in re.findall(r"@(m-[0-9]+)", text)]
    assert mentions
    assert set(mentions) <= members


def test_follows_come_from_interaction() -> None:
    talked: defaultdict[str, set[str]] = defaultdict(set)
    follows = 0
    for event in history():
        if event.type == "post.created":  # planted groups mention one another in posts
            talked[event.data.member_id].update(re.findall(r"@(m-[0-9]+)", event.data.text))
        elif event.type == "comment.created" and event.data.replied_to_member_id:
            talked[event.data.member_id].add(event.data.replied_to_member_id)
        elif event.type == "reaction.added" and event.data.target_member_id:
            talked[event.data.member_id].add(event.data.target_member_id)
        elif event.type == "member.followed":
            assert event.data.followed_member_id in talked[event.data.member_id]
            follows += 1
    assert follows > 0


def test_live_continues_after_the_history() -> None:
    past = history()
    stream = list(itertools.islice(live(SMALL), 3_000))
    known_posts = {e.data.post_id for e in past if e.type == "post.created"}
    assert stream[0].time >= past[-1].time
    assert [e.time for e in stream] == sorted(e.time for e in stream)
    assert not {e.identity for e in stream} & {e.identity for e in past}
    assert int(stream[0].id.rsplit("-", 1)[1]) == int(past[-1].id.rsplit("-", 1)[1]) + 1
    assert any(e.type == "comment.created" and e.data.post_id in known_posts for e in stream)
    for event in stream:
        validate_event(json.loads(encode_structured(event)))


def test_live_can_start_at_a_given_time() -> None:
    start = datetime(2027, 1, 1, 12, tzinfo=UTC)
    stream = list(itertools.islice(live(SMALL, start), 200))
    assert stream[0].time >= start
    assert stream[-1].time < start + timedelta(days=2)
    assert [e.id for e in stream] == [e.id for e in itertools.islice(live(SMALL), 200)]


def test_config_refuses_naive_start() -> None:
    with pytest.raises(ValueError, match="timezone"):
        GeneratorConfig(start=datetime(2026, 10, 1))  # noqa: DTZ001 - the point of the test


def test_local_clubs_meet_in_one_city_and_members_mostly_join_those_of_their_own() -> None:
    world = build_world(GeneratorConfig())
    local = [c for c in world.communities if c.mode == "local"]
    online = [c for c in world.communities if c.mode == "online"]
    assert len(local) > 50
    assert len(online) > 50
    assert all(c.city is not None and c.name.startswith(c.city) for c in local)
    assert all(c.city is None for c in online)
    human = [m for m in world.memberships if world.member(m.member_id).role == "member"]
    in_local = [m for m in human if world.community(m.community_id).mode == "local"]
    same_city = sum(world.member(m.member_id).city == world.community(m.community_id).city for m in in_local)
    assert same_city / len(in_local) > 0.9
    by_type = Counter(e.type for e in history())
    assert by_type["member.profile.updated"] > 0.4 * SMALL.members
    created = [e for e in history() if e.type == "community.created"]
    assert {e.data.mode for e in created} >= {"online", "local"}
    meetups = [e for e in history() if e.type == "event.attended"]
    assert any(e.data.location is not None for e in meetups)


def test_planted_groups_are_close_and_where_they_should_be() -> None:
    config = GeneratorConfig(seed=5, communities=120, members=1500, days=20)
    world = build_world(config)
    assert world.planted == build_world(config).planted
    forming = [g for g in world.planted if g.kind == "forming"]
    inside = [g for g in world.planted if g.kind == "subgroup"]
    assert len(forming) == config.members // 150
    assert inside
    joined: defaultdict[str, set[str]] = defaultdict(set)
    for membership in world.memberships:
        joined[membership.member_id].add(membership.community_id)
    everyone = [m for g in world.planted for m in g.members]
    assert len(everyone) == len(set(everyone))  # nobody in two planted groups
    for group in forming:
        assert 6 <= len(group.members) <= 12
        assert group.community_id is None
        communities = [c for m in group.members for c in joined[m]]
        assert len(communities) == len(set(communities))  # no two of them in one community
    for group in inside:
        assert group.community_id is not None
        assert all(group.community_id in joined[m] for m in group.members)
        assert world.community(group.community_id).planned_size >= 3 * len(group.members)
    assert all(world.member(m).role == "member" and world.member(m).fades_at is None for m in everyone)

    # They talk: forming groups mention one another about their niche, sub-groups reply to one another.
    members = {m: g for g in world.planted for m in g.members}
    mentions = Counter[tuple[str, str]]()
    replies = Counter[tuple[str, str]]()
    for event in generate(config):
        if isinstance(event, PostCreatedEvent) and event.data.member_id in members:
            group = members[event.data.member_id]
            for mentioned in re.findall(r"@(m-[0-9]+)", event.data.text):
                if mentioned in group.members and f"#{group.topics[0]}" in event.data.text:
                    mentions[(event.data.member_id, mentioned)] += 1
        elif isinstance(event, CommentCreatedEvent) and event.data.member_id in members:
            to = event.data.replied_to_member_id or ""
            if to in members[event.data.member_id].members:
                replies[(event.data.member_id, to)] += 1
    for group in forming:
        pairs = {frozenset(p) for p in mentions if p[0] in group.members}
        assert len(pairs) >= len(group.members), group  # well beyond a chain: many pairs mention each other
    for group in inside:
        pairs = {frozenset(p) for p in replies if p[0] in group.members}
        assert len(pairs) >= len(group.members), group


def test_planting_can_be_turned_off_and_leaves_the_rest_of_the_world_alone() -> None:
    quiet = GeneratorConfig(seed=11, communities=40, members=400, days=12, forming_groups=0, subgroups=0)
    assert build_world(quiet).planted == ()
    planted = build_world(SMALL)
    unplanted = build_world(quiet)
    assert planted.memberships == unplanted.memberships
    assert planted.members == unplanted.members
    with pytest.raises(ValueError, match="planted"):
        GeneratorConfig(forming_groups=-1)
