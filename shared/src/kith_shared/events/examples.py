"""One example event per type, as a producer would send it. Tests validate every one."""

from __future__ import annotations

import copy
from typing import Any, Final

_BASE: Final[dict[str, Any]] = {
    "specversion": "1.0",
    "source": "app://climbing-club/web",
    "time": "2026-11-02T18:04:05+01:00",
    "tenant": "demo",
}

_DATA: Final[dict[str, dict[str, Any]]] = {
    "member.joined": {"community_id": "bouldering-berlin", "member_id": "m-ada", "invited_by": "m-ben"},
    "member.left": {"community_id": "bouldering-berlin", "member_id": "m-ada", "reason": "left"},
    "post.created": {
        "community_id": "bouldering-berlin",
        "member_id": "m-ada",
        "post_id": "p-1001",
        "title": "Sunday session?",
        "text": "<p>Who is up for <b>Ostbloc</b> on Sunday? #bouldering @m-ben https://ostbloc.example</p>",
        "tags": ["bouldering"],
    },
    "post.edited": {
        "community_id": "bouldering-berlin",
        "member_id": "m-ada",
        "post_id": "p-1001",
        "text": "Who is up for Ostbloc on Sunday at 10? #bouldering",
    },
    "post.deleted": {"community_id": "bouldering-berlin", "member_id": "m-ada", "post_id": "p-1001"},
    "comment.created": {
        "community_id": "bouldering-berlin",
        "member_id": "m-ben",
        "comment_id": "c-2001",
        "post_id": "p-1001",
        "replied_to_member_id": "m-ada",
        "text": "Count me in! Bringing the new crash pad.",
    },
    "reaction.added": {
        "community_id": "bouldering-berlin",
        "member_id": "m-cem",
        "target_id": "p-1001",
        "target_member_id": "m-ada",
        "reaction": "like",
    },
    "reaction.removed": {
        "community_id": "bouldering-berlin",
        "member_id": "m-cem",
        "target_id": "p-1001",
        "target_member_id": "m-ada",
        "reaction": "like",
    },
    "post.viewed": {
        "community_id": "bouldering-berlin",
        "member_id": "m-dora",
        "post_id": "p-1001",
        "author_member_id": "m-ada",
        "seconds": 12.5,
    },
    "member.followed": {"member_id": "m-dora", "followed_member_id": "m-ada"},
    "member.unfollowed": {"member_id": "m-dora", "followed_member_id": "m-ada"},
    "event.attended": {
        "community_id": "bouldering-berlin",
        "member_id": "m-ben",
        "event_id": "e-sunday-10",
        "location": {"name": "Ostbloc, Berlin", "country": "DE", "latitude": 52.4935, "longitude": 13.4613},
    },
    "event.hosted": {"community_id": "bouldering-berlin", "member_id": "m-ada", "event_id": "e-sunday-10"},
    "community.created": {
        "community_id": "bouldering-berlin",
        "name": "Bouldering Berlin",
        "description": "Weekend sessions in Berlin's bouldering gyms.",
        "topics": ["bouldering", "climbing", "berlin"],
        "visibility": "public",
        "owner_id": "m-ada",
        "mode": "local",
        "location": {"name": "Berlin", "country": "DE", "latitude": 52.52, "longitude": 13.405},
        "seeded_from": "mc-3f2a9c1b7d405e0b",
    },
    "community.updated": {"community_id": "bouldering-berlin", "topics": ["bouldering", "climbing", "outdoors"]},
    "member.role.set": {"member_id": "m-bot-7", "role": "bot"},
    "member.blocked": {"community_id": "bouldering-berlin", "member_id": "m-spam"},
    "member.profile.updated": {
        "member_id": "m-eve",
        "location": {"name": "Potsdam", "country": "DE", "latitude": 52.3906, "longitude": 13.0645},
    },
    "member.interests.declared": {"member_id": "m-eve", "interests": ["climbing", "yoga"]},
    "recommendation.shown": {"member_id": "m-eve", "community_id": "bouldering-berlin", "position": 0},
    "recommendation.clicked": {"member_id": "m-eve", "community_id": "bouldering-berlin", "position": 0},
    "recommendation.dismissed": {"member_id": "m-eve", "community_id": "bouldering-berlin"},
    "member.erased": {"member_id": "m-ada"},
    "member.reinstated": {"member_id": "m-ada"},
    "engagement.changed": {
        "member_id": "m-ada",
        "community_id": "bouldering-berlin",
        "score": 12.5,
        "previous_score": 9.0,
        "level": 2,
        "previous_level": 1,
        "state": "active",
        "as_of": "2026-11-02T17:05:00Z",
    },
    "key.revoked": {"key_id": "3f9c2a71b0de"},
    "microcommunity.detected": {
        "group_id": "mc-3f2a9c1b7d405e0b",
        "size": 4,
        "status": "emerging",
        "members": ["m-ada", "m-ben", "m-cem", "m-dora"],
        "central_members": ["m-ada", "m-ben"],
        "topics": ["sourdough", "baking"],
    },
    "microcommunity.changed": {
        "group_id": "mc-3f2a9c1b7d405e0b",
        "size": 6,
        "previous_size": 4,
        "status": "matches",
        "previous_status": "emerging",
        "community_id": "sourdough-berlin",
        "gained": ["m-eve", "m-fin"],
        "lost": [],
    },
    "microcommunity.faded": {
        "group_id": "mc-3f2a9c1b7d405e0b",
        "last_size": 3,
        "last_status": "emerging",
        "last_members": ["m-ada", "m-ben", "m-cem"],
    },
}


def example(event_type: str) -> dict[str, Any]:
    """Return a fresh copy of the example event of ``event_type``."""
    data = copy.deepcopy(_DATA[event_type])  # nested maps (a location) too: callers change their copy
    return {**_BASE, "id": f"ex-{event_type}", "type": event_type, "data": data}


def all_examples() -> dict[str, dict[str, Any]]:
    """Return every example, by type."""
    return {event_type: example(event_type) for event_type in _DATA}
