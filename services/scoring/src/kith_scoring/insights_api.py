"""HTTP routes of tenant-wide figures over time (scope ``metrics:read``): overview, communities, series, cohorts.

Each answer is computed from one read of the tenant's documents (:class:`~kith_scoring.store.insights.TenantReads`),
folded once and kept for ``insights_cache_seconds``, so the pages of a console share it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Self, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from kith_scoring.cache import ResultCache
from kith_scoring.deps import Community
from kith_scoring.domain.insights import (
    CohortRow,
    CommunityRow,
    Figures,
    Group,
    HealthBand,
    TenantIndex,
    build_index,
    cohorts,
    community_rows,
    health_distribution,
    movers,
    series,
    tenant_trending,
)
from kith_scoring.domain.periods import (
    FIRST_DAY,
    LAST_DAY,
    Interval,
    Period,
    PeriodError,
    Span,
    day_key_of,
    default_span,
    period,
)
from kith_scoring.domain.topics import Trend
from kith_scoring.store import ScoringStore
from kith_scoring.store.insights import TenantReads
from kith_shared.auth import MetricsReader
from kith_shared.errors import ApiError

_T = TypeVar("_T")

#: Largest page of the community list.
MAX_PAGE: Final = 200

From = Annotated[date | None, Query(alias="from", description="First day, YYYY-MM-DD (default: 27 days before 'to').")]
To = Annotated[date | None, Query(alias="to", description="Last day, YYYY-MM-DD, included (default: today, UTC).")]
IntervalQuery = Annotated[Interval, Query(description="Bucket of the charts: day, week (from Monday) or month.")]

router = APIRouter(prefix="/v1", tags=["insights"])


class _Dated(BaseModel):
    """An answer about a period, from its first day to its last (included), as YYYY-MM-DD."""

    start: str
    end: str

    @classmethod
    def over(cls, chosen: Period, **fields: Any) -> Self:
        """Return the answer about ``chosen`` with the rest of its ``fields``."""
        return cls(start=chosen.span.start.isoformat(), end=chosen.span.end.isoformat(), **fields)


class _Figures(_Dated):
    """Figures over a period, in all and bucket by bucket, beside the period before."""

    interval: Interval
    totals: Figures
    previous_totals: Figures
    series: list[Figures]
    previous_series: list[Figures] = Field(description="The previous period's buckets, lined up with 'series'.")

    @classmethod
    def of(
        cls,
        chosen: Period,
        index: TenantIndex,
        group: Group,
        ids: list[str],
        now: datetime,
        *,
        health: bool,
        **fields: Any,
    ) -> Self:
        """Return the figures of ``ids`` (in ``group``) over ``chosen`` and the period before, with other ``fields``."""

        def each(spans: list[Span]) -> list[Figures]:
            return series(index, group, ids, spans, now, health=health)

        return cls.over(
            chosen,
            interval=chosen.interval,
            totals=each([chosen.span])[0],
            previous_totals=each([chosen.previous])[0],
            series=each(chosen.buckets),
            previous_series=each(chosen.previous_buckets),
            **fields,
        )


class Overview(_Figures):
    """A tenant's figures over a period, bucket by bucket, beside the period before."""

    tenant: str
    communities: int
    health_distribution: list[HealthBand]
    growing: list[CommunityRow] = Field(description="Fastest growth of active members against the previous period.")
    declining: list[CommunityRow]
    trending: list[Trend] = Field(description="Hashtags and keywords most used across the tenant, with growth.")


class CommunitySort(StrEnum):
    """What the community list is sorted by."""

    MEMBERS = "members"
    ACTIVE = "active"
    GROWTH = "growth"
    HEALTH = "health"
    NEW_MEMBERS = "new_members"
    POSTS = "posts"
    NAME = "name"


class CommunityPage(_Dated):
    """A page of the tenant's communities over a period."""

    total: int = Field(description="Communities that pass the filters.")
    items: list[CommunityRow]
    next_cursor: str | None


class CommunitySeries(_Figures):
    """One community's figures over a period, bucket by bucket (with health), beside the period before."""

    community_id: str
    name: str


class Cohorts(_Dated):
    """Retention by join week."""

    weeks: int
    cohorts: list[CohortRow]


def _period(start: date | None, end: date | None, interval: Interval) -> Period:
    today = datetime.now(UTC).date()
    last = end or today
    span = default_span(last) if start is None else Span(start, last)
    if start is None and last >= FIRST_DAY:
        span = Span(max(span.start, FIRST_DAY), last)
    try:
        return period(span.start, span.end, interval)
    except PeriodError as exc:
        field = "to" if end is not None and not FIRST_DAY <= end <= LAST_DAY else "from"
        raise ApiError(422, "invalid_request", str(exc), problems=[{"field": field, "reason": str(exc)}]) from None


async def _chosen(start: From = None, end: To = None, interval: IntervalQuery = Interval.DAY) -> Period:
    return _period(start, end, interval)


async def _days(start: From = None, end: To = None) -> Period:
    return _period(start, end, Interval.DAY)


async def _weeks(start: From = None, end: To = None) -> Period:
    return _period(start, end, Interval.WEEK)


#: The period of the ``from``, ``to`` and ``interval`` queries.
Chosen = Annotated[Period, Depends(_chosen)]
#: The period of the ``from`` and ``to`` queries, by day.
Days = Annotated[Period, Depends(_days)]
#: The period of the ``from`` and ``to`` queries, by week.
Weeks = Annotated[Period, Depends(_weeks)]


