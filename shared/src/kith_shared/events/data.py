"""Payload (``data``) models for every event type.

Each model describes what a producer sends. Fields whose names end in ``_features`` are filled
by ingest's normalization and are ignored (overwritten) when a producer sends them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from kith_shared.events.display import VISIBLE, not_blank
from kith_shared.events.instants import Instant
from kith_shared.events.safety import check_safe_mapping

#: Ids are opaque strings. They never contain "." or "$" so that no id can become a MongoDB path
#: or operator when a service stores it.
Id = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_:@\-]+$"),
]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=64), VISIBLE]
#: A post title or community description, as shown to people.
Title = Annotated[str, StringConstraints(max_length=500), VISIBLE]
Description = Annotated[str, StringConstraints(max_length=5_000), VISIBLE]
#: A community name: never blank once invisible characters are removed.
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=200),
    VISIBLE,
    AfterValidator(not_blank),
    Field(json_schema_extra={"minLength": 1}),
]
Properties = Annotated[dict[str, Any], AfterValidator(check_safe_mapping)]


class _Data(BaseModel):
    # Numbers are finite: JSON's 1e400 parses as infinity, which no figure can be.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class _Activity(_Data):
    """Activity of one member in one community."""

    community_id: Id
    member_id: Id
    properties: Properties = Field(default_factory=dict)


class TextFeatures(BaseModel):
    """What normalization extracts from a post or comment text."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hashtags: list[str] = Field(default_factory=list)
    mentions: list[str] = Field(default_factory=list)
    links: list[str] = Field(default_factory=list)
    language: str | None = None
    keywords: list[str] = Field(default_factory=list)
    length: int = 0
    original: str | None = Field(default=None, description="The text as received, kept for audit when configured.")


class MemberJoined(_Activity):
    """A member joined a community."""

    invited_by: Id | None = None


class MemberLeft(_Activity):
    """A member left a community (or was removed)."""

    reason: Literal["left", "removed", "banned"] = "left"


class PostCreated(_Activity):
    """A member created a post."""

    post_id: Id
    title: Title | None = None
    text: str
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    text_features: TextFeatures | None = None


class PostEdited(_Activity):
    """A member edited a post."""

    post_id: Id
    title: Title | None = None
    text: str
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    text_features: TextFeatures | None = None


class PostDeleted(_Activity):
    """A post was deleted (by its author or a moderator)."""

    post_id: Id


class CommentCreated(_Activity):
    """A member commented on a post or replied to another comment."""

    comment_id: Id
    post_id: Id
    parent_id: Id | None = Field(default=None, description="The comment replied to; absent for a top-level comment.")
    replied_to_member_id: Id | None = Field(default=None, description="Author of the post or comment replied to.")
    text: str
    text_features: TextFeatures | None = None


class ReactionAdded(_Activity):
    """A member reacted to a post or comment."""

    target_id: Id
    target_member_id: Id | None = None
    reaction: Annotated[str, StringConstraints(min_length=1, max_length=32)] = "like"


class ReactionRemoved(_Activity):
    """A member withdrew a reaction."""

    target_id: Id
    target_member_id: Id | None = None
    reaction: Annotated[str, StringConstraints(min_length=1, max_length=32)] = "like"


class PostViewed(_Activity):
    """A member viewed a post."""

    post_id: Id
    author_member_id: Id | None = None
    seconds: Annotated[float, Field(ge=0, le=86_400)] | None = None


class EventAttended(_Activity):
    """A member attended a community event (meet-up, call, session)."""

    event_id: Id


class EventHosted(_Activity):
    """A member hosted a community event."""

    event_id: Id


class MemberFollowed(_Data):
    """A member followed another member (a social tie)."""

    member_id: Id
    followed_member_id: Id


class MemberUnfollowed(_Data):
    """A member stopped following another member."""

    member_id: Id
    followed_member_id: Id


class MemberRoleSet(_Data):
    """A member's role was set, in one community or (without a community) platform-wide.

    Staff and bots are left out of community metrics; owners never get their own community
    suggested.
    """

    member_id: Id
    community_id: Id | None = None
    role: Literal["member", "moderator", "owner", "staff", "bot"]


class MemberBlocked(_Data):
    """A community blocked a member: the community is never suggested to them."""

    community_id: Id
    member_id: Id


class CommunityCreated(_Data):
    """A community was created."""

    community_id: Id
    name: Name
    description: Description = ""
    topics: list[Tag] = Field(default_factory=list, max_length=50)
    visibility: Literal["public", "private", "hidden"] = "public"
    owner_id: Id | None = None
    seeded_from: Id | None = Field(
        default=None, description="The micro-community (group id) this community was created for, if any."
    )


class CommunityUpdated(_Data):
    """A community's profile changed. Absent fields are unchanged."""

    community_id: Id
    name: Name | None = None
    description: Description | None = None
    topics: list[Tag] | None = Field(default=None, max_length=50)
    visibility: Literal["public", "private", "hidden"] | None = None


class InterestsDeclared(_Data):
    """A member declared their interests (used for cold start)."""

    member_id: Id
    interests: list[Tag] = Field(min_length=1, max_length=50)


class _Feedback(_Data):
    member_id: Id
    community_id: Id
    list_id: Annotated[str, StringConstraints(max_length=128), VISIBLE] | None = None
    position: Annotated[int, Field(ge=0, le=1_000)] | None = None


class RecommendationShown(_Feedback):
    """A suggestion was shown to a member."""


class RecommendationClicked(_Feedback):
    """A member opened a suggested community."""


class RecommendationDismissed(_Feedback):
    """A member dismissed a suggestion: it is not suggested again."""


class MemberErased(_Data):
    """A member exercised their right to erasure: every personal record goes."""

    member_id: Id


class EngagementChanged(_Data):
    """Scoring's view of a member in a community moved (published on the engagement topic)."""

    member_id: Id
    community_id: Id
    score: float
    previous_score: float | None = None
    level: Annotated[int, Field(ge=0)]
    previous_level: Annotated[int, Field(ge=0)] | None = None
    state: Literal["active", "slipping", "back", "erased"] = "active"
    as_of: Instant


class KeyRevoked(_Data):
    """An API key was revoked: every replica of every service drops it from its key cache at once.

    Published on the control topic by whoever revoked the key (the admin route, ``kith keys revoke``);
    the envelope's tenant is the key's tenant.
    """

    key_id: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
