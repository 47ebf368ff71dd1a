"""What the micro-community routes answer: the response models, and a detection read for listing.

A detection is read once per detection and growth window (:func:`detection_view`): each group's growth
and the order of every sort, kept in the tenant's :class:`~kith_recommend.discovery.state.Served`
until the next detection replaces it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from kith_recommend.discovery.state import Served
from kith_recommend.domain.microcommunities import GroupRecord, GroupSummary, Growth


class OverlapOut(BaseModel):
    """A community the group shares members with."""

    id: str = Field(description="The community's id.")
    community_id: str = Field(description="The same id, under the name the console reads.")
    name: str
    jaccard: float = Field(description="Shared members over members of either.")
    share: float = Field(description="Share of the group's members in the community.")


class TopicOut(BaseModel):
    """Something the group talks about more than the tenant does."""

    tag: str
    weight: float = Field(description="Its share of what the group's members write about.")


class CohesionOut(BaseModel):
    """How close the group is."""

    density: float = Field(description="Share of member pairs that are tied (1: everyone with everyone).")
    conductance: float = Field(description="Weight of ties leaving the group over its own (0: closed, 1: open).")


class GrowthOut(BaseModel):
    """Members gained and lost over the last window."""

    gained: int
    lost: int
    window: str = Field(description="The window, e.g. 7d.")
    window_days: float = Field(description="The same window in days.")


class HistoryPointOut(BaseModel):
    """The group's size and status from one detection on."""

    at: datetime
    size: int
    status: str


class TieOut(BaseModel):
    """A tie inside the group, for drawing."""

    a: str
    b: str
    weight: float = Field(description="Decayed tie weight (a reply counts 2, a follow or mention 1, a reaction 0.5).")


class MicroCommunityOut(BaseModel):
    """A micro-community: a close group of members who talk to each other."""

    id: str = Field(description="Stable id, kept from detection to detection while the group continues.")
    size: int
    status: str = Field(description="emerging (no community holds it), inside (a close sub-group of one), matches.")
    overlaps: list[OverlapOut]
    topics: list[TopicOut]
    cohesion: CohesionOut
    first_seen: datetime
    growth: GrowthOut
    central_members: list[str] = Field(description="Most connected inside the group first.")
    member_ids: list[str] | None = Field(default=None, description="Every member (with include=member_ids).")


class MicroCommunityDetailOut(MicroCommunityOut):
    """A micro-community with its history, and (with include=edges) its internal ties."""

    history: list[HistoryPointOut]
    edges: list[TieOut] | None = Field(default=None, description="Heaviest internal ties (with include=edges).")


class MicroCommunityPage(BaseModel):
    """A page of micro-communities."""

    items: list[MicroCommunityOut]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last page.")


class ActionOut(BaseModel):
    """Something a community manager could do for the group, and why."""

    kind: str = Field(
        description="create_community, invite_to_community, invite_to_subspace, re_engage or connect_groups."
    )
    title: str
    reason: str
    members: list[str] = Field(description="Whom to invite or contact, first ones first.")
    proposed_name: str | None = None
    community_id: str | None = None


class DetectionScheduled(BaseModel):
    """A detection was asked for."""

    tenant: str
    runs_at: datetime = Field(description="When it should start (after the detections ahead of it).")
    queued_behind: int = Field(description="Detections that run before it.")
    last_detected_at: datetime | None = Field(description="When the groups served now were detected.")


def _window(days: float) -> str:
    return f"{days:g}d"


@dataclass(frozen=True)
class View:
    """A detection as the list reads it, computed once per detection: growth and the orders of each sort."""

    growth: dict[str, Growth]
    orders: dict[str, list[tuple[tuple[float, ...], str]]]


def detection_view(served: Served, window: timedelta) -> View:
    """Return a tenant's detection as the list reads it (computed once, then kept with what is served)."""
    detection = served.detection
    key = (id(detection), window)
    found = served.cache.get(key)
    if isinstance(found, View):
        return found
    groups = detection.groups if detection is not None else ()
    growth = {
        s.id: record.growth(_now(record, s), window)
        if (record := served.records.get(s.id)) is not None
        else Growth(s.size, 0, window)
        for s in groups
    }
    keys: dict[str, Callable[[GroupSummary], tuple[float, ...]]] = {
        "size": lambda s: (-float(s.size),),
        "cohesion": lambda s: (-round(s.cohesion.density, 6), round(s.cohesion.conductance, 6)),
        "growth": lambda s: (-float(growth[s.id].net), -float(growth[s.id].gained)),
    }
    orders = {name: sorted((k(s), s.id) for s in groups) for name, k in keys.items()}
    view = View(growth, orders)
    served.cache.clear()
    served.cache[key] = view
    return view


def group_body(
    summary: GroupSummary, growth: Growth, names: Callable[[str], str], with_members: bool
) -> dict[str, Any]:
    """Return a group's fields as :class:`MicroCommunityOut` reads them (``names``: community names by id)."""
    out: dict[str, Any] = {
        "id": summary.id,
        "size": summary.size,
        "status": summary.status.value,
        "overlaps": [
            {
                "id": o.community_id,
                "community_id": o.community_id,
                "name": names(o.community_id),
                "jaccard": round(o.jaccard, 4),
                "share": round(o.share, 4),
            }
            for o in summary.overlaps
        ],
        "topics": [{"tag": t.term.lstrip("#"), "weight": round(t.share, 4)} for t in summary.topics],
        "cohesion": {
            "density": round(summary.cohesion.density, 4),
            "conductance": round(summary.cohesion.conductance, 4),
        },
        "first_seen": summary.group.first_seen,
        "growth": {
            "gained": growth.gained,
            "lost": growth.lost,
            "window": _window(growth.window.total_seconds() / 86_400),
            "window_days": growth.window.total_seconds() / 86_400,
        },
        "central_members": list(summary.central),
    }
    if with_members:
        out["member_ids"] = sorted(summary.members)
    return out


def _now(record: GroupRecord, summary: GroupSummary) -> datetime:
    """Return the instant growth is measured at: the group's latest detection."""
    return record.history[-1].at if record.history else summary.group.first_seen