async def _index(request: Request, tenant: str, first: date, last: date) -> TenantIndex:
    store: ScoringStore = request.app.state.store
    cache: ResultCache = request.app.state.insights_cache
    first_day, last_day = day_key_of(first), day_key_of(last)

    async def load() -> TenantIndex:
        docs = await TenantReads(store.collections).documents(tenant, first_day, last_day)
        return build_index(docs.memberships, docs.communities, docs.roles, docs.days, store.reads.pseudonym(tenant))

    return await cache.get(("tenant-index", tenant, first_day, last_day), load)


async def _period_index(request: Request, tenant: str, chosen: Period) -> TenantIndex:
    return await _index(request, tenant, chosen.previous.start, chosen.span.end)


async def _rows(request: Request, tenant: str, chosen: Period, index: TenantIndex | None = None) -> list[CommunityRow]:
    """Return every community's row over a period (kept as long as the documents they come from)."""
    index = index or await _period_index(request, tenant, chosen)
    cache: ResultCache = request.app.state.insights_cache
    key = ("community-rows", tenant, chosen.span.start, chosen.span.end)
    return await cache.get(key, lambda: _computed(community_rows(index, chosen, datetime.now(UTC))))


async def _computed(value: _T) -> _T:
    return value


@router.get("/overview")
async def get_overview(request: Request, principal: MetricsReader, chosen: Chosen) -> Overview:
    """Return the tenant's members, activity, responses and content over a period, with the period before."""
    cache: ResultCache = request.app.state.insights_cache
    key = ("overview", principal.tenant, chosen.span.start, chosen.span.end, chosen.interval)
    return await cache.get(key, lambda: _overview(request, principal.tenant, chosen))


async def _overview(request: Request, tenant: str, chosen: Period) -> Overview:
    index = await _period_index(request, tenant, chosen)
    now = datetime.now(UTC)
    everyone = sorted(index.communities)
    rows = await _rows(request, tenant, chosen, index)
    growing, declining = movers(rows)
    return Overview.of(
        chosen,
        index,
        index.tenant,
        everyone,
        now,
        health=False,
        tenant=tenant,
        communities=len(everyone),
        health_distribution=health_distribution(index, chosen, now, rows),
        growing=growing,
        declining=declining,
        trending=tenant_trending(index, chosen, now),
    )


def _sort_key(sort: CommunitySort) -> object:
    if sort is CommunitySort.NAME:
        return lambda row: (row.name.casefold(), row.community_id)
    missing = float("-inf")
    return lambda row: (
        getattr(row, sort.value) if getattr(row, sort.value) is not None else missing,
        row.community_id,
    )


@router.get("/communities")
async def list_communities(
    request: Request,
    principal: MetricsReader,
    chosen: Days,
    sort: Annotated[CommunitySort, Query(description="Column to sort by.")] = CommunitySort.MEMBERS,
    order: Annotated[str, Query(pattern="^(asc|desc)$", description="asc or desc.")] = "desc",
    min_size: Annotated[int | None, Query(ge=0, description="Fewest members.")] = None,
    max_size: Annotated[int | None, Query(ge=0, description="Most members.")] = None,
    min_health: Annotated[float | None, Query(ge=0, le=100)] = None,
    max_health: Annotated[float | None, Query(ge=0, le=100)] = None,
    topic: Annotated[str | None, Query(max_length=100, description="A topic of the profile or a trending tag.")] = None,
    q: Annotated[str | None, Query(max_length=100, description="Part of the name or id.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,7}$", description="next_cursor of the page before.")] = None,
) -> CommunityPage:
    """Return a page of the tenant's communities over a period: size, activity, growth, health, a daily trend."""
    rows = await _rows(request, principal.tenant, chosen)
    wanted_topic = topic.strip().casefold().lstrip("#") if topic else None
    needle = q.strip().casefold() if q else None

    def keep(row: CommunityRow) -> bool:
        if min_size is not None and row.members < min_size:
            return False
        if max_size is not None and row.members > max_size:
            return False
        if min_health is not None and (row.health is None or row.health < min_health):
            return False
        if max_health is not None and (row.health is None or row.health > max_health):
            return False
        if wanted_topic and wanted_topic not in {t.casefold() for t in [*row.topics, *row.top_topics]}:
            return False
        return not needle or needle in row.name.casefold() or needle in row.community_id.casefold()

    kept = [row for row in rows if keep(row)]
    kept.sort(key=_sort_key(sort), reverse=order == "desc")  # type: ignore[arg-type]
    offset = int(cursor or 0)
    page = kept[offset : offset + limit]
    following = offset + limit
    return CommunityPage.over(
        chosen,
        total=len(kept),
        items=page,
        next_cursor=str(following) if following < len(kept) else None,
    )


@router.get("/communities/{community_id}/series")
async def get_community_series(request: Request, community: Community, chosen: Chosen) -> CommunitySeries:
    """Return one community's figures over a period, bucket by bucket with its health, and the period before."""
    index = await _period_index(request, community.tenant, chosen)
    group = index.communities.get(community.id)
    if group is None:
        raise ApiError(404, "not_found", f"no community {community.id!r} is known in tenant {community.tenant!r}")
    name = str(index.profiles.get(community.id, {}).get("name") or community.id)
    now = datetime.now(UTC)
    return CommunitySeries.of(
        chosen, index, group, [community.id], now, health=True, community_id=community.id, name=name
    )


@router.get("/cohorts")
async def get_cohorts(
    request: Request,
    principal: MetricsReader,
    chosen: Weeks,
    weeks: Annotated[int, Query(ge=1, le=26, description="Weeks after joining to follow.")] = 8,
) -> Cohorts:
    """Return retention by join-week cohort: members who first joined in each week, active week by week after."""
    index = await _period_index(request, principal.tenant, chosen)
    return Cohorts.over(chosen, weeks=weeks, cohorts=cohorts(index.tenant, chosen.span, datetime.now(UTC), weeks))
