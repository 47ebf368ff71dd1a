"""Turn events into read-model changes: weighted edges and profile fields.

The read model is a set of edges ``(tenant, kind, a, b) -> weight`` plus a few profiles. The consumer
and the rebuild apply the same :class:`Change` lists to the in-memory state, record by record, so a
rebuild from the topics gives the same model.

Graph changes (:data:`GraphChange`: ties between members, event attendance, communities created for
a micro-community) feed the interaction graph that micro-communities are detected in (its own part of
each tenant's state); the ranking state ignores them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, Literal

from kith_recommend.domain.microcommunities.params import InteractionKind
from kith_shared.events import Event
from kith_shared.events import types as t


class Edge(StrEnum):
    """Kinds of weighted edges in the read model."""

    MEMBER = "member"  # member -> community: joined (1)
    ENGAGEMENT = "engagement"  # member -> community: scoring's engagement score
    ACTIVITY = "activity"  # member -> community: weighted count of posts, comments, reactions, events
    FOLLOWS = "follows"  # member -> member
    INTERACTS = "interacts"  # member -> member replied to, reacted to or mentioned
    TAG = "tag"  # member -> tag they write about (hashtags, keywords, post tags)
    COMMUNITY_TAG = "ctag"  # community -> tag its posts are about
    DISMISSED = "dismissed"  # member -> community
    BLOCKED = "blocked"  # member -> community
    SLIPPING = "slipping"  # member -> community where scoring says they are slipping away
    OWNER = "owner"  # member -> community
    SHOWN = "shown"  # member -> community
    CLICKED = "clicked"  # member -> community
    JOINS_DAY = "joinsday"  # community -> ISO day: joins that day (trending)
    JOINED_AT = "joinedat"  # member -> community: when they joined (epoch seconds), for self-tuning
    ATTENDED_AT = "attendedat"  # member -> place key (:func:`place_key`): events attended or hosted there


class Profile(StrEnum):
    """Kinds of profile documents in the read model."""

    COMMUNITY = "community"  # name, topics, visibility
    INTERESTS = "interests"  # a member's declared interests
    CLOCK = "clock"  # the latest event time seen in the tenant
    ROLE = "role"  # a member's roles by scope: PLATFORM_SCOPE or a community id -> role
    LOCATION = "location"  # where a member declared they are (empty fields: withdrawn)
    PLACE = "place"  # a place where events take place, by place key: name, country, coordinates


#: Weight of one activity of a member in a community (how engaged it shows them to be).
ACTIVITY_WEIGHTS: dict[str, float] = {
    "post.created": 3.0,
    "comment.created": 2.0,
    "reaction.added": 1.0,
    "post.viewed": 0.2,
    "event.attended": 3.0,
    "event.hosted": 5.0,
}


@dataclass(frozen=True, slots=True)
class EdgeChange:
    """Set, add to, or remove one edge."""

    tenant: str
    kind: Edge
    a: str
    b: str
    action: Literal["set", "inc", "unset"]
    value: float = 1.0


@dataclass(frozen=True, slots=True)
class ProfileChange:
    """Set profile fields (``max`` keeps the larger value of each field)."""

    tenant: str
    kind: Profile
    id: str
    fields: dict[str, Any] = field(default_factory=dict)
    mode: Literal["set", "max"] = "set"


@dataclass(frozen=True, slots=True)
class ErasureChange:
    """Forget everything about a member."""

    tenant: str
    member_id: str


@dataclass(frozen=True, slots=True)
class TieChange:
    """A member acted towards another (a follow, a reply, a mention, a reaction), or unfollowed them."""

    tenant: str
    kind: InteractionKind
    source: str
    target: str
    at: float
    action: Literal["add", "remove"] = "add"


@dataclass(frozen=True, slots=True)
class AttendanceChange:
    """A member attended or hosted an event (``event`` is ``<community>/<event id>``)."""

    tenant: str
    event: str
    member_id: str
    at: float


@dataclass(frozen=True, slots=True)
class SeedChange:
    """A community was created for a micro-community (``seeded_from``)."""

    tenant: str
    community_id: str
    group_id: str
    at: float


@dataclass(frozen=True, slots=True)
class ReinstatementChange:
    """A member erased before may act again: forget their tombstone (nothing erased comes back)."""

    tenant: str
    member_id: str


GraphChange = TieChange | AttendanceChange | SeedChange
GRAPH_CHANGES: Final = (TieChange, AttendanceChange, SeedChange)
Change = EdgeChange | ProfileChange | ErasureChange | ReinstatementChange | GraphChange

#: The role scope of a role set for the whole platform rather than one community.
PLATFORM_SCOPE: Final = "*"
#: Roles whose members count as neither co-members nor social ties in suggestions.
EXCLUDED_ROLES: Final = frozenset({"staff", "bot"})
#: Place keys: events at coordinates, and events without a place of their own (held where their community meets).
PLACE_PREFIX: Final = "p:"
COMMUNITY_PLACE_PREFIX: Final = "c:"
#: Between an event's place key and its community in what a member attended ("|" is in no id).
COMMUNITY_SEPARATOR: Final = "|"


def place_fields(location: Any) -> dict[str, Any]:
    """Return a location as stored fields: name, country, lat, lon (those given)."""
    fields = {"name": location.name, "country": location.country, "lat": location.latitude, "lon": location.longitude}
    return {k: v for k, v in fields.items() if v is not None}


def place_key(location: Any, community_id: str) -> str:
    """Return where an event took place: its coordinates (to about 100 m), or its community's place."""
    if location is not None and location.latitude is not None and location.longitude is not None:
        return f"{PLACE_PREFIX}{location.latitude:.3f},{location.longitude:.3f}"
    return f"{COMMUNITY_PLACE_PREFIX}{community_id}"


