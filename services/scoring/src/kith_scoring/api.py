"""HTTP routes: community metrics, leaderboards, trends, slipping away, member engagement, settings."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query
from pydantic import BaseModel

from kith_scoring.deps import Cache, Community, CommunityRef, Configs, Parameters, Reads
from kith_scoring.domain.community import (
    CommunityMetrics,
    Leaderboard,
    community_metrics,
    community_profile,
    leaderboard_entries,
    regular_members,
)
from kith_scoring.domain.config import ConfigVersion, ScoringConfig, TenantConfig
from kith_scoring.domain.decay import earlier, window_days
from kith_scoring.domain.documents import MemberCommunityDoc
from kith_scoring.domain.members import ExplainedEngagement, MemberSummary, explain, summary
from kith_scoring.domain.slipping import SlippingMember, slipping_away
from kith_scoring.domain.topics import Trend, trending
from kith_scoring.store import ScoringReads, TenantConfigs
from kith_shared.auth import Admin, MetricsReader
from kith_shared.errors import ApiError
from kith_shared.events.instants import Instant

MAX_WINDOW_DAYS: Final = 365
_WINDOW: Final = re.compile(r"^(\d{1,3})d$")

AsOf = Annotated[
    Instant | None,
    Query(description="Evaluate at this instant (default: now). Must include a UTC offset and convert to UTC."),
]
Window = Annotated[str, Query(description="Window ending at as_of, in days: '7d', '28d' (1d-365d).")]
QuietDays = Annotated[int | None, Query(ge=7, le=28, description="Quiet days before a member counts as slipping away.")]
Limit = Annotated[int, Query(ge=1, le=100)]

router = APIRouter(prefix="/v1")


class CommunityMetricsResponse(CommunityMetrics):
    """A community's metrics and its latest known profile."""

    profile: dict[str, Any]


class SettingsView(BaseModel):
    """A tenant's scoring configuration in force and every earlier one."""

    tenant: str
    current: ConfigVersion
    history: list[ConfigVersion]

    @classmethod
    def of(cls, tenant: str, config: TenantConfig) -> SettingsView:
        """Return the view of a tenant's configuration history."""
        return cls(tenant=tenant, current=config.current, history=config.versions)


class Whoami(BaseModel):
    """The caller's tenant."""

    tenant: str


def parse_window(window: str) -> int:
    """Return the number of days of a window such as ``7d``; raise a 422 error otherwise."""
    match = _WINDOW.match(window.strip())
    days = int(match.group(1)) if match else 0
    if not 1 <= days <= MAX_WINDOW_DAYS:
        raise ApiError(
            422,
            "invalid_request",
            "window must be a number of days between 1d and 365d, such as '7d'",
            problems=[{"field": "window", "reason": f"got {window!r}"}],
        )
    return days


def _instant(value: datetime | None) -> datetime:
    return value.astimezone(UTC) if value is not None else datetime.now(UTC)


def _unknown_community(community: CommunityRef) -> ApiError:
    return ApiError(404, "not_found", f"no community {community.id!r} is known in tenant {community.tenant!r}")


async def _require_known(reads: ScoringReads, community: CommunityRef) -> None:
    if not await reads.community_exists(community.tenant, community.id):
        raise _unknown_community(community)


def _with_previous_window(at: datetime, days: int) -> list[str]:
    """Return the days of the window ending at ``at`` and of the window before (for growth)."""
    return window_days(at, days) + window_days(earlier(at, timedelta(days=days)), days)


@router.get("/whoami", tags=["operations"])
async def whoami(principal: MetricsReader) -> Whoami:
    """Return the caller's tenant (a trivial authenticated endpoint)."""
    return Whoami(tenant=principal.tenant)


@router.get("/communities/{community_id}/metrics", tags=["communities"])
async def get_community_metrics(
    community: Community,
    reads: Reads,
    configs: Configs,
    cache: Cache,
    parameters: Parameters,
    window: Window = "7d",
    as_of: AsOf = None,
    quiet_days: QuietDays = None,
) -> CommunityMetricsResponse:
    """Return a community's metrics over a window, staff and bots left out."""
    days = parse_window(window)
    quiet = quiet_days or parameters.quiet_days
    if as_of is not None:
        return await _community_metrics(reads, configs, community, days, _instant(as_of), quiet)
    # Without an explicit instant, an answer a few seconds old is as good as a new one.
    key = ("metrics", community.tenant, community.id, days, quiet)
    return await cache.get(key, lambda: _community_metrics(reads, configs, community, days, datetime.now(UTC), quiet))


