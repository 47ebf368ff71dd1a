"""Scoring's date arithmetic at the edges of what the contract admits: years 1 and 9999, in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kith_scoring.domain.community import community_metrics, leaderboard_entries
from kith_scoring.domain.config import ScoringConfig, TenantConfig
from kith_scoring.domain.decay import day_key, level, period_start, streak, window_days
from kith_scoring.domain.docops import apply_update
from kith_scoring.domain.documents import COMMUNITY_DAYS, MEMBER_COMMUNITIES, CommunityDayDoc, MemberCommunityDoc
from kith_scoring.domain.effects import EffectContext, build_effects
from kith_scoring.domain.identity import stamp
from kith_scoring.domain.members import explain, summary
from kith_scoring.domain.slipping import slipping_away
from kith_scoring.domain.topics import trending
from kith_shared.events import SCHEMA_VERSION, Event
from kith_shared.events.types import EVENT_ADAPTER
from services.scoring.tests.helpers import reply_to

pytestmark = pytest.mark.unit

FIRST = datetime(1, 1, 1, tzinfo=UTC)
LAST = datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
EDGES = [FIRST, FIRST + timedelta(days=1), datetime(1, 3, 1, 12, tzinfo=UTC), LAST - timedelta(days=1), LAST]


def test_day_keys_and_stamps_keep_four_digit_years_so_they_sort() -> None:
    assert day_key(FIRST + timedelta(days=1)) == "00010102"
    assert stamp(FIRST) == "0001-01-01T00:00:00.000000Z"
    assert sorted([day_key(LAST), day_key(FIRST), day_key(datetime(2026, 1, 1, tzinfo=UTC))]) == [
        "00010101",
        "20260101",
        "99991231",
    ]


@pytest.mark.parametrize("period_days", [1, 7, 30, 90])
def test_periods_windows_and_streaks_stop_at_year_one(period_days: int) -> None:
    for instant in EDGES:
        start = period_start(instant, period_days)
        assert start <= instant
        assert len(window_days(instant, 365)) == min(365, (instant - FIRST).days + 1)
    assert window_days(FIRST, 7) == ["00010101"]
    assert streak(["00010101", "00010102"], FIRST + timedelta(days=1, hours=3)) == 2
    assert streak(["00010101"], FIRST) == 1


def event(event_type: str, when: datetime, **data: object) -> Event:
    """Build a normalized event received at the instant it happened (no later instant may exist)."""
    raw = {"id": f"{event_type}-{when.isoformat()}", "source": "app://tests", "type": event_type}
    parsed = EVENT_ADAPTER.validate_python({**raw, "time": when, "tenant": "acme", "data": data})
    return parsed.model_copy(update={"receivedtime": when, "schemaversion": SCHEMA_VERSION})


def _docs(events: list[Event]) -> tuple[list[MemberCommunityDoc], list[CommunityDayDoc]]:
    effects = build_effects(events, EffectContext(configs={}))
    members = [apply_update(None, u) for u in effects.updates[MEMBER_COMMUNITIES].values()]
    days = [apply_update(None, u) for u in effects.updates[COMMUNITY_DAYS].values()]
    return members, days  # type: ignore[return-value]


@pytest.mark.parametrize("when", EDGES, ids=lambda instant: instant.isoformat())
def test_every_read_holds_for_events_and_instants_at_the_edges(when: datetime) -> None:
    config = TenantConfig(
        versions=[TenantConfig().versions[0].model_copy(update={"config": ScoringConfig(level_period_days=90)})]
    )
    events = [
        event("member.joined", when, community_id="c1", member_id="m1"),
        event("post.created", when, community_id="c1", member_id="m1", post_id="p1", text="#edge of time"),
        event("comment.created", when, **reply_to("m2", "m1")),
    ]
    members, days = _docs(events)
    assert len(members) == 2
    for as_of in EDGES:
        metrics = community_metrics("c1", members, [], days, lambda m: m, config, as_of, 365, 28)
        assert metrics.as_of == as_of
        leaderboard_entries(members, config, as_of)
        slipping_away(members, config, as_of, 28)
        trending(days, as_of, 365)
        summary("m1", members, config, as_of)
        for doc in members:
            explain(doc, config, as_of)
            assert level(doc, config, as_of) >= 0
    seen_now = community_metrics("c1", members, [], days, lambda m: m, config, when, 7, 14)
    assert (seen_now.members, seen_now.active_members, seen_now.posts) == (1, 2, 1)
