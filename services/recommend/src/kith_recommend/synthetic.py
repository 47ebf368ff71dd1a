"""Build events by hand (tests, demos) and synthetic tenants at scale (benchmarks): deterministic."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from kith_shared.events import SCHEMA_VERSION, Event, validate_event
from kith_shared.events import data as d
from kith_shared.events import types as t

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


#: Tags synthetic communities and members are about.
TOPICS: tuple[str, ...] = tuple(
    " ".join(
        (
            "climbing bouldering running cycling hiking swimming yoga chess go poker baking bread coffee tea wine",
            "gardening birding photography film jazz techno vinyl guitar piano knitting sewing pottery painting",
            "drawing comics anime scifi fantasy poetry books history philosophy python rust gamedev robotics",
            "astronomy physics math ecology climate cooking vegan fermenting travel languages spanish japanese",
            "parenting dogs cats aquariums cars motorbikes sailing surfing skiing football basketball tennis",
        )
    ).split(" ")
)


@dataclass(frozen=True)
class WorldConfig:
    """Shape of a synthetic tenant: heavy-tailed community sizes, members with interests, ties and posts."""

    communities: int = 10_000
    members: int = 100_000
    seed: int = 7
    tenant: str = "bench"
    mean_joins: float = 3.0
    follows_per_member: float = 1.0
    posting_share: float = 0.2
    days: int = 30


def synthetic_events(config: WorldConfig) -> Iterator[Event]:
    """Yield a synthetic tenant's history as normalized events, deterministic per seed.

    Community popularity follows a Zipf-like law (most communities small); a member joins mostly
    communities about their interests, follows members met in their communities, and some post
    with hashtags of their community's topics and reply to others.
    """
    rng = np.random.default_rng(config.seed)
    n_c, n_m, tenant = config.communities, config.members, config.tenant
    common = {"source": "bench://synthetic", "tenant": tenant, "schemaversion": SCHEMA_VERSION}
    counter = itertools.count(1)

    def envelope(day: float) -> dict[str, Any]:
        when = START + timedelta(days=float(day))
        return {**common, "id": f"s{next(counter)}", "time": when, "receivedtime": when}

    topic_of = rng.integers(0, len(TOPICS), size=(n_c, 2))
    popularity = 1.0 / np.arange(1, n_c + 1) ** 0.9
    rng.shuffle(popularity)
    by_topic: dict[int, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = {}
    for topic in range(len(TOPICS)):
        ids = np.flatnonzero((topic_of == topic).any(axis=1))
        if ids.size:
            weights = np.cumsum(popularity[ids])
            by_topic[topic] = (ids, weights / weights[-1])
    overall = np.cumsum(popularity) / popularity.sum()
    cid = [f"c-{i:06d}" for i in range(n_c)]
    for i in range(n_c):
        topics = sorted({TOPICS[topic_of[i, 0]], TOPICS[topic_of[i, 1]]})
        yield t.CommunityCreatedEvent(
            **envelope(0),
            data=d.CommunityCreated(community_id=cid[i], name=f"{topics[0].title()} {i}", topics=topics),
        )
    members_of: dict[int, list[int]] = {}
    joined: list[list[int]] = []
    for m in range(n_m):
        member = f"m-{m:07d}"
        interests = rng.choice(len(TOPICS), size=2, replace=False)
        if m % 2 == 0:
            yield t.InterestsDeclaredEvent(
                **envelope(rng.uniform(0, config.days)),
                data=d.InterestsDeclared(member_id=member, interests=[TOPICS[x] for x in interests]),
            )
        picks: set[int] = set()
        for _ in range(int(rng.geometric(1.0 / config.mean_joins))):
            topic = int(interests[rng.integers(0, 2)])
            if rng.random() < 0.7 and topic in by_topic:
                ids, cumulative = by_topic[topic]
                picks.add(int(ids[min(int(np.searchsorted(cumulative, rng.random())), ids.size - 1)]))
            else:
                picks.add(min(int(np.searchsorted(overall, rng.random())), n_c - 1))
        joined.append(sorted(picks))
        for c in picks:
            members_of.setdefault(c, []).append(m)
            yield t.MemberJoinedEvent(
                **envelope(rng.uniform(0, config.days)), data=d.MemberJoined(member_id=member, community_id=cid[c])
            )
    for m in range(n_m):
        member = f"m-{m:07d}"
        for _ in range(int(rng.poisson(config.follows_per_member))):
            room = members_of[joined[m][int(rng.integers(0, len(joined[m])))]]
            other = room[int(rng.integers(0, len(room)))]
            if other != m:
                yield t.MemberFollowedEvent(
                    **envelope(rng.uniform(0, config.days)),
                    data=d.MemberFollowed(member_id=member, followed_member_id=f"m-{other:07d}"),
                )
        if rng.random() < config.posting_share:
            c = joined[m][int(rng.integers(0, len(joined[m])))]
            tag = TOPICS[topic_of[c, int(rng.integers(0, 2))]]
            day = rng.uniform(0, config.days)
            yield t.PostCreatedEvent(
                **envelope(day),
                data=d.PostCreated(
                    member_id=member,
                    community_id=cid[c],
                    post_id=f"p-{m}",
                    text=f"today: #{tag}",
                    text_features=d.TextFeatures(hashtags=[tag], keywords=[], length=12),
                ),
            )
            room = members_of[c]
            other = room[int(rng.integers(0, len(room)))]
            if other != m:
                yield t.CommentCreatedEvent(
                    **envelope(day),
                    data=d.CommentCreated(
                        member_id=f"m-{other:07d}",
                        community_id=cid[c],
                        comment_id=f"k-{m}",
                        post_id=f"p-{m}",
                        replied_to_member_id=member,
                        text="great",
                    ),
                )
