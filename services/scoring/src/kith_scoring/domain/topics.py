"""What a community talks about and how fast it answers: trending topics and first-response delays.

Both read the community's day documents (see :class:`~kith_scoring.domain.documents.CommunityDayDoc`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime

from pydantic import BaseModel, Field

from kith_scoring.domain.decay import DAY, earlier, rounded, window_days
from kith_scoring.domain.documents import CommunityDayDoc


class Trend(BaseModel):
    """A topic or hashtag and how its use moved."""

    name: str
    kind: str
    count: int
    previous: int
    growth: float | None = Field(description="(count - previous) / previous; None when new.")


def trending(topic_docs: Iterable[CommunityDayDoc], at: datetime, days: int, limit: int = 10) -> list[Trend]:
    """Return hashtags and keywords most used in the window, with growth against the window before."""
    current_days = set(window_days(at, days))
    previous_days = set(window_days(earlier(at, DAY * days), days))
    tallies: dict[tuple[str, str], list[int]] = {}
    for doc in topic_docs:
        slot = 0 if doc["day"] in current_days else 1 if doc["day"] in previous_days else None
        if slot is None:
            continue
        for kind, uses in (("hashtag", doc.get("h", {})), ("keyword", doc.get("k", {}))):
            for name, n in uses.items():
                tallies.setdefault((kind, name), [0, 0])[slot] += int(n)
    trends = [
        Trend(name=name, kind=kind, count=cur, previous=prev, growth=rounded((cur - prev) / prev) if prev else None)
        for (kind, name), (cur, prev) in tallies.items()
        if cur > 0
    ]
    trends.sort(key=lambda t: (-t.count, -(t.growth if t.growth is not None else math.inf), t.kind, t.name))
    return trends[:limit]


def response_delays(
    topic_docs: Iterable[CommunityDayDoc], days: Sequence[str], at: datetime, excluded: set[str]
) -> list[float | None]:
    """Return, for each post created on ``days`` up to ``at`` (not by ``excluded``, not deleted by then),
    the seconds to its first comment by another member, or None when it has none yet."""
    wanted = set(days)
    created: dict[str, datetime] = {}
    authors: dict[str, str] = {}
    deleted: set[str] = set()
    first: dict[str, dict[str, datetime]] = {}
    for doc in topic_docs:
        if doc.get("day") not in wanted:
            continue
        for post, t in doc.get("pc", {}).items():
            if t <= at:
                created[post] = min(t, created.get(post, t))
        authors.update(doc.get("pa", {}))
        deleted.update(post for post, t in doc.get("pd", {}).items() if t <= at)
        for post, responders in doc.get("fc", {}).items():
            mine = first.setdefault(post, {})
            for who, t in responders.items():
                if t <= at:
                    mine[who] = min(t, mine.get(who, t))
    delays: list[float | None] = []
    for post, t in sorted(created.items()):
        author = authors.get(post)
        if post in deleted or author in excluded:
            continue
        others = [r for who, r in first.get(post, {}).items() if who != author and r >= t]
        delays.append((min(others) - t).total_seconds() if others else None)
    return delays
