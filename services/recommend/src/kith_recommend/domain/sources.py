"""The sources ranking blends, each computed for one member over every community of a compiled model.

- co-membership: a walk member -> their communities -> those communities' members -> the
  communities those members joined, each step weighted by engagement and divided by a power of its
  degree (``size^alpha``, ``degree^delta``), and the result divided by ``size^beta`` so that the
  largest rooms do not win by size alone (RP3beta with tuned exponents);
- social: communities where the members one follows or interacts with are members, weighted by how
  active they are there;
- topic affinity: cosine between the member's declared interests and what they write (hashtags,
  keywords) and a community's topics and what is written in it;
- trending: joins decayed with a half-life, relative to size;
- popularity: a small prior that also serves cold start and unknown members (these two are the same
  for every member, and come compiled: :class:`~kith_recommend.domain.compiled.CompiledModel`).

:func:`member_scores` scales each to 0..1, blends them with the weights of :class:`RankingParams`, and
multiplies the blend by how active a community's members are and a boost for small, active ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from kith_recommend.domain.compiled import CompiledModel, Vector, membership_weight
from kith_recommend.domain.model import MemberProfile
from kith_recommend.domain.params import RankingParams


@dataclass(frozen=True, slots=True)
class Scores:
    """One member's sources per community (unscaled), their topic vector, and the blend."""

    co: Vector
    social: Vector
    topic: Vector
    member_topics: dict[int, float]
    total: Vector


def _scaled(v: Vector) -> Vector:
    top = float(v.max()) if v.size else 0.0
    return v / top if top > 0 else v


def dense(row: object, n: int) -> Vector:
    """Return a (sparse or dense) row as a flat float array of ``n`` values (zeros when its size differs)."""
    if sparse.issparse(row):
        row = row.toarray()  # type: ignore[attr-defined]
    out = np.asarray(row, dtype=np.float64).ravel()
    return out if out.size == n else np.zeros(n)


def member_topic_vector(model: CompiledModel, profile: MemberProfile) -> dict[int, float]:
    """Return the member's affinity per known tag: declared interests and (log-scaled) what they write."""
    weights: dict[int, float] = {}
    for tag in profile.interests:
        i = model.vocabulary.get(tag)
        if i is not None:
            weights[i] = weights.get(i, 0.0) + 2.0
    for tag, w in profile.tags.items():
        i = model.vocabulary.get(tag)
        if i is not None:
            weights[i] = weights.get(i, 0.0) + math.log1p(w)
    norm = math.sqrt(sum(w * w for w in weights.values()))
    return {i: w / norm for i, w in weights.items()} if norm > 0 else {}


def social_ties(profile: MemberProfile) -> dict[str, float]:
    """Return the members one is tied to, weighted: a follow counts 1, interactions log-scaled."""
    ties = dict.fromkeys(profile.follows, 1.0)
    for other, w in profile.interacts.items():
        ties[other] = ties.get(other, 0.0) + math.log1p(w)
    ties.pop(profile.member_id, None)
    return ties


def member_scores(model: CompiledModel, profile: MemberProfile, params: RankingParams) -> Scores:
    """Return one member's sources over every community of ``model``, and their blend."""
    n = model.n
    penalty = model.size_penalty(params.popularity_penalty)
    co = np.zeros(n)
    joined = [(model.index[c], w) for c, w in profile.joined.items() if c in model.index]
    if joined and params.co_membership_weight > 0:
        idx = np.fromiter((i for i, _ in joined), dtype=np.int64)
        weights = np.fromiter((w for _, w in joined), dtype=np.float64)
        mine = np.array(
            [
                membership_weight(profile.engagement.get(model.ids[i], 0.0), profile.activity.get(model.ids[i], 0.0))
                for i in idx
            ]
        )
        weights = weights * mine * np.power(np.maximum(model.size[idx], 1.0), -params.source_size_exponent)
        co = dense(sparse.csr_matrix(weights) @ model.co[idx], n) * penalty
    social = np.zeros(n)
    ties = social_ties(profile)
    if ties and params.social_weight > 0:
        known = [(model.member_index[m], w) for m, w in ties.items() if m in model.member_index]
        if known:
            idx = np.fromiter((i for i, _ in known), dtype=np.int64)
            weights = np.fromiter((w for _, w in known), dtype=np.float64) / model.member_degree[idx]
            social = dense(sparse.csr_matrix(weights) @ model.memberships[idx], n) * penalty
    member_topics = member_topic_vector(model, profile)
    topic = np.zeros(n)
    if member_topics and params.topic_weight > 0:
        vec = np.zeros(model.topic_matrix.shape[1])
        for i, w in member_topics.items():
            vec[i] = w
        topic = model.topic_matrix @ vec
    total = (
        params.co_membership_weight * _scaled(co)
        + params.social_weight * _scaled(social)
        + params.topic_weight * _scaled(topic)
        + params.trending_weight * model.trend
        + params.popularity_weight * model.popularity
    )
    smallness = np.minimum(1.0, params.small_community_size / np.maximum(model.size, 1.0))
    total = total * (1.0 + params.engagement_weight * model.active)
    total = total * (1.0 + params.small_community_boost * smallness * model.active)
    return Scores(co=co, social=social, topic=topic, member_topics=member_topics, total=total)
