"""Read-side views computed from stored figures: member engagement and community metrics.

All functions take plain documents and an ``as_of`` instant, so the same figures give the same
answers, and tests need neither a server nor a clock.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from pydantic import BaseModel, Field

from kith_scoring.domain.config import TenantConfig
from kith_scoring.domain.decay import DAY, active_days, day_key, day_start, level, score, score_parts, streak, type_name
from kith_scoring.domain.effects import EXCLUDED_ROLES, PLATFORM_SCOPE, role_of

Document = dict[str, Any]
DIGITS: Final = 6


def _round(value: float) -> float:
    return round(value, DIGITS)


class RecentEvent(BaseModel):
    """An event that moved a score."""

    time: datetime
    type: str
    weight: float
    event_id: str


class MemberEngagement(BaseModel):
    """A member in one community."""

    community_id: str
    member_id: str
    score: float
    level: int
    is_member: bool
    counts: dict[str, int]
    first_active: datetime | None
    last_active: datetime | None
    active_days: int
    streak: int
    replies_given: int
    replies_received: int
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


class MemberSummary(BaseModel):
    """A member across every community of the tenant."""

    member_id: str
    as_of: datetime
    total_score: float
    communities: list[MemberEngagement]
    counts: dict[str, int]
    first_active: datetime | None
    last_active: datetime | None
    active_days: int
    streak: int
    replies_given: int
    replies_received: int


def is_member(doc: Mapping[str, Any]) -> bool:
    """Tell whether the member's latest join is after their latest leave."""
    joined = doc.get("joined_last")
    left = doc.get("left_last")
    return joined is not None and (left is None or joined > left)


def counts_total(doc: Mapping[str, Any]) -> dict[str, int]:
    """Return counts by activity type over all days."""
    totals: dict[str, int] = {}
    for by_type in doc.get("c", {}).values():
        for tkey, n in by_type.items():
            totals[type_name(tkey)] = totals.get(type_name(tkey), 0) + int(n)
    return dict(sorted(totals.items()))


def engagement(doc: Mapping[str, Any], config: TenantConfig, at: datetime) -> MemberEngagement:
    """Return a member's engagement in one community at ``at``."""
    days = active_days(doc.get("c", {}))
    return MemberEngagement(
        community_id=doc["community_id"],
        member_id=doc["member_id"],
        score=_round(score(doc.get("f", {}), config, at)),
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


def explain(doc: Mapping[str, Any], config: TenantConfig, at: datetime) -> ExplainedEngagement:
    """Return a member's engagement in one community with its explanation."""
    base = engagement(doc, config, at)
    current = config.at(at).config
    parts = {k: _round(v) for k, v in sorted(score_parts(doc.get("f", {}), config, at).items())}
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


def summary(member: str, docs: Sequence[Mapping[str, Any]], config: TenantConfig, at: datetime) -> MemberSummary:
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
        total_score=_round(sum(v.score for v in views)),
        communities=views,
        counts=dict(sorted(counts.items())),
        first_active=min(firsts) if firsts else None,
        last_active=max(lasts) if lasts else None,
        active_days=len(days),
        streak=streak(days, at),
        replies_given=sum(v.replies_given for v in views),
        replies_received=sum(v.replies_received for v in views),
    )


def excluded_members(roles: Iterable[Mapping[str, Any]], community: str) -> set[str]:
    """Return the members marked staff or bot, platform-wide or in ``community``."""
    latest: dict[tuple[str, str], str | None] = {}
    for doc in roles:
        if doc.get("scope") in (PLATFORM_SCOPE, community):
            latest[(doc["member_id"], doc["scope"])] = role_of(doc.get("latest"))
    return {member for (member, _), role in latest.items() if role in EXCLUDED_ROLES}


# --- community metrics ---------------------------------------------------------------------------


class LeaderboardEntry(BaseModel):
    """A member's place in a community."""

    rank: int
    member_id: str
    score: float
    level: int
    last_active: datetime | None


class Leaderboard(BaseModel):
    """A page of a community's leaderboard."""

    community_id: str
    as_of: datetime
    total: int
    offset: int
    limit: int
    entries: list[LeaderboardEntry]


class Trend(BaseModel):
    """A topic or hashtag and how its use moved."""

    name: str
    kind: str
    count: int
    previous: int
    growth: float | None = Field(description="(count - previous) / previous; None when new.")


class SlippingMember(BaseModel):
    """A formerly top-quartile member who has gone quiet."""

    member_id: str
    score_then: float
    score_now: float
    last_active: datetime | None
    quiet_days: float


class HealthPart(BaseModel):
    """One visible part of the health score."""

    name: str
    value: float | None
    weight: float
    explanation: str


class Health(BaseModel):
    """A 0-100 health score and the parts it averages."""

    score: float | None
    parts: list[HealthPart]


class CommunityMetrics(BaseModel):
    """A community's metrics over a window ending at ``as_of``."""

    community_id: str
    as_of: datetime
    window_days: int
    members: int
    new_members: int
    members_left: int
    active_members: int
    dau: int
    wau: int
    mau: int
    retention: float | None
    posts: int
    response_rate: float | None
    median_first_response_seconds: float | None
    user_generated_share: float | None
    top_contributors: list[LeaderboardEntry]
    trending: list[Trend]
    health: Health
    slipping_away: list[SlippingMember]
    excluded_members: int