def _tags(features: Any, extra: list[str] | None = None) -> dict[str, float]:
    """Weigh the tags a text is about: hashtags and explicit tags count double, keywords once."""
    weights: dict[str, float] = {}
    for tag in extra or []:
        weights[normalize_tag(tag)] = weights.get(normalize_tag(tag), 0.0) + 2.0
    if features is not None:
        for tag in features.hashtags:
            weights[normalize_tag(tag)] = weights.get(normalize_tag(tag), 0.0) + 2.0
        for word in features.keywords:
            weights[normalize_tag(word)] = weights.get(normalize_tag(word), 0.0) + 1.0
    weights.pop("", None)
    return weights


def normalize_tag(tag: str) -> str:
    """Return a tag in its canonical form: lower case, without the leading '#'."""
    return tag.strip().lstrip("#").lower()


def changes_for(event: Event) -> list[Change]:
    """Return the read-model and graph changes one event makes."""
    tenant = event.tenant
    at = event.time.timestamp()
    clock = ProfileChange(tenant, Profile.CLOCK, "", {"now": at}, mode="max")
    out: list[Change] = [clock]
    match event:
        case t.MemberJoinedEvent(data=d):
            out.append(EdgeChange(tenant, Edge.MEMBER, d.member_id, d.community_id, "set"))
            out.append(EdgeChange(tenant, Edge.JOINED_AT, d.member_id, d.community_id, "set", at))
            day = event.time.date().isoformat()
            out.append(EdgeChange(tenant, Edge.JOINS_DAY, d.community_id, day, "inc"))
            if d.invited_by:
                out.append(EdgeChange(tenant, Edge.INTERACTS, d.member_id, d.invited_by, "inc"))
        case t.MemberLeftEvent(data=d):
            # The engagement score scoring last announced stays: it counts only while the member is a
            # member, and scoring's changes arrive on another topic, in an order no replay can repeat.
            out.append(EdgeChange(tenant, Edge.MEMBER, d.member_id, d.community_id, "unset"))
            out.append(EdgeChange(tenant, Edge.JOINED_AT, d.member_id, d.community_id, "unset"))
            if d.reason == "banned":
                out.append(EdgeChange(tenant, Edge.BLOCKED, d.member_id, d.community_id, "set"))
        case t.PostCreatedEvent(data=d) | t.PostEditedEvent(data=d):
            if event.type == "post.created":
                weight = ACTIVITY_WEIGHTS["post.created"]
                out.append(EdgeChange(tenant, Edge.ACTIVITY, d.member_id, d.community_id, "inc", weight))
            for tag, w in _tags(d.text_features, d.tags).items():
                out.append(EdgeChange(tenant, Edge.TAG, d.member_id, tag, "inc", w))
                out.append(EdgeChange(tenant, Edge.COMMUNITY_TAG, d.community_id, tag, "inc", w))
            out.extend(_mentions(tenant, d.member_id, d.text_features, at))
        case t.CommentCreatedEvent(data=d):
            weight = ACTIVITY_WEIGHTS["comment.created"]
            out.append(EdgeChange(tenant, Edge.ACTIVITY, d.member_id, d.community_id, "inc", weight))
            for tag, w in _tags(d.text_features).items():
                out.append(EdgeChange(tenant, Edge.TAG, d.member_id, tag, "inc", w))
                out.append(EdgeChange(tenant, Edge.COMMUNITY_TAG, d.community_id, tag, "inc", w))
            if d.replied_to_member_id and d.replied_to_member_id != d.member_id:
                out.append(EdgeChange(tenant, Edge.INTERACTS, d.member_id, d.replied_to_member_id, "inc", 2.0))
                out.append(TieChange(tenant, InteractionKind.REPLY, d.member_id, d.replied_to_member_id, at))
            out.extend(_mentions(tenant, d.member_id, d.text_features, at))
        case t.ReactionAddedEvent(data=d):
            weight = ACTIVITY_WEIGHTS["reaction.added"]
            out.append(EdgeChange(tenant, Edge.ACTIVITY, d.member_id, d.community_id, "inc", weight))
            if d.target_member_id and d.target_member_id != d.member_id:
                out.append(EdgeChange(tenant, Edge.INTERACTS, d.member_id, d.target_member_id, "inc", 1.0))
                out.append(TieChange(tenant, InteractionKind.REACTION, d.member_id, d.target_member_id, at))
        case t.PostViewedEvent(data=d):
            weight = ACTIVITY_WEIGHTS["post.viewed"]
            out.append(EdgeChange(tenant, Edge.ACTIVITY, d.member_id, d.community_id, "inc", weight))
        case t.EventAttendedEvent(data=d) | t.EventHostedEvent(data=d):
            weight = ACTIVITY_WEIGHTS[event.type]
            out.append(EdgeChange(tenant, Edge.ACTIVITY, d.member_id, d.community_id, "inc", weight))
            key = place_key(d.location, d.community_id)
            # Whose event it was goes with where: a hybrid community's meet-up may be attended from afar.
            attended = f"{key}{COMMUNITY_SEPARATOR}{d.community_id}" if key.startswith(PLACE_PREFIX) else key
            out.append(EdgeChange(tenant, Edge.ATTENDED_AT, d.member_id, attended, "inc"))
            if key.startswith(PLACE_PREFIX):
                out.append(ProfileChange(tenant, Profile.PLACE, key, place_fields(d.location)))
            out.append(AttendanceChange(tenant, f"{d.community_id}/{d.event_id}", d.member_id, at))
        case t.MemberFollowedEvent(data=d):
            if d.followed_member_id != d.member_id:
                out.append(EdgeChange(tenant, Edge.FOLLOWS, d.member_id, d.followed_member_id, "set"))
                out.append(TieChange(tenant, InteractionKind.FOLLOW, d.member_id, d.followed_member_id, at))
        case t.MemberUnfollowedEvent(data=d):
            out.append(EdgeChange(tenant, Edge.FOLLOWS, d.member_id, d.followed_member_id, "unset"))
            out.append(TieChange(tenant, InteractionKind.FOLLOW, d.member_id, d.followed_member_id, at, "remove"))
        case t.CommunityCreatedEvent(data=d):
            fields: dict[str, Any] = {
                "name": d.name,
                "topics": [normalize_tag(x) for x in d.topics],
                "visibility": d.visibility,
                "created": event.time.timestamp(),
                "mode": d.mode,
                "place": place_fields(d.location) if d.location is not None else {},
            }
            if d.seeded_from:
                fields["seeded_from"] = d.seeded_from
                out.append(SeedChange(tenant, d.community_id, d.seeded_from, at))
            out.append(ProfileChange(tenant, Profile.COMMUNITY, d.community_id, fields))
            if d.owner_id:
                out.append(EdgeChange(tenant, Edge.OWNER, d.owner_id, d.community_id, "set"))
        case t.CommunityUpdatedEvent(data=d):
            fields = {"name": d.name, "visibility": d.visibility, "mode": d.mode}
            if d.topics is not None:
                fields["topics"] = [normalize_tag(x) for x in d.topics]
            if d.location is not None:
                fields["place"] = place_fields(d.location)
            fields = {k: v for k, v in fields.items() if v is not None}
            if fields:
                out.append(ProfileChange(tenant, Profile.COMMUNITY, d.community_id, fields))
        case t.MemberRoleSetEvent(data=d):
            if d.community_id is not None:
                action: Literal["set", "unset"] = "set" if d.role == "owner" else "unset"
                out.append(EdgeChange(tenant, Edge.OWNER, d.member_id, d.community_id, action))
            scope = d.community_id or PLATFORM_SCOPE
            out.append(ProfileChange(tenant, Profile.ROLE, d.member_id, {scope: d.role}))
        case t.MemberProfileUpdatedEvent(data=d):
            declared = place_fields(d.location) if d.location is not None else {}
            out.append(ProfileChange(tenant, Profile.LOCATION, d.member_id, declared))
        case t.MemberBlockedEvent(data=d):
            out.append(EdgeChange(tenant, Edge.BLOCKED, d.member_id, d.community_id, "set"))
        case t.InterestsDeclaredEvent(data=d):
            interests = sorted({normalize_tag(x) for x in d.interests} - {""})
            out.append(ProfileChange(tenant, Profile.INTERESTS, d.member_id, {"interests": interests}))
        case t.RecommendationShownEvent(data=d):
            out.append(EdgeChange(tenant, Edge.SHOWN, d.member_id, d.community_id, "inc"))
        case t.RecommendationClickedEvent(data=d):
            out.append(EdgeChange(tenant, Edge.CLICKED, d.member_id, d.community_id, "inc"))
        case t.RecommendationDismissedEvent(data=d):
            out.append(EdgeChange(tenant, Edge.DISMISSED, d.member_id, d.community_id, "set"))
        case t.MemberErasedEvent(data=d):
            out.append(ErasureChange(tenant, d.member_id))
        case t.MemberReinstatedEvent(data=d):
            out.append(ReinstatementChange(tenant, d.member_id))
        case t.EngagementChangedEvent(data=d):
            if d.state == "erased":
                out.append(EdgeChange(tenant, Edge.ENGAGEMENT, d.member_id, d.community_id, "unset"))
            else:
                out.append(EdgeChange(tenant, Edge.ENGAGEMENT, d.member_id, d.community_id, "set", d.score))
            slipping: Literal["set", "unset"] = "set" if d.state == "slipping" else "unset"
            out.append(EdgeChange(tenant, Edge.SLIPPING, d.member_id, d.community_id, slipping))
        case _:
            pass
    return out


