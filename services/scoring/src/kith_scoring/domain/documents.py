"""Scoring's stored documents, named once: each kind's collection, id and fields.

Every document carries its ``tenant`` (where it has one) and its id starts with it, so a read that
filters by id or by tenant never crosses tenants. Fields are optional as far as the types go: a
read may project some away, and figures appear only once an event set them. Fields set when a
document is created are said so.

Field names of the figure documents are short (``c``, ``f``, ``lt``, ...) because every member in
every community, and every community day, stores them: readable names (``counts``, ``decay``,
``replies_given``, ``time`` in each recent event, ...) made member-in-community documents 3.0%
larger and community days 4.8% (2.9% of the bytes stored per event; ``python -m bench scoring
--events 20000``). Each field is explained here, once, and every read goes through these types.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, TypedDict

# --- collections -------------------------------------------------------------------------------

MEMBER_COMMUNITIES: Final = "member_communities"
MEMBERS: Final = "members"
COMMUNITIES: Final = "communities"
COMMUNITY_DAYS: Final = "community_days"
ROLES: Final = "roles"
MEMBER_STATES: Final = "member_states"
PARTITION_PROGRESS: Final = "partition_progress"
PARTITION_CLAIMS: Final = "partition_claims"
OUTBOX: Final = "outbox"
SETTINGS: Final = "settings"
ERASED_MEMBERS: Final = "erased_members"

#: Collections that hold figures, in the order a batch writes them.
FIGURE_COLLECTIONS: Final = (MEMBER_COMMUNITIES, MEMBERS, COMMUNITIES, COMMUNITY_DAYS, ROLES)


# --- ids ---------------------------------------------------------------------------------------


def member_community_id(tenant: str, community: str, member: str) -> str:
    """Return the id of a member-in-community document (and of the member's state there)."""
    return f"{tenant}|{community}|{member}"


def member_doc_id(tenant: str, member: str) -> str:
    """Return the id of a member roll-up document (and of an erased member's tombstone)."""
    return f"{tenant}|{member}"


def community_doc_id(tenant: str, community: str) -> str:
    """Return the id of a community document."""
    return f"{tenant}|{community}"


def community_day_id(tenant: str, community: str, day: str) -> str:
    """Return the id of a community's document of one UTC day (``YYYYMMDD``)."""
    return f"{tenant}|{community}|{day}"


def role_doc_id(tenant: str, scope: str, member: str) -> str:
    """Return the id of a role document (``scope``: a community id, or ``*`` for the whole platform)."""
    return f"{tenant}|{scope}|{member}"


def partition_id(topic: str, partition: int) -> str:
    """Return the id of a topic partition's progress and claim documents."""
    return f"{topic}|{partition}"


# --- figures -----------------------------------------------------------------------------------


class RecentItem(TypedDict):
    """An event that moved a member's score, in the ``recent`` list (latest first, capped)."""

    t: datetime
    """When it happened (UTC, milliseconds); the list is sorted by (``t``, ``id``), latest first."""
    id: str
    """Its identity hash (source and id)."""
    type: str
    """Its event type (``post.created``)."""
    weight: float
    """The weight it was scored with."""
    event_id: str
    """Its envelope id, as the producer sent it."""


class MemberCommunityDoc(TypedDict, total=False):
    """A member in a community (``member_communities``): what they did there, by day."""

    _id: str
    """:func:`member_community_id`."""
    tenant: str
    """Set when created."""
    community_id: str
    """Set when created."""
    member_id: str
    """Set when created: the member's id, or the stand-in id of an erased member."""
    anonymous: bool
    """Set when created: the figures of an erased member, kept under a stand-in id."""
    c: dict[str, dict[str, int]]
    """Counts: UTC day (``YYYYMMDD``) -> activity type with ``_`` for ``.`` -> events."""
    f: dict[str, dict[str, float]]
    """Forward-decay sums: UTC day -> ``version:type`` -> sum of ``w * 2^((t - day start) / h)``
    (see :mod:`kith_scoring.domain.decay`)."""
    lt: dict[str, datetime]
    """Last times: UTC day -> the day's latest activity other than leaving (levels are evaluated there)."""
    s: dict[str, list[str]]
    """Seen: UTC day (of the event) -> identity hashes of the events applied, so a duplicate is skipped."""
    first: datetime
    """Earliest activity other than leaving."""
    last: datetime
    """Latest activity other than leaving."""
    joined_first: datetime
    """Earliest join."""
    joined_last: datetime
    """Latest join."""
    left_last: datetime
    """Latest leave."""
    rg: int
    """Replies given: comments replying to another member."""
    rr: int
    """Replies received: other members' comments replying to this one."""
    recent: list[RecentItem]
    """The latest events that moved the score (not kept for erased members)."""


class MemberDoc(TypedDict, total=False):
    """A member's roll-up (``members``): the communities they are known in."""

    _id: str
    """:func:`member_doc_id`."""
    tenant: str
    """Set when created."""
    member_id: str
    """Set when created."""
    communities: list[str]
    """Ids of the communities the member was active in."""


class CommunityDoc(TypedDict, total=False):
    """A community (``communities``): its latest activity and profile."""

    _id: str
    """:func:`community_doc_id`."""
    tenant: str
    """Set when created."""
    community_id: str
    """Set when created."""
    last_event: datetime
    """The hour (UTC) of its latest activity; the slipping-away sweep looks again when it moves."""
    profile: dict[str, str]
    """``community_created`` / ``community_updated`` -> ``stamp|JSON`` of the latest such event's data."""
    created: datetime
    """When it was created (earliest ``community.created``)."""


class CommunityDayDoc(TypedDict, total=False):
    """A community on one UTC day (``community_days``): content, topics, posts and first responses.

    Authors and responders are recorded under stand-in ids (see
    :func:`kith_scoring.domain.identity.anonymous_token`), so an erasure has nothing to rewrite here.
    """

    _id: str
    """:func:`community_day_id`."""
    tenant: str
    """Set when created."""
    community_id: str
    """Set when created."""
    day: str
    """Set when created: the UTC day, ``YYYYMMDD``."""
    content: int
    """Posts and comments written that day."""
    h: dict[str, int]
    """Hashtags: tag -> uses."""
    k: dict[str, int]
    """Keywords: word -> uses."""
    pc: dict[str, datetime]
    """Posts created: post id -> when."""
    pa: dict[str, str]
    """Post authors: post id -> author's stand-in id."""
    fc: dict[str, dict[str, datetime]]
    """First comments: post id -> responder's stand-in id -> their first comment on it that day."""
    pd: dict[str, datetime]
    """Posts deleted: post id -> when."""


class RoleDoc(TypedDict, total=False):
    """A member's role in a scope (``roles``): staff and bots are left out of community figures."""

    _id: str
    """:func:`role_doc_id`."""
    tenant: str
    """Set when created."""
    scope: str
    """Set when created: a community id, or ``*`` for the whole platform."""
    member_id: str
    """Set when created."""
    latest: str
    """``stamp|identity hash|role`` of the latest role event: the largest wins, whatever the order."""


class MemberStateDoc(TypedDict, total=False):
    """A member flagged slipping away in a community (``member_states``), until they are active again."""

    _id: str
    """:func:`member_community_id`."""
    tenant: str
    community_id: str
    member_id: str
    slipping: bool
    """Announced as slipping away; their next activity there is announced as ``back``."""


# --- consumer state ----------------------------------------------------------------------------


class ProgressDoc(TypedDict, total=False):
    """How far a topic partition was applied (``partition_progress``), written with the batch's effects."""

    _id: str
    """:func:`partition_id`."""
    topic: str
    partition: int
    offset: int
    """The last applied offset."""
    marker: str
    """The identity of the record found at ``offset``: when the same offset holds another record, the topic
    is a new incarnation (offsets started again)."""
    incarnation: int
    """How many new incarnations were seen."""


class ClaimDoc(TypedDict, total=False):
    """Which consumer session owns a topic partition (``partition_claims``)."""

    _id: str
    """:func:`partition_id`."""
    lsid: Mapping[str, Any]
    """The owner's logical session id (a ``{"id": UUID}`` document), for ``killSessions``."""


class OutboxDoc(TypedDict):
    """Engagement changes a batch committed, until the broker acknowledged them (``outbox``)."""

    _id: str
    """Time-ordered: nanoseconds, then a discriminator."""
    events: list[dict[str, Any]]
    """The ``engagement.changed`` events, as JSON."""


class SettingsDoc(TypedDict, total=False):
    """A tenant's scoring configuration history (``settings``)."""

    _id: str
    """The tenant."""
    tenant: str
    count: int
    """How many versions ``versions`` holds (an update applies only if it is unchanged)."""
    versions: list[dict[str, Any]]
    """Every :class:`~kith_scoring.domain.config.ConfigVersion`, oldest first."""


class ErasedDoc(TypedDict, total=False):
    """An erased member's tombstone (``erased_members``): later events land on the stand-in id."""

    _id: str
    """:func:`kith_shared.erasure.tombstone` of tenant and member: a keyed one-way hash, never the member id."""
    tenant: str
    token: str
    """The stand-in id their figures are kept under."""
    at: datetime
    """When the earliest erasure event happened."""