def window_days(at: datetime, days: int) -> list[str]:
    """Return the ``days`` UTC days ending with the day of ``at``."""
    last = day_start(day_key(at))
    return [day_key(last - DAY * i) for i in range(days)]


def _active_in(doc: Mapping[str, Any], days: Iterable[str]) -> bool:
    counts: Mapping[str, Mapping[str, int]] = doc.get("c", {})
    return any(any(n > 0 for t, n in counts.get(d, {}).items() if t != "member_left") for d in days)


def _content(doc: Mapping[str, Any], days: Iterable[str]) -> int:
    counts: Mapping[str, Mapping[str, int]] = doc.get("c", {})
    return sum(int(counts.get(d, {}).get(t, 0)) for d in days for t in ("post_created", "comment_created"))


def leaderboard_entries(
    docs: Iterable[Mapping[str, Any]], config: TenantConfig, at: datetime
) -> list[LeaderboardEntry]:
    """Return every named member ranked by score (ties by member id)."""
    scored = [(score(d.get("f", {}), config, at), d) for d in docs if not d.get("anonymous")]
    scored.sort(key=lambda pair: (-_round(pair[0]), pair[1]["member_id"]))
    return [
        LeaderboardEntry(
            rank=i + 1,
            member_id=d["member_id"],
            score=_round(s),
            level=level(d, config, at),
            last_active=d.get("last"),
        )
        for i, (s, d) in enumerate(scored)
    ]


def slipping_away(
    docs: Iterable[Mapping[str, Any]], config: TenantConfig, at: datetime, quiet_days: int
) -> list[SlippingMember]:
    """Return members in the top quartile ``quiet_days`` ago who have not been active since."""
    then = at - timedelta(days=quiet_days)
    candidates = [d for d in docs if not d.get("anonymous") and is_member(d)]
    scored = [(score(d.get("f", {}), config, then), d) for d in candidates]
    scored = [pair for pair in scored if pair[0] > 0]
    if not scored:
        return []
    scored.sort(key=lambda pair: (-_round(pair[0]), pair[1]["member_id"]))
    top = scored[: math.ceil(len(scored) / 4)]
    slipping = []
    for then_score, doc in top:
        last = doc.get("last")
        if last is None or last <= then:
            slipping.append(
                SlippingMember(
                    member_id=doc["member_id"],
                    score_then=_round(then_score),
                    score_now=_round(score(doc.get("f", {}), config, at)),
                    last_active=last,
                    quiet_days=_round((at - last).total_seconds() / 86_400) if last else float(quiet_days),
                )
            )
    return slipping


def trending(topic_docs: Iterable[Mapping[str, Any]], at: datetime, days: int, limit: int = 10) -> list[Trend]:
    """Return hashtags and keywords most used in the window, with growth against the window before."""
    current_days = set(window_days(at, days))
    previous_days = set(window_days(at - DAY * days, days))
    tallies: dict[tuple[str, str], list[int]] = {}
    for doc in topic_docs:
        slot = 0 if doc["day"] in current_days else 1 if doc["day"] in previous_days else None
        if slot is None:
            continue
        for field, kind in (("h", "hashtag"), ("k", "keyword")):
            for name, n in doc.get(field, {}).items():
                tallies.setdefault((kind, name), [0, 0])[slot] += int(n)
    trends = [
        Trend(name=name, kind=kind, count=cur, previous=prev, growth=_round((cur - prev) / prev) if prev else None)
        for (kind, name), (cur, prev) in tallies.items()
        if cur > 0
    ]
    trends.sort(key=lambda t: (-t.count, -(t.growth if t.growth is not None else math.inf), t.kind, t.name))
    return trends[:limit]


