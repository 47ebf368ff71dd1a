"""Tenant-wide figures over time, from what scoring stores: members, activity, responses, cohorts, communities.

Everything here reads the same stored documents as a community's metrics (member-in-community
counts by UTC day, joins and leaves, community day documents), for every community of a tenant at
once. :class:`TenantIndex` folds them once; the figures of any span are then a few set unions.

Membership over time is known from each member's first join, latest join and latest leave in each
community: a member counts from their first join, until their latest leave when they have not
joined again since. A member who left and came back in between is counted throughout.
"""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from pydantic import BaseModel, Field

from kith_scoring.domain.community import community_profile
from kith_scoring.domain.decay import DAY, day_key, day_start, rounded
from kith_scoring.domain.documents import CommunityDayDoc, CommunityDoc, MemberCommunityDoc, RoleDoc
from kith_scoring.domain.health import health_score
from kith_scoring.domain.periods import Period, Span
from kith_scoring.domain.roles import PLATFORM_SCOPE, excluded_members
from kith_scoring.domain.topics import Trend, response_delays, trending

_CONTENT: Final = ("post_created", "comment_created")
#: Health bands of the distribution, as (lowest score, label); a score belongs to the last band it reaches.
HEALTH_BANDS: Final = ((0.0, "0-20"), (20.0, "20-40"), (40.0, "40-60"), (60.0, "60-80"), (80.0, "80-100"))


class Figures(BaseModel):
    """What happened in a span of days (a bucket of a chart, or a whole period)."""

    start: str = Field(description="First day, YYYY-MM-DD.")
    end: str = Field(description="Last day, YYYY-MM-DD (included).")
    members: int = Field(description="Members at the end of the span.")
    new_members: int = Field(description="Members whose first join falls in the span.")
    members_left: int = Field(description="Members who left in the span and were members of nothing at its end.")
    active: int = Field(description="Members active at least once in the span.")
    dau: float = Field(description="Daily active members, averaged over the span's days.")
    wau: int = Field(description="Members active in the 7 days ending with the span.")
    mau: int = Field(description="Members active in the 30 days ending with the span.")
    posts: int = Field(description="Posts created in the span (staff and bots left out).")
    response_rate: float | None = Field(description="Share of those posts answered by another member in the span.")
    median_first_response_seconds: float | None
    user_generated_share: float | None = Field(description="Share of posts and comments written by members.")
    health: float | None = Field(default=None, description="0-100 health at the end of the span (one community).")


class HealthBand(BaseModel):
    """How many communities have a health score in a band, now and at the end of the previous period."""

    band: str
    communities: int
    previous: int


class CommunityRow(BaseModel):
    """A community over a period, beside the period before."""

    community_id: str
    name: str
    topics: list[str]
    visibility: str
    members: int
    new_members: int
    members_left: int
    active: int
    active_previous: int
    growth: float | None = Field(description="(active - active_previous) / active_previous; None when new.")
    health: float | None
    posts: int
    trend: list[int] = Field(description="Active members per day of the period, oldest first.")
    top_topics: list[str]


class CohortRow(BaseModel):
    """Members who first joined in one week, and the share of them active in each following week."""

    week: str = Field(description="Monday of the join week, YYYY-MM-DD.")
    size: int
    retention: list[float | None] = Field(description="Week 0 (the join week), 1, 2, ...; None where not yet elapsed.")


