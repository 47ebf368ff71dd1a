"""Members slipping away: formerly in a community's top quartile, quiet since."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel

from kith_scoring.domain.config import TenantConfig
from kith_scoring.domain.decay import earlier, rounded, score
from kith_scoring.domain.documents import CommunityDoc, MemberCommunityDoc
from kith_scoring.domain.members import is_member


class SlippingMember(BaseModel):
    """A formerly top-quartile member who has gone quiet."""

    member_id: str
    score_then: float
    score_now: float
    last_active: datetime | None
    quiet_days: float


def slipping_away(
    docs: Iterable[MemberCommunityDoc], config: TenantConfig, at: datetime, quiet_days: int
) -> list[SlippingMember]:
    """Return members in the top quartile ``quiet_days`` ago who have not been active since."""
    then = earlier(at, timedelta(days=quiet_days))
    candidates = [d for d in docs if not d.get("anonymous") and is_member(d)]
    scored = [(score(d.get("f", {}), config, then), d) for d in candidates]
    scored = [pair for pair in scored if pair[0] > 0]
    if not scored:
        return []
    scored.sort(key=lambda pair: (-rounded(pair[0]), pair[1]["member_id"]))
    top = scored[: math.ceil(len(scored) / 4)]
    slipping = []
    for then_score, doc in top:
        last = doc.get("last")
        if last is None or last <= then:
            slipping.append(
                SlippingMember(
                    member_id=doc["member_id"],
                    score_then=rounded(then_score),
                    score_now=rounded(score(doc.get("f", {}), config, at)),
                    last_active=last,
                    quiet_days=rounded((at - last).total_seconds() / 86_400) if last else float(quiet_days),
                )
            )
    return slipping


def sweep_instants(places: Sequence[CommunityDoc]) -> list[tuple[CommunityDoc, datetime]]:
    """Return each community with any activity, with the instant it is looked at: its tenant's latest activity.

    A tenant's clock, not the wall clock: figures follow event time, so a backfill or a rebuild gives
    the same verdicts, and a community that fell silent is still looked at as its tenant moves on.
    """
    clocks: dict[str, datetime] = {}
    for place in places:
        last = place.get("last_event")
        if last is not None and (place["tenant"] not in clocks or last > clocks[place["tenant"]]):
            clocks[place["tenant"]] = last
    return [(place, clocks[place["tenant"]]) for place in places if place.get("last_event") is not None]
