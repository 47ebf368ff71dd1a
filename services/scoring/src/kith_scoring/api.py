"""HTTP routes: community metrics, leaderboards, trends, slipping away, member engagement, settings."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel

from kith_scoring.domain.community import (
    CommunityMetrics,
    Leaderboard,
    community_metrics,
    community_profile,
    leaderboard_entries,
)
from kith_scoring.domain.config import ConfigVersion, ScoringConfig
from kith_scoring.domain.decay import window_days
from kith_scoring.domain.members import ExplainedEngagement, MemberSummary, explain, summary
from kith_scoring.domain.roles import excluded_members
from kith_scoring.domain.slipping import SlippingMember, slipping_away
from kith_scoring.domain.topics import Trend, trending
from kith_scoring.store import ScoringStore
from kith_shared.auth import Admin, MetricsReader
from kith_shared.errors import ApiError

MAX_WINDOW_DAYS = 365
_WINDOW = re.compile(r"^(\d{1,3})d$")


def get_store(request: Request) -> ScoringStore:
    """Return the app's store."""
    store: ScoringStore = request.app.state.store
    return store


Store = Annotated[ScoringStore, Depends(get_store)]
AsOf = Annotated[
    AwareDatetime | None, Query(description="Evaluate at this instant (default: now). Must include a UTC offset.")
]
Window = Annotated[str, Query(description="Window ending at as_of, in days: '7d', '28d' (1d-365d).")]
QuietDays = Annotated[int | None, Query(ge=7, le=28, description="Quiet days before a member counts as slipping away.")]


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


def _as_of(value: datetime | None) -> datetime:
    return value.astimezone(UTC) if value is not None else datetime.now(UTC)


async def _known_community(store: ScoringStore, tenant: str, community: str) -> None:
    if not await store.reads.community_exists(tenant, community):
        raise ApiError(404, "not_found", f"no community {community!r} is known in tenant {tenant!r}")


class CommunityMetricsResponse(CommunityMetrics):
    """A community's metrics and its latest known profile."""

    profile: dict[str, Any]


class SettingsView(BaseModel):
    """A tenant's scoring configuration in force and every earlier one."""

    tenant: str
    current: ConfigVersion
    history: list[ConfigVersion]


class Whoami(BaseModel):
    """The caller's tenant."""

    tenant: str


class ResultCache:
    """Answers computed in the last ``ttl`` seconds; concurrent requests for one key share one computation."""

    def __init__(self, ttl: float, size: int = 1_024) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: dict[tuple[Any, ...], tuple[float, asyncio.Future[Any]]] = {}

    async def get(self, key: tuple[Any, ...], compute: Callable[[], Awaitable[Any]]) -> Any:
        """Return the cached answer for ``key``, computing it when absent or stale."""
        if self.ttl <= 0:
            return await compute()
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and now - entry[0] < self.ttl:
            return await asyncio.shield(entry[1])
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if len(self._entries) >= self.size:
            self._entries.clear()
        self._entries[key] = (now, future)
        try:
            value = await compute()
        except BaseException as exc:
            self._entries.pop(key, None)
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it
            raise
        future.set_result(value)
        return value


