"""One envelope class per event type, and the discriminated union of them all.

A new type is an envelope class here and a member of :data:`Event`; everything else that lists
types (:data:`EVENT_CLASSES`, :data:`ACTIVITY_TYPES`, the generator, the contracts) is derived.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal, get_args

from pydantic import Field, TypeAdapter

from kith_shared.events import data as d
from kith_shared.events.envelope import Envelope


class MemberJoinedEvent(Envelope):
    """Envelope of ``member.joined``: MemberJoined."""

    type: Literal["member.joined"] = "member.joined"
    data: d.MemberJoined


class MemberLeftEvent(Envelope):
    """Envelope of ``member.left``: MemberLeft."""

    type: Literal["member.left"] = "member.left"
    data: d.MemberLeft


class PostCreatedEvent(Envelope):
    """Envelope of ``post.created``: PostCreated."""

    type: Literal["post.created"] = "post.created"
    data: d.PostCreated


class PostEditedEvent(Envelope):
    """Envelope of ``post.edited``: PostEdited."""

    type: Literal["post.edited"] = "post.edited"
    data: d.PostEdited


class PostDeletedEvent(Envelope):
    """Envelope of ``post.deleted``: PostDeleted."""

    type: Literal["post.deleted"] = "post.deleted"
    data: d.PostDeleted


class CommentCreatedEvent(Envelope):
    """Envelope of ``comment.created``: CommentCreated."""

    type: Literal["comment.created"] = "comment.created"
    data: d.CommentCreated


class ReactionAddedEvent(Envelope):
    """Envelope of ``reaction.added``: ReactionAdded."""

    type: Literal["reaction.added"] = "reaction.added"
    data: d.ReactionAdded


class ReactionRemovedEvent(Envelope):
    """Envelope of ``reaction.removed``: ReactionRemoved."""

    type: Literal["reaction.removed"] = "reaction.removed"
    data: d.ReactionRemoved


class PostViewedEvent(Envelope):
    """Envelope of ``post.viewed``: PostViewed."""

    type: Literal["post.viewed"] = "post.viewed"
    data: d.PostViewed


class MemberFollowedEvent(Envelope):
    """Envelope of ``member.followed``: MemberFollowed."""

    type: Literal["member.followed"] = "member.followed"
    data: d.MemberFollowed


class MemberUnfollowedEvent(Envelope):
    """Envelope of ``member.unfollowed``: MemberUnfollowed."""

    type: Literal["member.unfollowed"] = "member.unfollowed"
    data: d.MemberUnfollowed


class EventAttendedEvent(Envelope):
    """Envelope of ``event.attended``: EventAttended."""

    type: Literal["event.attended"] = "event.attended"
    data: d.EventAttended


class EventHostedEvent(Envelope):
    """Envelope of ``event.hosted``: EventHosted."""

    type: Literal["event.hosted"] = "event.hosted"
    data: d.EventHosted


class CommunityCreatedEvent(Envelope):
    """Envelope of ``community.created``: CommunityCreated."""

    type: Literal["community.created"] = "community.created"
    data: d.CommunityCreated


class CommunityUpdatedEvent(Envelope):
    """Envelope of ``community.updated``: CommunityUpdated."""

    type: Literal["community.updated"] = "community.updated"
    data: d.CommunityUpdated


class MemberRoleSetEvent(Envelope):
    """Envelope of ``member.role.set``: MemberRoleSet."""

    type: Literal["member.role.set"] = "member.role.set"
    data: d.MemberRoleSet


class MemberBlockedEvent(Envelope):
    """Envelope of ``member.blocked``: MemberBlocked."""

    type: Literal["member.blocked"] = "member.blocked"
    data: d.MemberBlocked


class MemberProfileUpdatedEvent(Envelope):
    """Envelope of ``member.profile.updated``: MemberProfileUpdated."""

    type: Literal["member.profile.updated"] = "member.profile.updated"
    data: d.MemberProfileUpdated


class InterestsDeclaredEvent(Envelope):
    """Envelope of ``member.interests.declared``: InterestsDeclared."""

    type: Literal["member.interests.declared"] = "member.interests.declared"
    data: d.InterestsDeclared


class RecommendationShownEvent(Envelope):
    """Envelope of ``recommendation.shown``: RecommendationShown."""

    type: Literal["recommendation.shown"] = "recommendation.shown"
    data: d.RecommendationShown


class RecommendationClickedEvent(Envelope):
    """Envelope of ``recommendation.clicked``: RecommendationClicked."""

    type: Literal["recommendation.clicked"] = "recommendation.clicked"
    data: d.RecommendationClicked


class RecommendationDismissedEvent(Envelope):
    """Envelope of ``recommendation.dismissed``: RecommendationDismissed."""

    type: Literal["recommendation.dismissed"] = "recommendation.dismissed"
    data: d.RecommendationDismissed


class MemberErasedEvent(Envelope):
    """Envelope of ``member.erased``: MemberErased."""

    type: Literal["member.erased"] = "member.erased"
    data: d.MemberErased


class MemberReinstatedEvent(Envelope):
    """Envelope of ``member.reinstated``: MemberReinstated."""

    type: Literal["member.reinstated"] = "member.reinstated"
    data: d.MemberReinstated


class EngagementChangedEvent(Envelope):
    """Envelope of ``engagement.changed``: EngagementChanged."""

    type: Literal["engagement.changed"] = "engagement.changed"
    data: d.EngagementChanged


class KeyRevokedEvent(Envelope):
    """Envelope of ``key.revoked``: KeyRevoked."""

    type: Literal["key.revoked"] = "key.revoked"
    data: d.KeyRevoked


class _MicroCommunityEnvelope(Envelope):
    """A micro-community event: keyed by its group, so one group's events stay in order."""

    def partition_key(self) -> bytes:
        """Return ``<tenant>:<group_id>``."""
        return f"{self.tenant}:{self.data.group_id}".encode()


