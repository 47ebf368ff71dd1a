"""A member's engagement: in one community (with the explanation of the score) and across communities."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, Field

from kith_scoring.domain.config import TenantConfig
from kith_scoring.domain.decay import active_days, level, rounded, score, score_parts, streak, type_name
from kith_scoring.domain.documents import MemberCommunityDoc


class RecentEvent(BaseModel):
    """An event that moved a score."""

    time: datetime
    type: str
    weight: float
    event_id: str


class Activity(BaseModel):
    """What a member did: counts by type, first and last activity, active days, streak, replies."""

    counts: dict[str, int]
    first_active: datetime | None
    last_active: datetime | None
    active_days: int
    streak: int
    replies_given: int
    replies_received: int


class MemberEngagement(Activity):
    """A member in one community."""

    community_id: str
    member_id: str
    score: float
    level: int
    is_member: bool
    joined_at: datetime | None


class Explanation(BaseModel):
    """Why a score is what it is."""

    half_life_days: float
    weights: dict[str, float]
    parts: dict[str, float] = Field(description="Decayed score contributed by each activity type.")
    recent_events: list[RecentEvent]


class ExplainedEngagement(MemberEngagement):
    """A member in one community, with the explanation of the score."""

    explanation: Explanation


class MemberSummary(Activity):
    """A member across every community of the tenant."""

    member_id: str
    as_of: datetime
    total_score: float
    communities: list[MemberEngagement]


def is_member(doc: MemberCommunityDoc) -> bool:
    """Tell whether the member's latest join is after their latest leave."""
    joined = doc.get("joined_last")
    left = doc.get("left_last")
    return joined is not None and (left is None or joined > left)


def counts_total(doc: MemberCommunityDoc) -> dict[str, int]:
    """Return counts by activity type over all days."""
    totals: dict[str, int] = {}
    for by_type in doc.get("c", {}).values():
        for tkey, n in by_type.items():
            totals[type_name(tkey)] = totals.get(type_name(tkey), 0) + int(n)
    return dict(sorted(totals.items()))


def engagement(doc: MemberCommunityDoc, config: TenantConfig, at: datetime) -> MemberEngagement:
    """Return a member's engagement in one community at ``at``."""
    days = active_days(doc.get("c", {}))
    return MemberEngagement(
        community_id=doc["community_id"],
        member_id=doc["member_id"],
        score=rounded(score(doc.get("f", {}), config, at)),
        level=level(doc, config, at),
        is_member=is_member(doc),
        counts=counts_total(doc),
        first_active=doc.get("first"),
        last_active=doc.get("last"),
        active_days=len(days),
        streak=streak(days, at),
        replies_given=int(doc.get("rg", 0)),
        replies_received=int(doc.get("rr", 0)),
        joined_at=doc.get("joined_first"),
    )


def explain(doc: MemberCommunityDoc, config: TenantConfig, at: datetime) -> ExplainedEngagement:
    """Return a member's engagement in one community with its explanation."""
    base = engagement(doc, config, at)
    current = config.at(at).config
    parts = {k: rounded(v) for k, v in sorted(score_parts(doc.get("f", {}), config, at).items())}
    recent = [
        RecentEvent(time=item["t"], type=item["type"], weight=item["weight"], event_id=item["event_id"])
        for item in doc.get("recent", [])
    ]
    return ExplainedEngagement(
        **base.model_dump(),
        explanation=Explanation(
            half_life_days=current.half_life_days, weights=current.weights, parts=parts, recent_events=recent
        ),
    )


def summary(member: str, docs: Sequence[MemberCommunityDoc], config: TenantConfig, at: datetime) -> MemberSummary:
    """Return a member's engagement rolled up across communities."""
    views = sorted((engagement(d, config, at) for d in docs), key=lambda v: (-v.score, v.community_id))
    counts: dict[str, int] = {}
    days: set[str] = set()
    for doc in docs:
        for name, n in counts_total(doc).items():
            counts[name] = counts.get(name, 0) + n
        days.update(active_days(doc.get("c", {})))
    firsts = [v.first_active for v in views if v.first_active is not None]
    lasts = [v.last_active for v in views if v.last_active is not None]
    return MemberSummary(
        member_id=member,
        as_of=at,
        total_score=rounded(sum(v.score for v in views)),
        communities=views,
        counts=dict(sorted(counts.items())),
        first_active=min(firsts) if firsts else None,
        last_active=max(lasts) if lasts else None,
        active_days=len(days),
        streak=streak(days, at),
        replies_given=sum(v.replies_given for v in views),
        replies_received=sum(v.replies_received for v in views),
    )