def _mentions(tenant: str, member_id: str, features: Any, at: float) -> list[Change]:
    if features is None:
        return []
    mentioned = sorted({normalize_tag(m) for m in features.mentions} - {"", member_id})
    out: list[Change] = [EdgeChange(tenant, Edge.INTERACTS, member_id, m, "inc", 1.0) for m in mentioned]
    out.extend(TieChange(tenant, InteractionKind.MENTION, member_id, m, at) for m in mentioned)
    return out


#: Edge kinds whose ``a`` is the member who acted, and those whose ``b`` is a member acted towards.
_ACTOR_EDGES: Final = frozenset(Edge) - {Edge.COMMUNITY_TAG, Edge.JOINS_DAY}
_TARGET_EDGES: Final = frozenset({Edge.FOLLOWS, Edge.INTERACTS})
_MEMBER_PROFILES: Final = frozenset({Profile.INTERESTS, Profile.ROLE, Profile.LOCATION})


def actor(change: Change) -> str | None:
    """Return the member whose own activity or profile a change records (None: a community's, a place's)."""
    if isinstance(change, EdgeChange):
        return change.a if change.kind in _ACTOR_EDGES else None
    if isinstance(change, ProfileChange):
        return change.id if change.kind in _MEMBER_PROFILES else None
    if isinstance(change, TieChange):
        return change.source
    if isinstance(change, AttendanceChange):
        return change.member_id
    return None


def target(change: Change) -> str | None:
    """Return the member a change records someone acting towards (followed, replied to, mentioned)."""
    if isinstance(change, EdgeChange) and change.kind in _TARGET_EDGES:
        return change.b
    if isinstance(change, TieChange):
        return change.target
    return None
