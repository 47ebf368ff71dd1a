"""Close the loop: a community created for a micro-community comes first in its members' suggestions.

When a community is created with ``seeded_from`` (the id of a detected group), each member of that
group who has not joined, dismissed or been blocked from it gets it at the top of their suggestions,
with a reason counting the people they already talk with among its first members ("you talk with 6
of its first members"), or, before any of them joined, the group it was made for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kith_recommend.domain.ranking import Suggestion
from kith_recommend.domain.reasons import Reason

#: The kind of reason a seeded suggestion carries.
SEEDED = "seeded"


@dataclass(frozen=True, slots=True)
class SeedOffer:
    """A community created for a group one member belongs to, and what to tell them about it."""

    community_id: str
    name: str
    members: int  # its size now
    talks_with: int  # its members this member already has ties with
    group_size: int  # the size of the group it was created for


def seeded_reason(offer: SeedOffer) -> str:
    """Return the reason a person reads for a seeded suggestion."""
    if offer.talks_with:
        return f"you talk with {offer.talks_with} of its first members"
    return f"created for a close group of {offer.group_size} members you are part of"


def put_first(
    found: Sequence[Suggestion], offers: Sequence[SeedOffer], limit: int, *, explain: bool
) -> list[Suggestion]:
    """Return ``found`` with the offered communities first (most ties first), cut to ``limit``."""
    if not offers or limit <= 0:
        return list(found[:limit])
    top = max((s.score for s in found), default=0.0)
    ordered = sorted(offers, key=lambda o: (-o.talks_with, o.community_id))
    seeded = [
        Suggestion(
            community_id=o.community_id,
            name=o.name,
            score=round(top + 1.0 + o.talks_with / 1_000.0, 6),
            members=o.members,
            reasons=[Reason(SEEDED, seeded_reason(o))] if explain else [],
            sources={SEEDED: 1.0} if explain else {},
        )
        for o in ordered
    ]
    offered = {o.community_id for o in offers}
    return (seeded + [s for s in found if s.community_id not in offered])[:limit]
