"""What is kept between detections (growth, history, announcements), its plain form, and closing the loop."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from kith_recommend.domain.microcommunities import (
    ActionKind,
    Detection,
    GroupChanged,
    GroupDetected,
    GroupFaded,
    Interaction,
    InteractionKind,
    SeededCommunity,
    Status,
    TenantContext,
    actions_for,
    advance,
    detect,
)
from kith_recommend.domain.microcommunities.codec import (
    detection_from_plain,
    detection_to_plain,
    record_from_plain,
    record_to_plain,
)
from kith_recommend.domain.microcommunities.seeding import SeedOffer, put_first
from kith_recommend.domain.ranking import Suggestion
from kith_recommend.domain.reasons import Reason

from .microcommunities import NOW, PARAMS, graph_of

pytestmark = pytest.mark.unit

WEEK = timedelta(days=7)


def detection_of(groups: list[list[str]], at: datetime, previous: Detection | None = None) -> Detection:
    return detect("acme", graph_of(groups, at).snapshot(at), PARAMS, previous=previous)


def test_growth_history_and_announcements_follow_a_group_over_time() -> None:
    ten = [f"m{i}" for i in range(10)]
    first = detection_of([ten], NOW)
    events, records = advance("acme", {}, first, PARAMS, WEEK)
    assert [type(e) for e in events] == [GroupDetected]
    (group_id,) = records
    assert records[group_id].growth(NOW, WEEK).gained == 10  # new within the window: all of it

    # Day 2: one more member. Not past 20% of the announced 10: no event, but the history and growth move.
    day2 = NOW + timedelta(days=2)
    second = detection_of([[*ten, "m10"]], day2, first)
    events, records = advance("acme", records, second, PARAMS, WEEK)
    assert events == []
    record = records[group_id]
    assert [(p.size, p.status) for p in record.history] == [(10, Status.EMERGING), (11, Status.EMERGING)]
    assert record.announced.size == 10

    # Day 4: two more, and one leaves: 12 against the announced 10 is past 20%... not yet (2/10 = 20%).
    day4 = NOW + timedelta(days=4)
    members = [m for m in [*ten, "m10", "m11", "m12"] if m != "m0"]
    third = detection_of([members], day4, second)
    events, records = advance("acme", records, third, PARAMS, WEEK)
    assert events == []
    growth = records[group_id].growth(day4, WEEK)
    assert (growth.gained, growth.lost) == (12, 1)  # m1..m12 entered within the week, m0 left
    assert records[group_id].growth(day4 + timedelta(days=6), WEEK).gained == 2  # m11, m12 only

    # Day 5: a third newcomer makes 13 against the announced 10: changed, and announced again.
    day5 = NOW + timedelta(days=5)
    fourth = detection_of([[*members, "m13"]], day5, third)
    events, records = advance("acme", records, fourth, PARAMS, WEEK)
    (changed,) = events
    assert isinstance(changed, GroupChanged)
    assert (changed.size_before, changed.size) == (10, 13)
    assert changed.gained == frozenset({"m10", "m11", "m12", "m13"})
    assert changed.lost == frozenset({"m0"})
    assert records[group_id].announced.size == 13

    # The group falls apart: faded, with its last announced members; its record goes.
    gone = detection_of([], day5 + timedelta(days=1), fourth)
    events, records = advance("acme", records, gone, PARAMS, WEEK)
    (faded,) = events
    assert isinstance(faded, GroupFaded)
    assert (faded.last_size, faded.last_status) == (13, Status.EMERGING)
    assert records == {}


def test_the_plain_form_gives_back_the_same_detection_and_records() -> None:
    context = TenantContext({f"m{i}": {"#chess": 2.0, "#hello": 1.0} for i in range(4)}, {"c-1": {"m0", "m1", "x"}})
    graph = graph_of([[f"m{i}" for i in range(4)], [f"n{i}" for i in range(5)]])
    graph.add(Interaction(InteractionKind.MENTION, "m0", "n0", NOW))
    detection = detect("acme", graph.snapshot(NOW), PARAMS, context)
    _, records = advance("acme", {}, detection, PARAMS, WEEK)
    again = detection_from_plain(detection_to_plain(detection))
    assert again == detection
    assert again.membership == detection.membership
    for record in records.values():
        assert record_from_plain(record_to_plain(record)) == record


def test_a_group_with_a_community_of_its_own_is_invited_there_instead() -> None:
    detection = detection_of([[f"m{i}" for i in range(6)]], NOW)
    (summary,) = detection.groups
    (create,) = actions_for(detection, summary)
    assert create.kind is ActionKind.CREATE_COMMUNITY
    assert create.title == "Create a community for this group"
    seed = SeededCommunity("c-new", "Chess Night", frozenset({"m0", "m1"}))
    (invite,) = actions_for(detection, summary, seeded={summary.id: seed})
    assert invite.kind is ActionKind.INVITE_TO_COMMUNITY
    assert invite.community_id == "c-new"
    assert set(invite.members) == {"m2", "m3", "m4", "m5"}
    assert invite.title == "Invite the rest of the group to Chess Night"
    assert invite.reason.startswith("Chess Night was created for this group; 2 of its 6 members joined.")
    everyone = SeededCommunity("c-new", "Chess Night", summary.members)
    assert actions_for(detection, summary, seeded={summary.id: everyone}) == []


def test_a_seeded_community_comes_first_with_its_reason() -> None:
    found = [
        Suggestion("c-a", "A", 0.9, 40, [Reason("social", "x")]),
        Suggestion("c-new", "New", 0.1, 3),
        Suggestion("c-b", "B", 0.5, 12),
    ]
    offers = [SeedOffer("c-new", "New", 3, 6, 9), SeedOffer("c-other", "Other", 2, 0, 5)]
    ranked = put_first(found, offers, 3, explain=True)
    assert [s.community_id for s in ranked] == ["c-new", "c-other", "c-a"]
    assert ranked[0].reasons[0].text == "you talk with 6 of its first members"
    assert ranked[1].reasons[0].text == "created for a close group of 5 members you are part of"
    assert ranked[0].score > ranked[1].score > ranked[2].score
    assert put_first(found, [], 2, explain=True) == found[:2]
    assert put_first(found, offers, 3, explain=False)[0].reasons == []
