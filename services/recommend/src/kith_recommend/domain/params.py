"""The parameters of ranking: a domain model, nested by the service's settings (``RECOMMEND_RANKING__*``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

#: The largest weight a signal may have: weights are relative to each other, and a bound keeps every
#: score finite whatever an operator sets.
MOST_WEIGHT = 1_000.0

#: How much one signal counts in the blend, relative to the others.
Weight = Annotated[float, Field(ge=0, le=MOST_WEIGHT)]
#: A power of a size or degree that damps large communities or busy members (0: no damping).
Exponent = Annotated[float, Field(ge=0, le=2)]
#: A distance over the Earth's surface in km: no two places are farther apart than about 20,000 km.
Kilometres = Annotated[float, Field(gt=0, le=20_000)]


class RankingParams(BaseModel):
    """How suggestions are ranked: blend weights, diversity, small-community boost, trending decay, places.

    Every tenant starts from these (the ``RECOMMEND_RANKING__*`` settings); a tenant's own settings,
    set by an operator or adopted by self-tuning, replace some of them.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    co_membership_weight: Weight = Field(default=1.0, description="Weight of item-to-item co-membership.")
    social_weight: Weight = Field(default=0.2, description="Weight of communities where one's ties are active.")
    topic_weight: Weight = Field(default=0.2, description="Weight of topic affinity (interests, own writing).")
    trending_weight: Weight = Field(default=0.1, description="Weight of trending/growing communities.")
    popularity_weight: Weight = Field(default=0.05, description="Weight of the popularity prior.")
    popularity_penalty: Exponent = Field(
        default=0.25, description="Exponent beta dividing co-membership and social scores by size^beta."
    )
    source_size_exponent: Exponent = Field(
        default=0.75, description="Exponent alpha: a joined community's pull is divided by its size^alpha."
    )
    neighbour_degree_exponent: Exponent = Field(
        default=0.5, description="Exponent delta: a co-member counts 1/degree^delta (applied at compile)."
    )
    engagement_weight: Weight = Field(
        default=0.3, description="How much a community's member activity raises its rank (likely engagement)."
    )
    small_community_boost: Weight = Field(
        default=0.2, description="Strength of the boost for small, active communities (0: off)."
    )
    small_community_size: int = Field(
        default=50, ge=1, le=1_000_000, description="Communities up to this size count as small."
    )
    mmr_lambda: float = Field(
        default=0.9, ge=0, le=1, description="Maximal marginal relevance: 1 ranks by relevance only, lower diversifies."
    )
    trending_half_life_days: float = Field(
        default=7.0, gt=0, le=3_650, description="Half-life of joins counted as trending."
    )
    candidate_pool: int = Field(default=60, ge=10, le=1_000, description="Candidates re-ranked for diversity.")
    use_places: bool = Field(
        default=True,
        description="Rank by place: the radius filter and the distance decay (false: every community as if online).",
    )
    local_without_place: bool = Field(
        default=False,
        description="Suggest local communities to members whose place is unknown (false: hybrid and online only).",
    )
    radius_km: Kilometres = Field(
        default=50.0, description="A local community farther than this from the member is never suggested."
    )
    distance_half_km: Kilometres = Field(
        default=25.0, description="A local community this far away counts half as much (distance decay)."
    )
    hybrid_floor: float = Field(
        default=0.5, ge=0, le=1, description="A hybrid community far away keeps this share of its score (milder decay)."
    )
