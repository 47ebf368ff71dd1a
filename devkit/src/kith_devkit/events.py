"""Events built by hand for tests and benchmarks, and generated events made to look as ingest publishes them.

Every builder returns a valid event; ``normalized=True`` (the default) marks it as ingest marks what it
publishes on the activity topic (receive time and schema version), which is what consumers read.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from kith_shared.events import SCHEMA_VERSION, Event, validate_event
from kith_shared.events.data import CommentCreated, PostCreated, PostEdited, TextFeatures

START: Final = datetime(2026, 11, 1, tzinfo=UTC)
_ids = itertools.count(1)
_HASHTAG: Final = re.compile(r"#(\w[\w-]*)")
_MENTION: Final = re.compile(r"@([A-Za-z0-9_:\-]+)")
_KEYWORD: Final = re.compile(r"[A-Za-z]{7,}")


def event(
    type_: str, data: dict[str, Any], *, tenant: str = "acme", day: float = 0.0, normalized: bool = True
) -> Event:
    """Return one valid event of ``type_`` at ``day`` days after :data:`START`."""
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
        body["schemaversion"] = SCHEMA_VERSION
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


def as_ingested(raw: Event) -> Event:
    """Return a generated (raw) event as ingest would publish it: marked, with its text's tags, mentions, keywords.

    A cheap stand-in for ingest's normalization, for tests and benchmarks of the consumers: it does not
    clean markup or guess languages.
    """
    update: dict[str, Any] = {"receivedtime": raw.time + timedelta(seconds=2), "schemaversion": SCHEMA_VERSION}
    data = raw.data
    if isinstance(data, PostCreated | PostEdited | CommentCreated):
        features = TextFeatures(
            hashtags=sorted({tag.lower() for tag in _HASHTAG.findall(data.text)}),
            mentions=list(dict.fromkeys(_MENTION.findall(data.text))),
            keywords=sorted({word.lower() for word in _KEYWORD.findall(data.text)})[:5],
            length=len(data.text),
        )
        update["data"] = data.model_copy(update={"text_features": features})
    return raw.model_copy(update=update)