@dataclass
class Group:
    """Activity and membership of a set of member-in-community documents, folded for fast spans."""

    active_by_day: dict[str, set[str]] = field(default_factory=dict)
    content_all: dict[str, int] = field(default_factory=dict)
    content_regular: dict[str, int] = field(default_factory=dict)
    #: Per member: earliest join, and when their membership ended (None: still a member somewhere here).
    spells: dict[str, tuple[datetime, datetime | None]] = field(default_factory=dict)
    _starts: list[datetime] = field(default_factory=list)
    _ends: list[datetime] = field(default_factory=list)
    #: Per member: their latest leave, when it ended their membership.
    _left: dict[str, datetime] = field(default_factory=dict)

    def add(self, doc: MemberCommunityDoc, regular: bool) -> None:
        """Fold one member-in-community document in (``regular``: neither staff nor bot there)."""
        member = doc["member_id"]
        for day, by_type in doc.get("c", {}).items():
            written = sum(int(by_type.get(kind, 0)) for kind in _CONTENT)
            if written:
                self.content_all[day] = self.content_all.get(day, 0) + written
                if regular:
                    self.content_regular[day] = self.content_regular.get(day, 0) + written
            if regular and any(n > 0 for kind, n in by_type.items() if kind != "member_left"):
                self.active_by_day.setdefault(day, set()).add(member)
        joined = doc.get("joined_first")
        if not regular or joined is None:
            return
        ended = _membership_end(doc)
        known = self.spells.get(member)
        if known is None:
            self.spells[member] = (joined, ended)
            return
        first = min(known[0], joined)
        until = None if known[1] is None or ended is None else max(known[1], ended)
        self.spells[member] = (first, until)

    def seal(self) -> None:
        """Sort what spans are counted with; call once every document is in."""
        self._starts = sorted(start for start, _ in self.spells.values())
        self._ends = sorted(end for _, end in self.spells.values() if end is not None)

    def members_at(self, instant: datetime) -> int:
        """Return how many were members at ``instant``."""
        return bisect.bisect_right(self._starts, instant) - bisect.bisect_right(self._ends, instant)

    def joined_in(self, start: datetime, end: datetime) -> int:
        """Return how many first joined between ``start`` and ``end``."""
        return bisect.bisect_right(self._starts, end) - bisect.bisect_left(self._starts, start)

    def left_in(self, start: datetime, end: datetime) -> int:
        """Return how many stopped being members between ``start`` and ``end``."""
        return bisect.bisect_right(self._ends, end) - bisect.bisect_left(self._ends, start)

    def active_in(self, days: Iterable[str]) -> set[str]:
        """Return who was active on any of ``days``."""
        found: set[str] = set()
        for day in days:
            found |= self.active_by_day.get(day, set())
        return found


def _membership_end(doc: MemberCommunityDoc) -> datetime | None:
    left = doc.get("left_last")
    joined = doc.get("joined_last")
    if left is None or (joined is not None and joined > left):
        return None
    return left


def _days_back(end: str, count: int) -> list[str]:
    last = day_start(end)
    return [day_key(last - DAY * i) for i in range(count)]


@dataclass
class TenantIndex:
    """A tenant's stored figures folded once: the whole tenant and each community."""

    tenant: Group
    communities: dict[str, Group]
    profiles: dict[str, dict[str, Any]]
    #: Community day documents by community, then by day.
    days: dict[str, dict[str, CommunityDayDoc]]
    #: Stand-in ids of each community's staff and bots (posts' authors are recorded under stand-in ids).
    excluded_authors: dict[str, set[str]]


