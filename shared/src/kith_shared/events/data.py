"""Payload (``data``) models for every event type.

Each model describes what a producer sends. Fields whose names end in ``_features`` are filled
by ingest's normalization and are ignored (overwritten) when a producer sends them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

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


#: How a community meets: only online, in one place, or both.
Mode = Literal["online", "local", "hybrid"]


class Location(_Data):
    """Where something is: a place name, a country, and coordinates (WGS 84 degrees).

    Every field is optional, but latitude and longitude come together: without them the place is
    only named, and nothing is filtered or ranked by distance. ``country`` is an ISO 3166-1 alpha-2
    code (ingest refuses codes that are not assigned).
    """

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = None
    country: (
        Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{2}$")] | None
    ) = Field(default=None, description="ISO 3166-1 alpha-2 country code, e.g. US.")
    latitude: Annotated[float, Field(ge=-90, le=90)] | None = None
    longitude: Annotated[float, Field(ge=-180, le=180)] | None = None

    @model_validator(mode="after")
    def _coordinates_together(self) -> Location:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("latitude and longitude come together: give both or neither")
        return self

    @property
    def coordinates(self) -> tuple[float, float] | None:
        """Return (latitude, longitude), or None when the place is only named."""
        if self.latitude is None or self.longitude is None:
            return None
        return (self.latitude, self.longitude)


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


class _Post(_Activity):
    post_id: Id
    title: Title | None = None
    text: str
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    text_features: TextFeatures | None = None


class PostCreated(_Post):
    """A member created a post."""


class PostEdited(_Post):
    """A member edited a post."""


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


class _Reaction(_Activity):
    target_id: Id
    target_member_id: Id | None = None
    reaction: Annotated[str, StringConstraints(min_length=1, max_length=32)] = "like"


class ReactionAdded(_Reaction):
    """A member reacted to a post or comment."""


class ReactionRemoved(_Reaction):
    """A member withdrew a reaction."""


class PostViewed(_Activity):
    """A member viewed a post."""

    post_id: Id
    author_member_id: Id | None = None
    seconds: Annotated[float, Field(ge=0, le=86_400)] | None = None


class _CommunityEvent(_Activity):
    event_id: Id
    location: Location | None = Field(default=None, description="Where the event took place (absent: online).")


class EventAttended(_CommunityEvent):
    """A member attended a community event (meet-up, call, session)."""


class EventHosted(_CommunityEvent):
    """A member hosted a community event."""


class _Follow(_Data):
    member_id: Id
    followed_member_id: Id


class MemberFollowed(_Follow):
    """A member followed another member (a social tie)."""


class MemberUnfollowed(_Follow):
    """A member stopped following another member."""


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
        default=None,
        description=(
            "The micro-community (its group id, from GET /v1/micro-communities) this community was created for: "
            "recommend then suggests it to that group's members first."
        ),
    )
    mode: Mode = Field(
        default="online",
        description="online: meets online only; local: meets in one place (suggested only near it); hybrid: both.",
    )
    location: Location | None = Field(default=None, description="Where a local or hybrid community meets.")


class CommunityUpdated(_Data):
    """A community's profile changed. Absent fields are unchanged."""

    community_id: Id
    name: Name | None = None
    description: Description | None = None
    topics: list[Tag] | None = Field(default=None, max_length=50)
    visibility: Literal["public", "private", "hidden"] | None = None
    mode: Mode | None = None
    location: Location | None = None


class MemberProfileUpdated(_Data):
    """A member declared where they are (a declared location wins over one inferred from events attended).

    Without a location, a declared location is withdrawn: the inferred one applies again.
    """

    member_id: Id
    location: Location | None = None


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


class MemberReinstated(_Data):
    """The platform registered an erased member id again: its tombstone goes, later events count.

    Published by ingest's admin route only (never accepted from producers); nothing erased comes back.
    """

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
