"""Parameters of micro-community detection, in one pydantic model per tenant.

Defaults are chosen on principle, not fitted to an evaluation set:

- weights rank ties by the effort they cost: a reply (a conversation) counts most, a follow or a
  mention less, a reaction least; shared events and small communities are spread over the group
  (``w / (n - 1)`` per pair, as in Newman's collaboration networks) so a big meetup does not
  outweigh a conversation;
- a 30-day half-life: a group is what members did in the last month or two;
- Leiden maximising the Constant Potts Model (Traag, Van Dooren and Nesterov, 2011), which is free
  of the resolution limit: whether a group is found does not depend on the size of the tenant
  (modularity merges any group with fewer than about sqrt(2m) ties into its surroundings, so in a
  tenant of a million ties it cannot see a group of ten). Tie weights are divided by their mean, so
  the resolution is the tie density, in average ties, a group must beat; 0.05 was chosen on the
  synthetic planted tenant of the benchmark, never on the real evaluation data. One Leiden cycle
  per detection: detections are warm-started, so each one refines the last, and a detection of a
  million ties stays within seconds;
- 150 members at most in a group: about the number of people who can all know one another
  (Dunbar), so a larger cluster is a community, not a close group, and is split;
- a group has at least 3 members: a pair is a tie, not a group; and each member is tied to at
  least 2 others in it (its 2-core): someone hanging on by one tie is not part of a close group;
- a group is a community in the weak sense of Radicchi et al. (2004): its members' ties among
  themselves outweigh their ties to everyone else (conductance at most 0.5). A cluster Leiden had to
  put somewhere, whose members mostly talk to others, is not a close group;
- a group is ``inside`` a community that holds most of its members and is at least as large as the
  group (``inside_ratio`` 1): with a larger ratio, a group of 10 with 8 members in a community of 25
  (not a match: Jaccard 0.3) would be called ``emerging``, a community waiting to be created, although
  most of its members already share one.

``min_internal_ties`` and ``max_conductance`` are the closeness filters; with ``0`` and ``1.0`` they are
off, and detection is a plain partition (with ``objective="modularity"``, ``resolution=1``,
``min_group_size=2`` and a size cap above the largest expected group, it is the definition of a
community that ground-truth data sets such as SNAP's use, the opposite of a micro-community's).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class InteractionKind(StrEnum):
    """Kinds of member-to-member ties the interaction graph is built from."""

    FOLLOW = "follow"
    REPLY = "reply"
    MENTION = "mention"
    REACTION = "reaction"
    CO_ATTENDANCE = "co_attendance"
    CO_MEMBERSHIP = "co_membership"


class InteractionWeights(BaseModel):
    """Weight of one interaction of each kind, before decay."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    follow: float = Field(default=1.0, ge=0, description="A member follows another.")
    reply: float = Field(default=2.0, ge=0, description="A reply or comment to another member.")
    mention: float = Field(default=1.0, ge=0, description="A mention of another member.")
    reaction: float = Field(default=0.5, ge=0, description="A reaction to another member's post.")
    co_attendance: float = Field(
        default=1.0, ge=0, description="Attending the same event, spread as w / (n - 1) over each attendee's pairs."
    )
    co_membership: float = Field(
        default=0.5, ge=0, description="Membership of the same small community, spread as w / (n - 1)."
    )

    def of(self, kind: InteractionKind) -> float:
        """Return the weight of one kind."""
        return float(getattr(self, kind.value))


class DetectionParams(BaseModel):
    """How the graph is weighted, how groups are found, and how they are classified."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    weights: InteractionWeights = Field(default_factory=InteractionWeights)
    half_life_days: float = Field(default=30.0, gt=0, description="Half-life of every tie's weight.")
    small_community_size: int = Field(
        default=50, ge=2, description="Communities up to this size tie their members (co-membership edges)."
    )
    max_event_size: int = Field(
        default=100, ge=2, description="Events with more attendees than this tie nobody (a crowd is not a group)."
    )
    min_edge_weight: float = Field(
        default=1e-3, ge=0, description="Decayed ties lighter than this are left out of a detection."
    )
    objective: Literal["modularity", "cpm"] = Field(
        default="cpm", description="What Leiden maximises: the Constant Potts Model or modularity."
    )
    resolution: float = Field(
        default=0.05, gt=0, description="CPM: least tie density (in average ties) a group must beat; modularity: gamma."
    )
    max_cluster_size: int = Field(
        default=150, ge=2, le=10_000, description="Larger clusters are split until none is larger."
    )
    min_group_size: int = Field(default=3, ge=2, description="Smaller clusters are not groups.")
    min_internal_ties: int = Field(
        default=2, ge=0, description="Members tied to fewer others in their cluster are left out of it (a k-core)."
    )
    max_conductance: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Clusters whose ties to others outweigh this share of their volume are not close groups.",
    )
    iterations: int = Field(default=1, ge=1, description="Leiden cycles on the whole graph (each refines the last).")
    trials: int = Field(
        default=1, ge=1, le=100, description="Independent Leiden runs per partition; the best objective is kept."
    )
    randomness: float = Field(default=0.001, gt=0, description="Leiden's refinement randomness.")
    seed: int = Field(default=0, ge=0, description="Seed of Leiden's random generator (same input, same groups).")
    emerging_jaccard: float = Field(
        default=0.5, gt=0, le=1, description="A group with Jaccard at least this with a community matches it."
    )
    inside_ratio: float = Field(
        default=1.0, ge=1, description="A group is inside a community at least this many times its size..."
    )
    inside_share: float = Field(default=0.5, gt=0, le=1, description="...holding more than this share of its members.")
    changed_share: float = Field(
        default=0.2,
        ge=0,
        description="A group whose size moves by more than this share of its size when last announced has changed.",
    )
    central_members: int = Field(default=5, ge=1, description="Most central members listed per group.")
    top_topics: int = Field(default=5, ge=1, description="Topics listed per group.")
    min_topic_support: int = Field(
        default=2, ge=1, description="A topic counts for a group only if at least this many of its members use it."
    )
