"""What a batch announces (score or level moved, back from slipping away, erased), and what it leaves unwritten."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import cast

import pytest

from kith_scoring.domain.config import TenantConfig
from kith_scoring.domain.docops import DocUpdate, apply_update
from kith_scoring.domain.documents import COMMUNITIES, MEMBER_COMMUNITIES, MEMBERS, MemberCommunityDoc
from kith_scoring.domain.effects import BatchEffects, EffectContext, build_effects
from kith_scoring.domain.engagement import (
    ENGAGEMENT_SOURCE,
    batch_change,
    engagement_change,
    erased_change,
    slipping_change,
    standing,
)
from kith_scoring.domain.slipping import SlippingMember
from kith_shared.events import Event
from kith_shared.events.types import EngagementChangedEvent
from services.scoring.tests.helpers import at, event

pytestmark = pytest.mark.unit

DEFAULTS = TenantConfig()
KEY = "acme|c1|m1"


def effects_of(*events: Event) -> BatchEffects:
    """Return the effects of a batch of events."""
    return build_effects(list(events), EffectContext(configs={}))


def update_of(*events: Event) -> DocUpdate:
    """Return the update a batch makes to member m1's document in community c1."""
    return effects_of(*events).updates[MEMBER_COMMUNITIES][KEY]


def stored(*events: Event) -> MemberCommunityDoc:
    """Return m1's document in c1 after a batch of events."""
    return cast("MemberCommunityDoc", apply_update(None, update_of(*events)))


def joined(hours: float) -> Event:
    return event("member.joined", at(0, hours), community_id="c1", member_id="m1")


def posted(days: float, hours: float = 0) -> Event:
    return event("post.created", at(days, hours), community_id="c1", member_id="m1", post_id="p1", text="hi")


def left(days: float) -> Event:
    return event("member.left", at(days), community_id="c1", member_id="m1")


def change_of(
    before: MemberCommunityDoc | None, update: DocUpdate, *, was_slipping: bool = False
) -> EngagementChangedEvent | None:
    """Return what a batch making ``update`` to m1's document announces."""
    return batch_change("acme", "c1", "m1", before, update, DEFAULTS, was_slipping=was_slipping, now=at(30))


def test_a_member_new_in_a_community_is_announced_with_no_previous_standing() -> None:
    change = batch_change(
        "acme", "c1", "m1", None, update_of(joined(9), posted(0, 10)), DEFAULTS, was_slipping=False, now=at(30)
    )
    assert change is not None
    assert change.data.state == "active"
    assert change.data.previous_score is None
    assert change.data.previous_level is None
    assert change.data.score == pytest.approx(1 * 2 ** (-1 / (7 * 24)) + 5, abs=1e-6)
    assert change.data.level == 1
    assert change.data.as_of == at(0, 10)  # the member's latest activity, not the clock
    assert change.source == ENGAGEMENT_SOURCE
    assert change.tenant == "acme"


def test_a_score_that_moved_is_announced_with_the_previous_one() -> None:
    before = stored(joined(9))
    snapshot = copy.deepcopy(before)
    change = change_of(before, update_of(posted(1)))
    assert change is not None
    assert change.data.previous_score == standing(before, DEFAULTS, at(1)).score
    assert change.data.score > (change.data.previous_score or 0)
    assert before == snapshot  # the stored document is left as it was


def test_an_update_that_moves_no_standing_is_not_announced_unless_the_member_was_slipping() -> None:
    before = stored(joined(9), posted(0, 10))
    leaving = update_of(left(1))  # weight 0: neither score nor level moves
    assert change_of(before, leaving) is None
    back = change_of(before, leaving, was_slipping=True)
    assert back is not None
    assert back.data.state == "back"
    assert back.data.score == back.data.previous_score


def test_announcements_have_ids_that_are_the_same_on_a_replay_and_differ_by_state() -> None:
    first = engagement_change("acme", "c1", "m1", 2.5, 1.0, 1, 0, "active", at(1))
    again = engagement_change("acme", "c1", "m1", 2.5, 1.0, 1, 0, "active", at(1))
    back = engagement_change("acme", "c1", "m1", 2.5, 1.0, 1, 0, "back", at(1))
    other_tenant = engagement_change("other", "c1", "m1", 2.5, 1.0, 1, 0, "active", at(1))
    assert first.id == again.id
    assert len({first.id, back.id, other_tenant.id}) == 3


def test_erasure_and_slipping_announcements_carry_their_state() -> None:
    erased = erased_change("acme", "c1", "m1", at(3))
    assert (erased.data.state, erased.data.score, erased.data.level) == ("erased", 0.0, 0)
    doc = stored(joined(9), posted(0, 10))
    member = SlippingMember(member_id="m1", score_then=5.0, score_now=0.5, last_active=at(0, 10), quiet_days=20.0)
    slipping = slipping_change("acme", "c1", member, doc, DEFAULTS, at(20))
    assert slipping.data.state == "slipping"
    assert (slipping.data.score, slipping.data.previous_score) == (0.5, 5.0)
    assert slipping.data.as_of == at(20)


def test_applying_an_update_leaves_the_document_as_it_was() -> None:
    before = stored(joined(9), posted(0, 10))
    snapshot = copy.deepcopy(before)
    after = apply_update(before, update_of(posted(0, 11), posted(1)))
    assert before == snapshot
    assert after["c"]["20261005"]["post_created"] == 2
    assert after["c"]["20261006"]["post_created"] == 1
    assert after["c"]["20261005"]["member_joined"] == 1


def test_roll_ups_are_written_only_for_members_new_in_a_community() -> None:
    effects = effects_of(
        posted(1), event("post.created", at(1), community_id="c1", member_id="m2", post_id="p2", text="hi")
    )
    known: dict[str, MemberCommunityDoc] = {
        KEY: stored(joined(9)),
        "acme|c1|m2": {"rr": 1},  # only replies received: not yet the member's own presence
    }
    effects.drop_known_roll_ups(known)
    assert sorted(effects.updates[MEMBERS]) == ["acme|m2"]


def test_community_marks_are_written_only_when_they_move_it_forward() -> None:
    created = event("community.created", at(0, 8), community_id="c2", name="Second")
    effects = effects_of(
        posted(1, 10),
        event("post.created", at(1, 10), community_id="c3", member_id="m1", post_id="p3", text="hi"),
        created,
    )
    marks: dict[str, datetime | None] = {"acme|c1": at(1, 10), "acme|c2": at(5), "acme|c3": at(1, 9)}
    effects.drop_stale_marks(marks)
    # c1: already there; c2: a profile to write, whatever the mark; c3: moves forward.
    assert sorted(effects.updates[COMMUNITIES]) == ["acme|c2", "acme|c3"]
