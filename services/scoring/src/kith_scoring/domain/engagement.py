"""What engagement changes to announce, and the ``engagement.changed`` events that announce them.

A member's standing in a community is their score and level at an instant. A batch announces a
member whose standing it moved, and a member flagged slipping away who is active again (``back``);
the sweep announces members newly slipping away; an erasure announces the member ``erased`` in each
community they had figures in. The store reads and writes; these functions decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal, cast

from kith_scoring.domain.config import TenantConfig
from kith_scoring.domain.decay import level, rounded, score
from kith_scoring.domain.docops import DocUpdate, apply_update
from kith_scoring.domain.documents import MemberCommunityDoc, member_community_id
from kith_scoring.domain.identity import identity_hash, moment
from kith_scoring.domain.slipping import SlippingMember
from kith_shared.events.data import EngagementChanged
from kith_shared.events.types import EngagementChangedEvent

ENGAGEMENT_SOURCE: Final = "kith://scoring"
State = Literal["active", "back", "slipping", "erased"]


@dataclass(frozen=True, slots=True)
class Standing:
    """A member's score (rounded as announced) and level in a community at an instant."""

    score: float
    level: int


def standing(doc: MemberCommunityDoc, config: TenantConfig, at: datetime) -> Standing:
    """Return a member's standing at ``at`` from their member-in-community document."""
    return Standing(rounded(score(doc.get("f", {}), config, at)), level(doc, config, at))


def moved_at(update: DocUpdate, before: MemberCommunityDoc | None, now: datetime) -> datetime:
    """Return the instant a batch's change of a member is evaluated at: their latest activity (``now`` if none)."""
    known = (update.max.get("last"), update.max.get("left_last"), (before or {}).get("last"))
    return max((t for t in known if t), default=now)


def batch_change(
    tenant: str,
    community: str,
    member: str,
    before: MemberCommunityDoc | None,
    update: DocUpdate,
    config: TenantConfig,
    *,
    was_slipping: bool,
    now: datetime,
) -> EngagementChangedEvent | None:
    """Return what to announce about a member a batch updated (``before``: their stored document), or None.

    Announced: a score or level that moved, evaluated at the member's latest activity, and the
    return (``back``) of a member flagged slipping away, whether or not their standing moved.
    """
    at = moved_at(update, before, now)
    previous = standing(before, config, at) if before is not None else None
    after = cast("MemberCommunityDoc", apply_update(before, update))
    current = standing(after, config, at)
    state: State = "back" if was_slipping else "active"
    if state == "active" and previous == current:
        return None
    return engagement_change(
        tenant,
        community,
        member,
        current.score,
        previous.score if previous else None,
        current.level,
        previous.level if previous else None,
        state,
        at,
    )


def slipping_change(
    tenant: str, community: str, slipping: SlippingMember, doc: MemberCommunityDoc, config: TenantConfig, at: datetime
) -> EngagementChangedEvent:
    """Return the announcement of a member newly slipping away, as of ``at`` (its tenant's latest activity)."""
    return engagement_change(
        tenant,
        community,
        slipping.member_id,
        slipping.score_now,
        slipping.score_then,
        level(doc, config, at),
        None,
        "slipping",
        at,
    )


def erased_change(tenant: str, community: str, member: str, at: datetime) -> EngagementChangedEvent:
    """Return the announcement that a member's figures in a community were erased."""
    return engagement_change(tenant, community, member, 0.0, None, 0, None, "erased", at)


def engagement_change(
    tenant: str,
    community: str,
    member: str,
    score_now: float,
    previous_score: float | None,
    level_now: int,
    previous_level: int | None,
    state: State,
    as_of: datetime,
) -> EngagementChangedEvent:
    """Return the engagement-changed event of one member in one community (its id is stable across replays)."""
    data = EngagementChanged.model_validate(
        {
            "member_id": member,
            "community_id": community,
            "score": score_now,
            "previous_score": previous_score,
            "level": level_now,
            "previous_level": previous_level,
            "state": state,
            "as_of": moment(as_of),
        }
    )
    ident = identity_hash(
        member_community_id(tenant, community, member), f"{state}|{moment(as_of).isoformat()}|{score_now}"
    )
    return EngagementChangedEvent(
        id=f"eng-{ident}",
        source=ENGAGEMENT_SOURCE,
        time=moment(as_of),
        tenant=tenant,
        subject=member,
        data=data,
    )