class MicroCommunityDetectedEvent(_MicroCommunityEnvelope):
    """Envelope of ``microcommunity.detected``: MicroCommunityDetected."""

    type: Literal["microcommunity.detected"] = "microcommunity.detected"
    data: d.MicroCommunityDetected


class MicroCommunityChangedEvent(_MicroCommunityEnvelope):
    """Envelope of ``microcommunity.changed``: MicroCommunityChanged."""

    type: Literal["microcommunity.changed"] = "microcommunity.changed"
    data: d.MicroCommunityChanged


class MicroCommunityFadedEvent(_MicroCommunityEnvelope):
    """Envelope of ``microcommunity.faded``: MicroCommunityFaded."""

    type: Literal["microcommunity.faded"] = "microcommunity.faded"
    data: d.MicroCommunityFaded


Event = Annotated[
    MemberJoinedEvent
    | MemberLeftEvent
    | PostCreatedEvent
    | PostEditedEvent
    | PostDeletedEvent
    | CommentCreatedEvent
    | ReactionAddedEvent
    | ReactionRemovedEvent
    | PostViewedEvent
    | MemberFollowedEvent
    | MemberUnfollowedEvent
    | EventAttendedEvent
    | EventHostedEvent
    | CommunityCreatedEvent
    | CommunityUpdatedEvent
    | MemberRoleSetEvent
    | MemberBlockedEvent
    | MemberProfileUpdatedEvent
    | InterestsDeclaredEvent
    | RecommendationShownEvent
    | RecommendationClickedEvent
    | RecommendationDismissedEvent
    | MemberErasedEvent
    | MemberReinstatedEvent
    | EngagementChangedEvent
    | KeyRevokedEvent
    | MicroCommunityDetectedEvent
    | MicroCommunityChangedEvent
    | MicroCommunityFadedEvent,
    Field(discriminator="type"),
]
"""Any event; pydantic picks the model from ``type``."""

EVENT_ADAPTER: Final[TypeAdapter[Event]] = TypeAdapter(Event)

#: Every known type name and its envelope class, read off the union above (the one place types are listed).
EVENT_CLASSES: Final[dict[str, type[Envelope]]] = {
    cls.model_fields["type"].default: cls for cls in get_args(get_args(Event)[0])
}

MICROCOMMUNITY_TYPES: Final[frozenset[str]] = frozenset(t for t in EVENT_CLASSES if t.startswith("microcommunity."))
"""What recommend publishes about the micro-communities it finds (on its own topic)."""

#: Types services publish themselves, never through ingest: scoring's engagement changes, control events,
#: recommend's micro-communities.
SERVICE_TYPES: Final[frozenset[str]] = frozenset({"engagement.changed", "key.revoked"}) | MICROCOMMUNITY_TYPES

ACTIVITY_TYPES: Final[frozenset[str]] = frozenset(EVENT_CLASSES) - SERVICE_TYPES
"""Types the activity topic carries."""

#: Activity types that only ingest's admin routes publish: refused from producers at either door.
ADMIN_TYPES: Final[frozenset[str]] = frozenset({"member.reinstated"})

PRODUCER_TYPES: Final[frozenset[str]] = ACTIVITY_TYPES - ADMIN_TYPES
"""Types that producers may send through ingest."""
