"""Build events by hand (tests, demos) and synthetic tenants at scale (benchmarks): deterministic."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from kith_shared.events import Event, validate_event

START = datetime(2026, 11, 1, tzinfo=UTC)
_ids = itertools.count(1)


def event(
    type_: str, data: dict[str, Any], *, tenant: str = "acme", day: float = 0.0, normalized: bool = True
) -> Event:
    """Return one valid event of ``type_`` (normalized by default, as it travels on the activity topic)."""
    when = START + timedelta(days=day)
    body: dict[str, Any] = {
        "id": f"e-{next(_ids)}",
        "source": "app://test",
        "type": type_,
        "time": when.isoformat(),
        "tenant": tenant,
        "data": data,
    }
    if normalized:
        body["receivedtime"] = when.isoformat()
        body["schemaversion"] = 1
    return validate_event(body)


def community(
    cid: str,
    name: str,
    topics: list[str],
    *,
    visibility: str = "public",
    owner: str | None = None,
    tenant: str = "acme",
) -> Event:
    """Return a community.created event."""
    data: dict[str, Any] = {"community_id": cid, "name": name, "topics": topics, "visibility": visibility}
    if owner:
        data["owner_id"] = owner
    return event("community.created", data, tenant=tenant)


def join(member: str, cid: str, *, day: float = 0.0, tenant: str = "acme") -> Event:
    """Return a member.joined event."""
    return event("member.joined", {"member_id": member, "community_id": cid}, day=day, tenant=tenant)


def post(member: str, cid: str, text: str, hashtags: list[str], *, tenant: str = "acme") -> Event:
    """Return a normalized post.created event with its hashtags extracted."""
    data = {
        "member_id": member,
        "community_id": cid,
        "post_id": f"p-{next(_ids)}",
        "text": text,
        "text_features": {"hashtags": hashtags, "keywords": [], "length": len(text)},
    }
    return event("post.created", data, tenant=tenant)


def reply(member: str, to: str, cid: str, *, tenant: str = "acme") -> Event:
    """Return a comment.created event replying to another member."""
    data = {
        "member_id": member,
        "community_id": cid,
        "comment_id": f"k-{next(_ids)}",
        "post_id": "p-x",
        "replied_to_member_id": to,
        "text": "nice one",
    }
    return event("comment.created", data, tenant=tenant)