async def _community_metrics(
    reads: ScoringReads, configs: TenantConfigs, community: CommunityRef, days: int, at: datetime, quiet_days: int
) -> CommunityMetricsResponse:
    tenant = community.tenant
    place = await reads.community(tenant, community.id)
    if place is None:
        raise _unknown_community(community)
    metrics = community_metrics(
        community.id,
        await reads.community_members(tenant, community.id),
        await reads.roles(tenant, community.id),
        await reads.topic_days(tenant, community.id, _with_previous_window(at, days)),
        reads.pseudonym(tenant),
        await configs.config(tenant),
        at,
        days,
        quiet_days,
    )
    return CommunityMetricsResponse(**metrics.model_dump(), profile=community_profile(place))


@router.get("/communities/{community_id}/leaderboard", tags=["communities"])
async def get_leaderboard(
    community: Community,
    reads: Reads,
    configs: Configs,
    limit: Limit = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
    as_of: AsOf = None,
) -> Leaderboard:
    """Return a page of a community's members ranked by engagement score (staff and bots left out)."""
    await _require_known(reads, community)
    at = _instant(as_of)
    entries = leaderboard_entries(await _regular_members(reads, community), await configs.config(community.tenant), at)
    return Leaderboard(
        community_id=community.id,
        as_of=at,
        total=len(entries),
        offset=offset,
        limit=limit,
        entries=entries[offset : offset + limit],
    )


async def _regular_members(reads: ScoringReads, community: CommunityRef) -> list[MemberCommunityDoc]:
    docs = await reads.community_members(community.tenant, community.id)
    return regular_members(docs, await reads.roles(community.tenant, community.id), community.id)


@router.get("/communities/{community_id}/trending", tags=["communities"])
async def get_trending(
    community: Community, reads: Reads, window: Window = "7d", as_of: AsOf = None, limit: Limit = 10
) -> list[Trend]:
    """Return a community's most used hashtags and keywords in a window, with growth."""
    await _require_known(reads, community)
    days = parse_window(window)
    at = _instant(as_of)
    return trending(
        await reads.topic_days(community.tenant, community.id, _with_previous_window(at, days)), at, days, limit
    )


@router.get("/communities/{community_id}/slipping", tags=["communities"])
async def get_slipping(
    community: Community,
    reads: Reads,
    configs: Configs,
    parameters: Parameters,
    quiet_days: QuietDays = None,
    as_of: AsOf = None,
) -> list[SlippingMember]:
    """Return members formerly in the community's top quartile who have been quiet since."""
    await _require_known(reads, community)
    docs = await _regular_members(reads, community)
    config = await configs.config(community.tenant)
    return slipping_away(docs, config, _instant(as_of), quiet_days or parameters.quiet_days)


@router.get("/members/{member_id}/engagement", tags=["members"])
async def get_member(
    member_id: str, principal: MetricsReader, reads: Reads, configs: Configs, as_of: AsOf = None
) -> MemberSummary:
    """Return a member's engagement in every community, rolled up."""
    tenant = principal.tenant
    docs = [d for d in await reads.member_docs(tenant, member_id) if not d.get("anonymous")]
    if not docs:
        raise ApiError(404, "not_found", f"no member {member_id!r} is known in tenant {tenant!r}")
    return summary(member_id, docs, await configs.config(tenant), _instant(as_of))


@router.get("/members/{member_id}/communities/{community_id}/engagement", tags=["members"])
async def get_member_in_community(
    member_id: str, community: Community, reads: Reads, configs: Configs, as_of: AsOf = None
) -> ExplainedEngagement:
    """Return a member's engagement in one community, with the parts of the score and the events that moved it."""
    doc = await reads.member_in_community(community.tenant, community.id, member_id)
    if doc is None:
        await _require_known(reads, community)
        raise ApiError(
            404,
            "not_found",
            f"no member {member_id!r} is known in community {community.id!r} of tenant {community.tenant!r}",
        )
    return explain(doc, await configs.config(community.tenant), _instant(as_of))


@router.get("/settings/scoring", tags=["settings"])
async def get_settings(principal: Admin, configs: Configs) -> SettingsView:
    """Return the tenant's scoring weights, half-life and level thresholds, with their history."""
    return SettingsView.of(principal.tenant, await configs.config(principal.tenant))


@router.put("/settings/scoring", tags=["settings"])
async def put_settings(body: ScoringConfig, principal: Admin, configs: Configs) -> SettingsView:
    """Replace the tenant's scoring configuration; it applies to events received from now on."""
    return SettingsView.of(principal.tenant, await configs.update(principal.tenant, body, principal.key_id))