def build_router(default_quiet_days: int, cache_seconds: float = 0.0) -> APIRouter:
    """Return the scoring routes."""
    router = APIRouter(prefix="/v1")
    cache = ResultCache(cache_seconds)

    @router.get("/whoami", tags=["operations"])
    async def whoami(principal: MetricsReader) -> Whoami:
        """Return the caller's tenant (a trivial authenticated endpoint)."""
        return Whoami(tenant=principal.tenant)

    @router.get("/communities/{community_id}/metrics", tags=["communities"])
    async def get_community_metrics(
        community_id: str,
        principal: MetricsReader,
        store: Store,
        window: Window = "7d",
        as_of: AsOf = None,
        quiet_days: QuietDays = None,
    ) -> CommunityMetricsResponse:
        """Return a community's metrics over a window, staff and bots left out."""
        tenant = principal.tenant
        days = parse_window(window)
        quiet = quiet_days or default_quiet_days
        if as_of is not None:
            return await _community_metrics(store, tenant, community_id, days, _as_of(as_of), quiet)
        # Without an explicit instant, an answer a few seconds old is as good as a new one.
        key = ("metrics", tenant, community_id, days, quiet)
        result: CommunityMetricsResponse = await cache.get(
            key, lambda: _community_metrics(store, tenant, community_id, days, datetime.now(UTC), quiet)
        )
        return result

    async def _community_metrics(
        store: ScoringStore, tenant: str, community_id: str, days: int, at: datetime, quiet_days: int
    ) -> CommunityMetricsResponse:
        place = await store.reads.community(tenant, community_id)
        if place is None:
            raise ApiError(404, "not_found", f"no community {community_id!r} is known in tenant {tenant!r}")
        config = await store.tenants.config(tenant)
        topic_days = window_days(at, days) + window_days(at - timedelta(days=days), days)
        metrics = community_metrics(
            community_id,
            await store.reads.community_members(tenant, community_id),
            await store.reads.roles(tenant, community_id),
            await store.reads.topic_days(tenant, community_id, topic_days),
            store.reads.pseudonym(tenant),
            config,
            at,
            days,
            quiet_days,
        )
        return CommunityMetricsResponse(**metrics.model_dump(), profile=community_profile(place))

    @router.get("/communities/{community_id}/leaderboard", tags=["communities"])
    async def get_leaderboard(
        community_id: str,
        principal: MetricsReader,
        store: Store,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        offset: Annotated[int, Query(ge=0)] = 0,
        as_of: AsOf = None,
    ) -> Leaderboard:
        """Return a page of a community's members ranked by engagement score (staff and bots left out)."""
        tenant = principal.tenant
        await _known_community(store, tenant, community_id)
        at = _as_of(as_of)
        excluded = excluded_members(await store.reads.roles(tenant, community_id), community_id)
        docs = [d for d in await store.reads.community_members(tenant, community_id) if d["member_id"] not in excluded]
        entries = leaderboard_entries(docs, await store.tenants.config(tenant), at)
        return Leaderboard(
            community_id=community_id,
            as_of=at,
            total=len(entries),
            offset=offset,
            limit=limit,
            entries=entries[offset : offset + limit],
        )

    @router.get("/communities/{community_id}/trending", tags=["communities"])
    async def get_trending(
        community_id: str,
        principal: MetricsReader,
        store: Store,
        window: Window = "7d",
        as_of: AsOf = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 10,
    ) -> list[Trend]:
        """Return a community's most used hashtags and keywords in a window, with growth."""
        tenant = principal.tenant
        await _known_community(store, tenant, community_id)
        days = parse_window(window)
        at = _as_of(as_of)
        wanted = window_days(at, days) + window_days(at - timedelta(days=days), days)
        return trending(await store.reads.topic_days(tenant, community_id, wanted), at, days, limit)

    @router.get("/communities/{community_id}/slipping", tags=["communities"])
    async def get_slipping(
        community_id: str,
        principal: MetricsReader,
        store: Store,
        quiet_days: QuietDays = None,
        as_of: AsOf = None,
    ) -> list[SlippingMember]:
        """Return members formerly in the community's top quartile who have been quiet since."""
        tenant = principal.tenant
        await _known_community(store, tenant, community_id)
        excluded = excluded_members(await store.reads.roles(tenant, community_id), community_id)
        docs = [d for d in await store.reads.community_members(tenant, community_id) if d["member_id"] not in excluded]
        config = await store.tenants.config(tenant)
        return slipping_away(docs, config, _as_of(as_of), quiet_days or default_quiet_days)

    @router.get("/members/{member_id}/engagement", tags=["members"])
    async def get_member(member_id: str, principal: MetricsReader, store: Store, as_of: AsOf = None) -> MemberSummary:
        """Return a member's engagement in every community, rolled up."""
        tenant = principal.tenant
        docs = [d for d in await store.reads.member_docs(tenant, member_id) if not d.get("anonymous")]
        if not docs:
            raise ApiError(404, "not_found", f"no member {member_id!r} is known in tenant {tenant!r}")
        return summary(member_id, docs, await store.tenants.config(tenant), _as_of(as_of))

    @router.get("/members/{member_id}/communities/{community_id}/engagement", tags=["members"])
    async def get_member_in_community(
        member_id: str, community_id: str, principal: MetricsReader, store: Store, as_of: AsOf = None
    ) -> ExplainedEngagement:
        """Return a member's engagement in one community, with the parts of the score and the events that moved it."""
        tenant = principal.tenant
        doc = await store.reads.member_in_community(tenant, community_id, member_id)
        if doc is None:
            await _known_community(store, tenant, community_id)
            raise ApiError(
                404, "not_found", f"no member {member_id!r} is known in community {community_id!r} of tenant {tenant!r}"
            )
        return explain(doc, await store.tenants.config(tenant), _as_of(as_of))

    @router.get("/settings/scoring", tags=["settings"])
    async def get_settings(principal: Admin, store: Store) -> SettingsView:
        """Return the tenant's scoring weights, half-life and level thresholds, with their history."""
        config = await store.tenants.config(principal.tenant)
        return SettingsView(tenant=principal.tenant, current=config.current, history=config.versions)

    @router.put("/settings/scoring", tags=["settings"])
    async def put_settings(body: ScoringConfig, principal: Admin, store: Store) -> SettingsView:
        """Replace the tenant's scoring configuration; it applies to events received from now on."""
        config = await store.tenants.update(principal.tenant, body, principal.key_id)
        return SettingsView(tenant=principal.tenant, current=config.current, history=config.versions)

    return router