def build_index(
    memberships: Iterable[MemberCommunityDoc],
    communities: Iterable[CommunityDoc],
    roles: Sequence[RoleDoc],
    day_docs: Iterable[CommunityDayDoc],
    pseudonym: Callable[[str], str],
) -> TenantIndex:
    """Fold a tenant's documents into a :class:`TenantIndex`; staff and bots are left out where they are."""
    by_scope: dict[str, list[RoleDoc]] = {}
    for role in roles:
        by_scope.setdefault(role.get("scope", PLATFORM_SCOPE), []).append(role)
    platform = by_scope.get(PLATFORM_SCOPE, [])
    excluded: dict[str, set[str]] = {}

    def excluded_in(community: str) -> set[str]:
        if community not in excluded:
            excluded[community] = excluded_members([*platform, *by_scope.get(community, [])], community)
        return excluded[community]

    tenant = Group()
    groups: dict[str, Group] = {}
    profiles: dict[str, dict[str, Any]] = {}
    for community in communities:
        cid = community["community_id"]
        groups.setdefault(cid, Group())
        profiles[cid] = community_profile(community)
    for doc in memberships:
        cid = doc["community_id"]
        regular = doc["member_id"] not in excluded_in(cid)
        groups.setdefault(cid, Group()).add(doc, regular)
        tenant.add(doc, regular)
    days: dict[str, dict[str, CommunityDayDoc]] = {}
    for day_doc in day_docs:
        days.setdefault(day_doc["community_id"], {})[day_doc["day"]] = day_doc
    for group in (tenant, *groups.values()):
        group.seal()
    authors = {cid: {pseudonym(member) for member in excluded_in(cid)} for cid in groups}
    return TenantIndex(tenant=tenant, communities=groups, profiles=profiles, days=days, excluded_authors=authors)


def _responses(index: TenantIndex, communities: Iterable[str], span: Span, at: datetime) -> list[float | None]:
    keys = span.day_keys()
    delays: list[float | None] = []
    for cid in communities:
        stored = index.days.get(cid)
        if not stored:
            continue
        docs = [stored[day] for day in keys if day in stored]
        if docs:
            delays.extend(response_delays(docs, keys, at, index.excluded_authors.get(cid, set())))
    return delays


def figures(
    index: TenantIndex, group: Group, communities: Iterable[str], span: Span, now: datetime, *, with_health: bool
) -> Figures:
    """Return a group's figures over ``span`` (its communities' posts for response times), as of ``now`` at most."""
    keys = span.day_keys()
    start, end = span.start_instant(), span.end_instant(now)
    if end < start:
        end = start
    last = keys[-1]
    active = group.active_in(keys)
    daily = [len(group.active_by_day.get(day, ())) for day in keys]
    written = sum(group.content_all.get(day, 0) for day in keys)
    ugc = rounded(sum(group.content_regular.get(day, 0) for day in keys) / written) if written else None
    delays = _responses(index, communities, span, end)
    answered = [d for d in delays if d is not None]
    members = group.members_at(end)
    new, left = group.joined_in(start, end), group.left_in(start, end)
    wau = len(group.active_in(_days_back(last, 7)))
    response_rate = rounded(len(answered) / len(delays)) if delays else None
    health = None
    if with_health:
        before = group.active_in(span.shifted(span.days).day_keys())
        retention = rounded(len(active & before) / len(before)) if before else None
        health = health_score(
            members=members, wau=wau, retention=retention, response_rate=response_rate, ugc=ugc, new=new, left=left
        ).score
    return Figures(
        start=span.start.isoformat(),
        end=span.end.isoformat(),
        members=members,
        new_members=new,
        members_left=left,
        active=len(active),
        dau=round(sum(daily) / len(daily), 1),
        wau=wau,
        mau=len(group.active_in(_days_back(last, 30))),
        posts=len(delays),
        response_rate=response_rate,
        median_first_response_seconds=rounded(statistics.median(answered)) if answered else None,
        user_generated_share=ugc,
        health=health,
    )


def series(
    index: TenantIndex, group: Group, communities: Sequence[str], spans: Iterable[Span], now: datetime, *, health: bool
) -> list[Figures]:
    """Return a group's figures for each span (bucket) of a chart."""
    return [figures(index, group, communities, span, now, with_health=health) for span in spans]


