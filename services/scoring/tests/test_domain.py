"""Pure scoring logic: forward decay, levels, streaks, commutative effects, community views."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from kith_scoring.domain.config import ScoringConfig, TenantConfig
from kith_scoring.domain.decay import day_key, forward_term, level, score, streak, window_days
from kith_scoring.domain.docops import DocUpdate, apply_update
from kith_scoring.domain.documents import (
    COMMUNITY_DAYS,
    MEMBER_COMMUNITIES,
    CommunityDayDoc,
    CommunityDoc,
    MemberCommunityDoc,
)
from kith_scoring.domain.effects import EffectContext, build_effects
from kith_scoring.domain.identity import anonymous_token
from kith_scoring.domain.slipping import slipping_away, sweep_instants
from kith_scoring.domain.topics import response_delays, trending
from services.scoring.tests.helpers import at, event, reply_to

pytestmark = pytest.mark.unit

DEFAULTS = TenantConfig()


def buckets_of(events: list[tuple[datetime, float]], half_life: float = 7.0) -> dict[str, dict[str, float]]:
    """Fold (time, weight) pairs into day buckets the way the consumer does."""
    doc: dict[str, dict[str, float]] = {}
    for when, weight in events:
        day = doc.setdefault(day_key(when), {})
        day["0:post_created"] = day.get("0:post_created", 0.0) + forward_term(weight, when, half_life)
    return doc


def test_day_buckets_are_exactly_exponential_decay() -> None:
    events = [(at(0, 3), 5.0), (at(2, 17.5), 3.0), (at(9, 1), 1.0)]
    now = at(12, 6)
    expected = sum(w * 2 ** (-(now - t).total_seconds() / (7 * 86_400)) for t, w in events)
    assert score(buckets_of(events), DEFAULTS, now) == pytest.approx(expected, rel=1e-12)


def test_scores_stay_in_float_range_for_decades() -> None:
    config = TenantConfig(
        versions=[DEFAULTS.versions[0].model_copy(update={"config": ScoringConfig(half_life_days=1)})]
    )
    late = datetime(2090, 6, 1, 23, 59, tzinfo=UTC)
    value = score(buckets_of([(late, 5.0)], half_life=1), config, late + timedelta(hours=1))
    assert value == pytest.approx(5.0 * 2 ** (-1 / 24), rel=1e-9)


def test_events_after_the_evaluation_instant_do_not_count() -> None:
    assert score(buckets_of([(at(3), 5.0)]), DEFAULTS, at(1)) == 0.0


def test_level_is_promoted_at_once_and_demoted_only_at_a_period_end() -> None:
    # Monday 2026-10-05: 25 points (level 2 needs 20). Periods are ISO weeks.
    buckets = buckets_of([(at(0, 9), 25.0)])
    doc: MemberCommunityDoc = {"f": buckets, "lt": {day_key(at(0, 9)): at(0, 9)}}
    assert level(doc, DEFAULTS, at(0, 8)) == 0  # before the event
    assert level(doc, DEFAULTS, at(0, 9)) == 2  # promoted at once
    assert score(buckets, DEFAULTS, at(6, 23)) < 20  # decayed under the threshold by Sunday...
    assert level(doc, DEFAULTS, at(6, 23)) == 2  # ...but the level holds until the period ends
    assert level(doc, DEFAULTS, at(7, 1)) == 1  # next Monday: demoted to what the score then reaches


def test_level_thresholds_come_from_the_configuration() -> None:
    config = ScoringConfig(level_thresholds=[1, 2, 3])
    assert [config.level_for(s) for s in (0.5, 1, 2.5, 100)] == [0, 1, 2, 3]


def test_streak_counts_consecutive_days_ending_today_or_yesterday() -> None:
    days = ["20261001", "20261003", "20261004", "20261005"]
    assert streak(days, datetime(2026, 10, 5, 12, tzinfo=UTC)) == 3
    assert streak(days, datetime(2026, 10, 6, 12, tzinfo=UTC)) == 3
    assert streak(days, datetime(2026, 10, 7, 12, tzinfo=UTC)) == 0


def test_configuration_refuses_unknown_types_and_unordered_thresholds() -> None:
    with pytest.raises(ValidationError, match="unknown activity types"):
        ScoringConfig(weights={"post.liked": 1.0})
    with pytest.raises(ValidationError, match="strictly increasing"):
        ScoringConfig(level_thresholds=[5, 5])
    with pytest.raises(ValidationError):
        ScoringConfig(half_life_days=0.1)


def test_configuration_versions_apply_from_their_instant() -> None:
    history = DEFAULTS.with_update(ScoringConfig(half_life_days=30), at(5), "key-1")
    assert history.at(at(4)).version == 0
    assert history.at(at(5)).config.half_life_days == 30
    assert history.current.changed_by == "key-1"


def _events() -> list[object]:
    return [
        event("member.joined", at(0, 1), community_id="c1", member_id="m1"),
        event("post.created", at(0, 2), community_id="c1", member_id="m1", post_id="p1", text="#a hello"),
        event("comment.created", at(0, 3), **reply_to("m2", "m1", comment_id="k")),
        event("reaction.added", at(1, 3), community_id="c1", member_id="m2", target_id="p1"),
        event("reaction.removed", at(1, 4), community_id="c1", member_id="m2", target_id="p1"),
        event("member.left", at(2, 4), community_id="c1", member_id="m2"),
        event("member.role.set", at(0, 0), member_id="m2", role="staff"),
        event("member.role.set", at(3, 0), member_id="m2", role="member"),
    ]


def _fold(events: list[object], batch: int) -> dict[str, dict[str, object]]:
    docs: dict[str, dict[str, object]] = {}
    context = EffectContext(configs={})
    for start in range(0, len(events), batch):
        effects = build_effects(events[start : start + batch], context)  # type: ignore[arg-type]
        for collection, updates in effects.updates.items():
            for doc_id, update in updates.items():
                key = f"{collection}/{doc_id}"
                docs[key] = apply_update(docs.get(key), update)
    return docs


def _rounded(value: object) -> object:
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return sorted((_rounded(v) for v in value), key=repr)
    if isinstance(value, float):
        return round(value, 9)
    return value


def test_effects_are_the_same_in_any_order_and_batching() -> None:
    events = _events()
    reference = _rounded(_fold(events, len(events)))
    rng = random.Random(5)
    for _ in range(20):
        shuffled = list(events)
        rng.shuffle(shuffled)
        assert _rounded(_fold(shuffled, rng.randint(1, len(events)))) == reference


def test_effects_of_a_batch_touch_each_document_once() -> None:
    effects = build_effects(_events(), EffectContext(configs={}))  # type: ignore[arg-type]
    member_docs = effects.updates[MEMBER_COMMUNITIES]
    assert sorted(member_docs) == ["acme|c1|m1", "acme|c1|m2"]
    m1 = member_docs["acme|c1|m1"]
    assert m1.inc["rr"] == 1
    assert m1.inc["c.20261005.post_created"] == 1


def test_last_role_by_event_time_wins_whatever_the_order() -> None:
    events = _events()
    docs = _fold(list(reversed(events)), 1)
    assert str(docs["roles/acme|*|m2"]["latest"]).endswith("|member")


def test_erased_members_are_kept_under_a_stand_in_that_is_not_their_id() -> None:
    token = anonymous_token("salt", "acme", "m1")
    assert token.startswith("anon-")
    assert "m1" not in token
    assert token != anonymous_token("other-salt", "acme", "m1")
    context = EffectContext(configs={}, erased={("acme", "m1"): token})
    effects = build_effects(_events()[:2], context)  # type: ignore[arg-type]
    assert list(effects.updates[MEMBER_COMMUNITIES]) == [f"acme|c1|{token}"]
    assert not effects.updates["members"]
    assert not effects.touched


def test_capped_push_keeps_the_latest_items_in_any_order() -> None:
    items = [{"t": i, "id": str(i)} for i in range(30)]
    random.Random(3).shuffle(items)
    doc: dict[str, object] | None = None
    for item in items:
        update = DocUpdate()
        update.push_capped("recent", [item], ("t", "id"), 5)
        doc = apply_update(doc, update)
    assert doc is not None
    assert [i["t"] for i in doc["recent"]] == [29, 28, 27, 26, 25]  # type: ignore[attr-defined]


def test_slipping_away_means_formerly_top_quartile_and_quiet_since() -> None:
    docs: list[MemberCommunityDoc] = []
    for index in range(8):
        last = at(0, 1) if index == 0 else at(20, 1)
        activity = [(at(0, 1), 50.0 if index == 0 else 1.0)] + ([] if index == 0 else [(at(20, 1), 1.0)])
        docs.append(
            {
                "member_id": f"m{index}",
                "f": buckets_of(activity),
                "last": last,
                "joined_last": at(0),
                "anonymous": False,
            }
        )
    slipping = slipping_away(docs, DEFAULTS, at(21), quiet_days=14)
    assert [s.member_id for s in slipping] == ["m0"]
    assert slipping_away(docs, DEFAULTS, at(21), quiet_days=28) == []


def test_trending_compares_with_the_window_before() -> None:
    topic_docs: list[CommunityDayDoc] = [
        {"day": day_key(at(9)), "h": {"climbing": 4, "yoga": 1}},
        {"day": day_key(at(2)), "h": {"climbing": 2}},
    ]
    trends = trending(topic_docs, at(9, 12), days=7)
    assert [(t.name, t.count, t.previous, t.growth) for t in trends] == [("climbing", 4, 2, 1.0), ("yoga", 1, 0, None)]


def test_posts_response_delays_come_from_the_day_documents() -> None:
    def post(when: datetime, member: str, post_id: str) -> object:
        return event("post.created", when, community_id="c1", member_id=member, post_id=post_id, text="hello")

    def comment(when: datetime, member: str, post_id: str) -> object:
        return event(
            "comment.created", when, community_id="c1", member_id=member, post_id=post_id, comment_id="k", text="hi"
        )

    events = [
        post(at(1, 9), "m1", "p1"),
        comment(at(1, 9.5), "m1", "p1"),  # the author's own comment is no response
        comment(at(2, 10), "m2", "p1"),  # answered 25 h later, on another day
        comment(at(2, 11), "m3", "p1"),
        post(at(2, 8), "m2", "p2"),  # never answered
        post(at(2, 9), "bot", "p3"),  # left out: a bot's
        comment(at(2, 9.1), "m1", "p3"),
        post(at(2, 12), "m3", "p4"),  # deleted: left out
        comment(at(2, 12.5), "m1", "p4"),
        event("post.deleted", at(2, 13), community_id="c1", member_id="m3", post_id="p4"),
        comment(at(0, 5), "m2", "p-old"),  # a post from before the window
    ]
    context = EffectContext(configs={}, salt="s")
    docs = {
        doc_id: apply_update(None, update)
        for doc_id, update in build_effects(events, context).updates[COMMUNITY_DAYS].items()  # type: ignore[arg-type]
    }
    assert all("m1" not in str(doc) and "m2" not in str(doc) for doc in docs.values())  # stand-in ids only
    days = window_days(at(2, 23), 2)
    excluded = {anonymous_token("s", "acme", "bot")}

    def delays(as_of: datetime) -> list[float | None]:
        found = response_delays(docs.values(), days, as_of, excluded)  # type: ignore[arg-type]
        return sorted(found, key=lambda d: (d is None, d or 0.0))

    assert delays(at(2, 23)) == [25 * 3600.0, None]
    # As of an earlier instant, later comments, deletions and posts do not count yet.
    assert delays(at(2, 12.7)) == [1800.0, 25 * 3600.0, None]
    assert delays(at(2, 9.9)) == [None, None]


def test_the_sweep_looks_at_every_community_as_of_its_tenants_latest_activity() -> None:
    places: list[CommunityDoc] = [
        {"_id": "a:quiet", "tenant": "a", "community_id": "quiet", "last_event": at(0)},
        {"_id": "a:busy", "tenant": "a", "community_id": "busy", "last_event": at(20)},
        {"_id": "b:only", "tenant": "b", "community_id": "only", "last_event": at(3)},
        {"_id": "b:never", "tenant": "b", "community_id": "never"},
    ]
    looked = {place["_id"]: when for place, when in sweep_instants(places)}
    assert looked == {"a:quiet": at(20), "a:busy": at(20), "b:only": at(3)}
