"""HTTP routes of micro-communities: list, one with its history and ties, nurturing actions, detect on demand.

Reads (scope ``metrics:read``) are answered from memory: the last detection of the caller's tenant,
loaded from the database at start. ``POST /v1/micro-communities:detect`` (scope ``admin``) asks for a
detection and answers 202 with when it should run.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, status

from kith_recommend.deps import Discoveries, Model
from kith_recommend.discovery.state import Served
from kith_recommend.discovery.views import (
    ActionOut,
    DetectionScheduled,
    MicroCommunityDetailOut,
    MicroCommunityOut,
    MicroCommunityPage,
    detection_view,
    group_body,
)
from kith_recommend.domain.changes import Edge
from kith_recommend.domain.microcommunities import GroupSummary, Status, actions_for
from kith_recommend.engine import Recommender
from kith_shared.auth import Admin, MetricsReader
from kith_shared.errors import ApiError

GroupId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_:@\-]+$")]
SortKey = Literal["cohesion", "growth", "size"]


def _encode_cursor(sort: str, key: tuple[float, ...], group_id: str) -> str:
    raw = json.dumps([sort, list(key), group_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str) -> tuple[tuple[float, ...], str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        found_sort, key, group_id = json.loads(raw)
        if found_sort != sort or not isinstance(group_id, str) or not isinstance(key, list):
            raise ValueError("cursor of another sort order")
        return tuple(float(k) for k in key), group_id
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise ApiError(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "invalid_request",
            "the request is not valid",
            problems=[{"field": "query.cursor", "reason": f"not a cursor of this list sorted by {sort}"}],
        ) from None


def _includes(include: str | None, allowed: tuple[str, ...]) -> set[str]:
    wanted = {part.strip() for part in (include or "").split(",") if part.strip()}
    unknown = wanted - set(allowed)
    if unknown:
        raise ApiError(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "invalid_request",
            "the request is not valid",
            problems=[
                {
                    "field": "query.include",
                    "reason": f"unknown {', '.join(sorted(unknown))}; allowed: {', '.join(allowed)}",
                }
            ],
        )
    return wanted


def _names(recommender: Recommender, tenant: str) -> Callable[[str], str]:
    communities = recommender.state(tenant).communities

    def name(community_id: str) -> str:
        return str(communities.get(community_id, {}).get("name") or community_id)

    return name


def _found(state: Served | None, group_id: str) -> tuple[Served, GroupSummary]:
    if state is None or state.detection is None or group_id not in state.detection.by_id:
        raise ApiError(
            status.HTTP_404_NOT_FOUND,
            "microcommunity_not_found",
            f"no micro-community {group_id!r} in this tenant (it may have faded since)",
        )
    return state, state.detection.by_id[group_id]


router = APIRouter(prefix="/v1", tags=["micro-communities"])


@router.get("/micro-communities", response_model_exclude_unset=True)
async def list_micro_communities(
    principal: MetricsReader,
    discovery: Discoveries,
    recommender: Model,
    status_: Annotated[Status | None, Query(alias="status", description="Only groups of this status.")] = None,
    community_id: Annotated[
        str | None, Query(max_length=128, pattern=r"^[A-Za-z0-9_:@\-]+$", description="Only groups overlapping it.")
    ] = None,
    sort: Annotated[SortKey, Query(description="Largest first: cohesion (density), growth (net), size.")] = "size",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512, description="next_cursor of the previous page.")] = None,
    include: Annotated[str | None, Query(max_length=64, description="member_ids: every member of each group.")] = None,
) -> MicroCommunityPage:
    """List the tenant's micro-communities, paged; empty when none was found (yet)."""
    wanted = _includes(include, ("member_ids",))
    tenant = principal.tenant
    state = discovery.results.get(tenant)
    if state is None or state.detection is None:
        return MicroCommunityPage(items=[], next_cursor=None)
    view = detection_view(state, timedelta(days=discovery.config.growth_window_days))
    by_id = state.detection.by_id
    ordered = view.orders[sort]
    if cursor is not None:
        ordered = ordered[bisect.bisect_right(ordered, _decode_cursor(cursor, sort)) :]
    page: list[tuple[tuple[float, ...], str]] = []
    more = False
    for entry in ordered:
        summary = by_id[entry[1]]
        if status_ is not None and summary.status is not status_:
            continue
        if community_id is not None and community_id not in {
            summary.community_id,
            *(o.community_id for o in summary.overlaps),
        }:
            continue
        if len(page) == limit:
            more = True
            break
        page.append(entry)
    names = _names(recommender, tenant)
    items = [
        MicroCommunityOut.model_validate(group_body(by_id[gid], view.growth[gid], names, "member_ids" in wanted))
        for _, gid in page
    ]
    following = _encode_cursor(sort, page[-1][0], page[-1][1]) if more else None
    return MicroCommunityPage(items=items, next_cursor=following)