def community_row(index: TenantIndex, community: str, period: Period, now: datetime) -> CommunityRow:
    """Return one community's row over a period, beside the period before."""
    group = index.communities[community]
    current = figures(index, group, [community], period.span, now, with_health=True)
    previous_active = len(group.active_in(period.previous.day_keys()))
    profile = index.profiles.get(community, {})
    stored = index.days.get(community, {})
    at = period.span.end_instant(now)
    top = trending([stored[d] for d in period.all_day_keys() if d in stored], at, period.span.days, limit=3)
    return CommunityRow(
        community_id=community,
        name=str(profile.get("name") or community),
        topics=[str(t) for t in profile.get("topics", [])],
        visibility=str(profile.get("visibility", "public")),
        members=current.members,
        new_members=current.new_members,
        members_left=current.members_left,
        active=current.active,
        active_previous=previous_active,
        growth=rounded((current.active - previous_active) / previous_active) if previous_active else None,
        health=current.health,
        posts=current.posts,
        trend=[len(group.active_by_day.get(day, ())) for day in period.span.day_keys()],
        top_topics=[t.name for t in top],
    )


def community_rows(index: TenantIndex, period: Period, now: datetime) -> list[CommunityRow]:
    """Return every community's row over a period."""
    return [community_row(index, cid, period, now) for cid in sorted(index.communities)]


def health_distribution(
    index: TenantIndex, period: Period, now: datetime, rows: Sequence[CommunityRow]
) -> list[HealthBand]:
    """Return how many communities fall in each health band at the end of the period (from its ``rows``) and of
    the one before."""

    def band_of(score: float | None) -> str:
        if score is None:
            return "unknown"
        label = HEALTH_BANDS[0][1]
        for lowest, name in HEALTH_BANDS:
            if score >= lowest:
                label = name
        return label

    counts: dict[str, list[int]] = {name: [0, 0] for _, name in HEALTH_BANDS}
    counts["unknown"] = [0, 0]
    for row in rows:
        counts[band_of(row.health)][0] += 1
    for cid, group in index.communities.items():
        counts[band_of(figures(index, group, [cid], period.previous, now, with_health=True).health)][1] += 1
    return [HealthBand(band=name, communities=now_, previous=then) for name, (now_, then) in counts.items()]


def movers(
    rows: Sequence[CommunityRow], limit: int = 5, least_active: int = 3
) -> tuple[list[CommunityRow], list[CommunityRow]]:
    """Return the fastest-growing and the most declining communities by active members (enough of them before)."""
    based = [r for r in rows if r.active_previous >= least_active and r.growth is not None]
    growing = sorted((r for r in based if (r.growth or 0) > 0), key=lambda r: (-(r.growth or 0), r.community_id))
    declining = sorted((r for r in based if (r.growth or 0) < 0), key=lambda r: ((r.growth or 0), r.community_id))
    return growing[:limit], declining[:limit]


def tenant_trending(index: TenantIndex, period: Period, now: datetime, limit: int = 10) -> list[Trend]:
    """Return the hashtags and keywords most used across the tenant in the period, with growth."""
    wanted = set(period.all_day_keys())
    docs = [doc for by_day in index.days.values() for day, doc in by_day.items() if day in wanted]
    return trending(docs, period.span.end_instant(now), period.span.days, limit)


def cohorts(group: Group, span: Span, now: datetime, weeks: int) -> list[CohortRow]:
    """Return retention by join week: members whose first join falls in a week of ``span``, active week by week."""
    today = day_key(now)
    first_monday = span.start - timedelta(days=span.start.weekday())
    rows: list[CohortRow] = []
    monday = first_monday
    while monday <= span.end:
        start = Span(monday, monday + timedelta(days=6))
        begin, finish = start.start_instant(), start.end_instant(now)
        members = {m for m, (joined, _) in group.spells.items() if begin <= joined <= finish}
        if members:
            retention: list[float | None] = []
            for week in range(weeks):
                later = start.shifted(-7 * week)
                keys = [d for d in later.day_keys() if d <= today]
                if not keys:
                    retention.append(None)
                    continue
                retention.append(rounded(len(group.active_in(keys) & members) / len(members)))
            rows.append(CohortRow(week=monday.isoformat(), size=len(members), retention=retention))
        monday += timedelta(days=7)
    return rows
