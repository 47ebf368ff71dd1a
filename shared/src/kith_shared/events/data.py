"""Payload (``data``) models for every event type.

Each model describes what a producer sends. Fields whose names end in ``_features`` are filled
by ingest's normalization and are ignored (overwritten) when a producer sends them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from kith_shared.events.safety import check_safe_mapping

#: Ids are opaque strings. They never contain "." or "$" so that no id can become a MongoDB path
#: or operator when a service stores it.
Id = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_:@\-]+$"),
]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=64)]
Properties = Annotated[dict[str, Any], AfterValidator(check_safe_mapping)]


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
    title: Annotated[str, StringConstraints(max_length=500)] | None = None
    text: str
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    text_features: TextFeatures | None = None


class PostEdited(_Activity):
    """A member edited a post."""

    post_id: Id
    title: Annotated[str, StringConstraints(max_length=500)] | None = None
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
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    description: Annotated[str, StringConstraints(max_length=5_000)] = ""
    topics: list[Tag] = Field(default_factory=list, max_length=50)
    visibility: Literal["public", "private", "hidden"] = "public"
    owner_id: Id | None = None
    seeded_from: Id | None = Field(
        default=None,
        description=(
            "The micro-community (its group id, from GET /v1/micro-communities) this community was created for: "
            "recommend then suggests it to that group's members first."
        ),
    )


class CommunityUpdated(_Data):
    """A community's profile changed. Absent fields are unchanged."""

    community_id: Id
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = None
    description: Annotated[str, StringConstraints(max_length=5_000)] | None = None
    topics: list[Tag] | None = Field(default=None, max_length=50)
    visibility: Literal["public", "private", "hidden"] | None = None


class InterestsDeclared(_Data):
    """A member declared their interests (used for cold start)."""

    member_id: Id
    interests: list[Tag] = Field(min_length=1, max_length=50)


class _Feedback(_Data):
    member_id: Id
    community_id: Id
    list_id: Annotated[str, StringConstraints(max_length=128)] | None = None
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
    as_of: AwareDatetime


MicroCommunityStatus = Literal["emerging", "inside", "matches"]
#: Most members an event lists: the largest group a detection can be configured to keep.
MAX_GROUP_MEMBERS = 10_000


class MicroCommunityDetected(_Data):
    """Recommend found a micro-community for the first time: a close group of members who talk to each other."""

    group_id: Id = Field(description="Stable id of the group (GET /v1/micro-communities/{id}).")
    size: Annotated[int, Field(ge=2)]
    status: MicroCommunityStatus = Field(
        description="emerging (no community holds it), inside (a close sub-group of one), matches (it is one)."
    )
    community_id: Id | None = Field(default=None, description="The community it sits inside or matches.")
    members: list[Id] = Field(max_length=MAX_GROUP_MEMBERS)
    central_members: list[Id] = Field(default_factory=list, max_length=100, description="Most connected first.")
    topics: list[Tag] = Field(default_factory=list, max_length=50, description="What the group talks about.")


class MicroCommunityChanged(_Data):
    """A known micro-community grew, shrank or changed status past the announcement thresholds."""

    group_id: Id
    size: Annotated[int, Field(ge=2)]
    previous_size: Annotated[int, Field(ge=0)] = Field(description="Its size when last announced.")
    status: MicroCommunityStatus
    previous_status: MicroCommunityStatus
    community_id: Id | None = None
    gained: list[Id] = Field(default_factory=list, max_length=MAX_GROUP_MEMBERS, description="Since last announced.")
    lost: list[Id] = Field(default_factory=list, max_length=MAX_GROUP_MEMBERS, description="Since last announced.")


class MicroCommunityFaded(_Data):
    """A micro-community is no longer found: its members drifted apart or too few remain."""

    group_id: Id
    last_size: Annotated[int, Field(ge=0)]
    last_status: MicroCommunityStatus
    last_members: list[Id] = Field(default_factory=list, max_length=MAX_GROUP_MEMBERS)
