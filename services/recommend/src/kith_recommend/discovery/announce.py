"""What a detection announces, as contract events on ``microcommunities.v1``.

An event's id is made of the group, the kind and the detection time, so publishing the same
announcement twice (a retry after a crash between publishing and clearing the outbox) repeats the
same (source, id), which consumers take as one event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from kith_recommend.domain.microcommunities import GroupChanged, GroupDetected, GroupEvent, GroupFaded, GroupSummary
from kith_shared.events import Event
from kith_shared.events import data as d
from kith_shared.events import types as t

SOURCE: Final = "kith://recommend/microcommunities"


def _id(event: GroupEvent, kind: str) -> str:
    return f"{event.group_id}:{kind}:{round(event.at.timestamp() * 1000)}"


def contract_events(tenant: str, events: list[GroupEvent], summaries: Mapping[str, GroupSummary]) -> list[Event]:
    """Return the contract events of a detection's group events (``summaries``: the detection's groups by id)."""
    out: list[Event] = []
    for event in events:
        envelope: dict[str, Any] = {"source": SOURCE, "time": event.at, "tenant": tenant}
        if isinstance(event, GroupDetected):
            detected = _detected(event, summaries[event.group_id])
            out.append(t.MicroCommunityDetectedEvent(id=_id(event, "detected"), **envelope, data=detected))
        elif isinstance(event, GroupChanged):
            changed = _changed(event, summaries[event.group_id])
            out.append(t.MicroCommunityChangedEvent(id=_id(event, "changed"), **envelope, data=changed))
        elif isinstance(event, GroupFaded):
            out.append(t.MicroCommunityFadedEvent(id=_id(event, "faded"), **envelope, data=_faded(event)))
    return out


def _detected(event: GroupDetected, summary: GroupSummary) -> d.MicroCommunityDetected:
    return d.MicroCommunityDetected(
        group_id=event.group_id,
        size=event.size,
        status=event.status.value,
        community_id=summary.community_id,
        members=sorted(event.members),
        central_members=list(summary.central),
        topics=[_tag(topic.term) for topic in summary.topics if _tag(topic.term)],
    )


def _changed(event: GroupChanged, summary: GroupSummary) -> d.MicroCommunityChanged:
    return d.MicroCommunityChanged(
        group_id=event.group_id,
        size=event.size,
        previous_size=event.size_before,
        status=event.status.value,
        previous_status=event.status_before.value,
        community_id=summary.community_id,
        gained=sorted(event.gained),
        lost=sorted(event.lost),
    )


def _faded(event: GroupFaded) -> d.MicroCommunityFaded:
    return d.MicroCommunityFaded(
        group_id=event.group_id,
        last_size=event.last_size,
        last_status=event.last_status.value,
        last_members=sorted(event.last_members),
    )


def _tag(term: str) -> str:
    return term.lstrip("#").strip().lower()[:64]
