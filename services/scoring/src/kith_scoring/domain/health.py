"""A community's 0-100 health score: a weighted mean of the parts that can be measured."""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel

from kith_scoring.domain.decay import rounded

#: Each part of the health score: its weight and what it measures.
HEALTH_PARTS: Final = {
    "activity": (0.3, "share of members active in the last 7 days"),
    "retention": (0.25, "share of the previous window's active members active again"),
    "responsiveness": (0.2, "share of the window's posts that got a reply from another member"),
    "growth": (0.15, "members who joined, as a share of those who joined or left in the window"),
    "ownership": (0.1, "share of posts and comments written by members rather than staff or bots"),
}


class HealthPart(BaseModel):
    """One visible part of the health score."""

    name: str
    value: float | None
    weight: float
    explanation: str


class Health(BaseModel):
    """A 0-100 health score and the parts it averages."""

    score: float | None
    parts: list[HealthPart]


def health_score(
    *,
    members: int,
    wau: int,
    retention: float | None,
    response_rate: float | None,
    ugc: float | None,
    new: int,
    left: int,
) -> Health:
    """Return a 0-100 health score: a weighted mean of the parts that can be measured."""
    values = {
        "activity": rounded(min(1.0, wau / members)) if members else None,
        "retention": retention,
        "responsiveness": response_rate,
        "growth": rounded(new / (new + left)) if new + left else None,
        "ownership": ugc,
    }
    parts = [
        HealthPart(name=name, value=values[name], weight=weight, explanation=explanation)
        for name, (weight, explanation) in HEALTH_PARTS.items()
    ]
    measured = [p for p in parts if p.value is not None]
    total_weight = sum(p.weight for p in measured)
    value = rounded(100 * sum(p.weight * (p.value or 0.0) for p in measured) / total_weight) if total_weight else None
    return Health(score=value, parts=parts)
