"""A community's metrics over a window: members, activity, retention, responses, leaderboard, health."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from kith_scoring.domain.config import TenantConfig
from kith_scoring.domain.decay import DAY, day_start, earlier, level, rounded, score, window_days
from kith_scoring.domain.documents import CommunityDayDoc, CommunityDoc, MemberCommunityDoc, RoleDoc
from kith_scoring.domain.health import Health, health_score
from kith_scoring.domain.members import is_member
from kith_scoring.domain.roles import excluded_members
from kith_scoring.domain.slipping import SlippingMember, slipping_away
from kith_scoring.domain.topics import Trend, response_delays, trending


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


def _active_in(doc: MemberCommunityDoc, days: Iterable[str]) -> bool:
    counts = doc.get("c", {})
    return any(any(n > 0 for t, n in counts.get(d, {}).items() if t != "member_left") for d in days)


def _content(doc: MemberCommunityDoc, days: Iterable[str]) -> int:
    counts = doc.get("c", {})
    return sum(int(counts.get(d, {}).get(t, 0)) for d in days for t in ("post_created", "comment_created"))


def regular_members(
    docs: Iterable[MemberCommunityDoc], roles: Iterable[RoleDoc], community: str
) -> list[MemberCommunityDoc]:
    """Return the member-in-community documents of members who are neither staff nor bots."""
    excluded = excluded_members(roles, community)
    return [d for d in docs if d["member_id"] not in excluded]


def leaderboard_entries(
    docs: Iterable[MemberCommunityDoc], config: TenantConfig, at: datetime
) -> list[LeaderboardEntry]:
    """Return every named member ranked by score (ties by member id)."""
    scored = [(score(d.get("f", {}), config, at), d) for d in docs if not d.get("anonymous")]
    scored.sort(key=lambda pair: (-rounded(pair[0]), pair[1]["member_id"]))
    return [
        LeaderboardEntry(
            rank=i + 1,
            member_id=d["member_id"],
            score=rounded(s),
            level=level(d, config, at),
            last_active=d.get("last"),
        )
        for i, (s, d) in enumerate(scored)
    ]


def community_metrics(
    community: str,
    docs: Sequence[MemberCommunityDoc],
    roles: Sequence[RoleDoc],
    topic_docs: Sequence[CommunityDayDoc],
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
    previous = window_days(earlier(at, DAY * days), days)
    start = day_start(current[-1])

    def count(predicate: Callable[[MemberCommunityDoc], bool]) -> int:
        return sum(1 for d in regular if predicate(d))

    active_now = {d["member_id"] for d in regular if _active_in(d, current)}
    active_before = {d["member_id"] for d in regular if _active_in(d, previous)}
    retention = rounded(len(active_now & active_before) / len(active_before)) if active_before else None

    all_content = sum(_content(d, current) for d in docs)
    ugc = rounded(sum(_content(d, current) for d in regular) / all_content) if all_content else None

    delays = response_delays(topic_docs, current, at, {pseudonym(m) for m in excluded})
    answered = [d for d in delays if d is not None]
    response_rate = rounded(len(answered) / len(delays)) if delays else None
    median_response = rounded(statistics.median(answered)) if answered else None

    def joined_in_window(d: MemberCommunityDoc) -> bool:
        joined = d.get("joined_first")
        return joined is not None and start <= joined <= at

    def left_in_window(d: MemberCommunityDoc) -> bool:
        left = d.get("left_last")
        return not is_member(d) and left is not None and start <= left <= at

    members = count(is_member)
    new_members = count(joined_in_window)
    left = count(left_in_window)
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


def community_profile(doc: CommunityDoc | None) -> dict[str, Any]:
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