@router.get(
    "/micro-communities/{group_id}",
    responses={404: {"description": "No such micro-community in this tenant"}},
    response_model_exclude_unset=True,
)
async def get_micro_community(
    group_id: GroupId,
    principal: MetricsReader,
    discovery: Discoveries,
    recommender: Model,
    include: Annotated[
        str | None, Query(max_length=64, description="Comma-separated: member_ids, edges (internal ties).")
    ] = None,
) -> MicroCommunityDetailOut:
    """Show one micro-community with its history of size and status (and, on request, its members and ties)."""
    wanted = _includes(include, ("member_ids", "edges"))
    tenant = principal.tenant
    state, summary = _found(discovery.results.get(tenant), group_id)
    record = state.records.get(group_id)
    view = detection_view(state, timedelta(days=discovery.config.growth_window_days))
    body = group_body(summary, view.growth[group_id], _names(recommender, tenant), "member_ids" in wanted)
    body["history"] = [
        {"at": p.at, "size": p.size, "status": p.status.value} for p in (record.history if record else ())
    ]
    if "edges" in wanted:
        members = summary.members
        ties = await discovery.store.ties(tenant, group_id)
        body["edges"] = [{"a": a, "b": b, "weight": w} for a, b, w in ties if a in members and b in members]
    return MicroCommunityDetailOut.model_validate(body)


@router.get(
    "/micro-communities/{group_id}/actions",
    responses={404: {"description": "No such micro-community in this tenant"}},
    response_model_exclude_none=True,
)
async def micro_community_actions(
    group_id: GroupId, principal: MetricsReader, discovery: Discoveries, recommender: Model
) -> list[ActionOut]:
    """Suggest what to do for a micro-community, each action with its reason and whom it concerns."""
    tenant = principal.tenant
    state, summary = _found(discovery.results.get(tenant), group_id)
    detection = state.detection
    if detection is None:  # _found checked; kept for the type checker
        raise RuntimeError("no detection")
    model_state = recommender.state(tenant)
    slipping = [m for m in summary.members if model_state.edges[Edge.SLIPPING].get(m)]
    seeded = discovery.seeding.seeded_community(tenant, group_id, model_state)
    names = {o.community_id: _names(recommender, tenant)(o.community_id) for o in summary.overlaps}
    actions = actions_for(detection, summary, slipping, names, seeded)
    return [
        ActionOut(
            kind=a.kind.value,
            title=a.title,
            reason=a.reason,
            members=list(a.members),
            proposed_name=a.proposed_name,
            community_id=a.community_id,
        )
        for a in actions
    ]


@router.post("/micro-communities:detect", status_code=status.HTTP_202_ACCEPTED)
async def detect_now(principal: Admin, discovery: Discoveries) -> DetectionScheduled:
    """Ask for a detection of the tenant's micro-communities now; it runs once the worker is free."""
    if not discovery.config.enabled:
        raise ApiError(
            status.HTTP_409_CONFLICT,
            "detection_disabled",
            "this replica does not detect micro-communities (RECOMMEND_DISCOVERY__ENABLED=false); "
            "ask the one that does",
        )
    scheduled = await discovery.request(principal.tenant)
    state = discovery.results.get(principal.tenant)
    detected = state.detection.detected_at if state is not None and state.detection is not None else None
    return DetectionScheduled(
        tenant=scheduled.tenant,
        runs_at=scheduled.runs_at,
        queued_behind=scheduled.queued_behind,
        last_detected_at=detected,
    )