def community_metrics(
    community: str,
    docs: Sequence[Mapping[str, Any]],
    roles: Sequence[Mapping[str, Any]],
    topic_docs: Sequence[Mapping[str, Any]],
    pseudonym: Callable[[str], str],
    config: TenantConfig,
    at: datetime,
    days: int,
    quiet_days: int,
    top: int = 5,
) -> CommunityMetrics:
    """Return a community's metrics over the ``days`` ending at ``at``, staff and bots left out.

    ``topic_docs`` are the community's day documents of the window (and of the one before, for
    growth); ``pseudonym`` maps a member id to the stand-in id posts' authors and responders are
    recorded under.
    """
    excluded = excluded_members(roles, community)
    regular = [d for d in docs if d["member_id"] not in excluded]
    current = window_days(at, days)
    previous = window_days(at - DAY * days, days)
    start = day_start(current[-1])

    def count(predicate: Any) -> int:
        return sum(1 for d in regular if predicate(d))

    active_now = {d["member_id"] for d in regular if _active_in(d, current)}
    active_before = {d["member_id"] for d in regular if _active_in(d, previous)}
    retention = _round(len(active_now & active_before) / len(active_before)) if active_before else None

    all_content = sum(_content(d, current) for d in docs)
    ugc = _round(sum(_content(d, current) for d in regular) / all_content) if all_content else None

    delays = response_delays(topic_docs, current, at, {pseudonym(m) for m in excluded})
    answered = [d for d in delays if d is not None]
    response_rate = _round(len(answered) / len(delays)) if delays else None
    median_response = _round(statistics.median(answered)) if answered else None

    members = count(is_member)
    new_members = count(lambda d: d.get("joined_first") is not None and start <= d["joined_first"] <= at)
    left = count(lambda d: not is_member(d) and d.get("left_last") is not None and start <= d["left_last"] <= at)
    wau = count(lambda d: _active_in(d, window_days(at, 7)))
    board = leaderboard_entries(regular, config, at)
    health = health_score(
        members=members, wau=wau, retention=retention, response_rate=response_rate, ugc=ugc, new=new_members, left=left
    )
    return CommunityMetrics(
        community_id=community,
        as_of=at,
        window_days=days,
        members=members,
        new_members=new_members,
        members_left=left,
        active_members=len(active_now),
        dau=count(lambda d: _active_in(d, window_days(at, 1))),
        wau=wau,
        mau=count(lambda d: _active_in(d, window_days(at, 30))),
        retention=retention,
        posts=len(delays),
        response_rate=response_rate,
        median_first_response_seconds=median_response,
        user_generated_share=ugc,
        top_contributors=[e for e in board if e.score > 0][:top],
        trending=trending(topic_docs, at, days),
        health=health,
        slipping_away=slipping_away(regular, config, at, quiet_days),
        excluded_members=len({d["member_id"] for d in docs} & excluded),
    )


HEALTH_WEIGHTS: Final = {"activity": 0.3, "retention": 0.25, "responsiveness": 0.2, "growth": 0.15, "ownership": 0.1}


def response_delays(
    topic_docs: Iterable[Mapping[str, Any]], days: Sequence[str], at: datetime, excluded: set[str]
) -> list[float | None]:
    """Return, for each post created on ``days`` up to ``at`` (not by ``excluded``, not deleted by then),
    the seconds to its first comment by another member, or None when it has none yet."""
    wanted = set(days)
    created: dict[str, datetime] = {}
    authors: dict[str, str] = {}
    deleted: set[str] = set()
    first: dict[str, dict[str, datetime]] = {}
    for doc in topic_docs:
        if doc.get("day") not in wanted:
            continue
        for post, t in doc.get("pc", {}).items():
            if t <= at:
                created[post] = min(t, created.get(post, t))
        authors.update(doc.get("pa", {}))
        deleted.update(post for post, t in doc.get("pd", {}).items() if t <= at)
        for post, responders in doc.get("fc", {}).items():
            mine = first.setdefault(post, {})
            for who, t in responders.items():
                if t <= at:
                    mine[who] = min(t, mine.get(who, t))
    delays: list[float | None] = []
    for post, t in sorted(created.items()):
        author = authors.get(post)
        if post in deleted or author in excluded:
            continue
        others = [r for who, r in first.get(post, {}).items() if who != author and r >= t]
        delays.append((min(others) - t).total_seconds() if others else None)
    return delays


def health_score(
    *,
    members: int,
    wau: int,
    retention: float | None,
    response_rate: float | None,
    ugc: float | None,
    new: int,
    left: int,
) -> Health:
    """Return a 0-100 health score: a weighted mean of the parts that can be measured."""
    parts = [
        HealthPart(
            name="activity",
            value=_round(min(1.0, wau / members)) if members else None,
            weight=HEALTH_WEIGHTS["activity"],
            explanation="share of members active in the last 7 days",
        ),
        HealthPart(
            name="retention",
            value=retention,
            weight=HEALTH_WEIGHTS["retention"],
            explanation="share of the previous window's active members active again",
        ),
        HealthPart(
            name="responsiveness",
            value=response_rate,
            weight=HEALTH_WEIGHTS["responsiveness"],
            explanation="share of the window's posts that got a reply from another member",
        ),
        HealthPart(
            name="growth",
            value=_round(new / (new + left)) if new + left else None,
            weight=HEALTH_WEIGHTS["growth"],
            explanation="members who joined, as a share of those who joined or left in the window",
        ),
        HealthPart(
            name="ownership",
            value=ugc,
            weight=HEALTH_WEIGHTS["ownership"],
            explanation="share of posts and comments written by members rather than staff or bots",
        ),
    ]
    measured = [p for p in parts if p.value is not None]
    total_weight = sum(p.weight for p in measured)
    value = _round(100 * sum(p.weight * (p.value or 0.0) for p in measured) / total_weight) if total_weight else None
    return Health(score=value, parts=parts)


def community_profile(doc: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return a community's latest known profile (name, topics, visibility)."""
    if not doc:
        return {}
    profile: dict[str, Any] = {}
    stored = doc.get("profile", {})
    for key in ("community_created", "community_updated"):
        raw = stored.get(key)
        if raw:
            profile.update(json.loads(raw.split("|", 1)[1]))
    return profile
