"""Rank communities for a member, and similar communities for a community, with readable reasons.

Sources (:mod:`.sources`: co-membership, social ties, topic affinity, trending, popularity) are each
scaled to 0..1 for the member and blended with the weights of :class:`RankingParams`; the blend is
multiplied by how active a community's members are (likely engagement), a boost for small, active
communities, and feedback (dismissed: never; shown often without a click: less). Places
(:mod:`.places`) then filter local communities beyond a radius and decay the others by distance,
and :mod:`.reasons` says why each suggestion was picked.

Maximal marginal relevance picks the final list so that it is not ten copies of one interest; each
suggestion shows the MMR score that chose it (non-increasing down the list) beside its relevance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from kith_recommend.domain.compiled import MODES, CompiledModel, Vector
from kith_recommend.domain.model import MemberProfile
from kith_recommend.domain.params import RankingParams
from kith_recommend.domain.places import place_effect
from kith_recommend.domain.reasons import Explainer, Reason, similar_reasons
from kith_recommend.domain.sources import dense, member_scores


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One suggested community."""

    community_id: str
    name: str
    score: float
    """The score that put it at its position: after diversity, the MMR score (non-increasing down a list)."""
    members: int
    reasons: list[Reason] = field(default_factory=list)
    sources: dict[str, float] = field(default_factory=dict)
    position: int = 0
    relevance: float = 0.0
    """How well it fits the member before diversity (the blend, place and feedback included)."""
    mode: str = "online"
    place: str | None = None
    distance_km: float | None = None


def _excluded(model: CompiledModel, profile: MemberProfile) -> list[int]:
    """Return the indices never to suggest: joined, dismissed, owned, blocked."""
    out = []
    for c in (*profile.joined, *profile.dismissed, *profile.owned, *profile.blocked):
        i = model.index.get(c)
        if i is not None:
            out.append(i)
    return out


def _feedback(model: CompiledModel, profile: MemberProfile, total: Vector) -> None:
    """Lower communities shown again and again without a click; raise clicked ones a little."""
    for c, shown in profile.shown.items():
        i = model.index.get(c)
        if i is not None and not profile.clicked.get(c):
            total[i] *= max(0.5, 0.9 ** max(0.0, shown - 2.0))
    for c in profile.clicked:
        i = model.index.get(c)
        if i is not None:
            total[i] *= 1.1


def similarities(model: CompiledModel, a: int, others: np.ndarray) -> tuple[Vector, Vector]:
    """Return how alike community ``a`` is to each of ``others``: co-membership cosine, and topic cosine."""
    co_row = dense(model.co[a], model.n)[others]
    denom = np.sqrt(max(model.co_diag[a], 1e-12) * np.maximum(model.co_diag[others], 1e-12))
    topic_sim = dense(model.topic_matrix[others] @ model.topic_matrix[a].T, len(others))
    return co_row / denom, topic_sim


def similarity(model: CompiledModel, a: int, others: np.ndarray) -> Vector:
    """Return how alike community ``a`` is to each of ``others`` (0..1), by members or by topics."""
    co_sim, topic_sim = similarities(model, a, others)
    return np.asarray(np.maximum(co_sim, topic_sim), dtype=np.float64)


def pairwise_similarity(model: CompiledModel, items: np.ndarray) -> npt.NDArray[np.float64]:
    """Return how alike each pair of ``items`` is (0..1): co-membership cosine or topic cosine, the larger."""
    sub = model.co[items][:, items].toarray()
    norms = np.sqrt(np.maximum(model.co_diag[items], 1e-12))
    topics = model.topic_matrix[items]
    topic_sim = (topics @ topics.T).toarray()
    return np.asarray(np.maximum(sub / np.outer(norms, norms), topic_sim), dtype=np.float64)


def mmr_scored(
    model: CompiledModel, candidates: np.ndarray, relevance: Vector, k: int, lam: float
) -> list[tuple[int, float]]:
    """Pick ``k`` of ``candidates`` by maximal marginal relevance, each with the MMR score that chose it.

    The score is ``lam * relevance - (1 - lam) * top * similarity``, where ``similarity`` is the
    largest to a community picked before and ``top`` the best relevance (so both terms share one
    scale; with ``lam`` = 1 it is the relevance). It never increases down the list: a step removes
    the pick and can only raise the others' similarity.
    """
    rel = relevance[candidates]
    if lam >= 1.0 or len(candidates) <= 1:
        return [(int(i), float(r)) for i, r in zip(candidates[:k], rel[:k], strict=True)]
    top = float(rel.max()) if rel.size and rel.max() > 0 else 1.0
    sims = pairwise_similarity(model, candidates)
    chosen: list[tuple[int, float]] = []
    max_sim = np.zeros(len(candidates))
    available = np.ones(len(candidates), dtype=bool)
    for _ in range(min(k, len(candidates))):
        value = np.where(available, lam * rel - (1.0 - lam) * top * max_sim, -np.inf)
        pick = int(np.argmax(value))
        chosen.append((int(candidates[pick]), float(value[pick])))
        available[pick] = False
        max_sim = np.maximum(max_sim, sims[pick])
    return chosen


def mmr(model: CompiledModel, candidates: np.ndarray, relevance: Vector, k: int, lam: float) -> list[int]:
    """Pick ``k`` of ``candidates`` by maximal marginal relevance (``lam`` = 1: relevance only)."""
    return [i for i, _ in mmr_scored(model, candidates, relevance, k, lam)]


def top_candidates(total: Vector, eligible: np.ndarray, pool: int) -> np.ndarray:
    """Return the indices of the ``pool`` best eligible scores, best first."""
    masked = np.where(eligible, total, -np.inf)
    count = int(eligible.sum())
    pool = min(pool, count)
    if pool <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-masked, pool - 1)[:pool]
    return np.asarray(part[np.argsort(-masked[part], kind="stable")], dtype=np.int64)


def suggest(
    model: CompiledModel, profile: MemberProfile, params: RankingParams, limit: int, *, explain: bool = True
) -> list[Suggestion]:
    """Rank communities for a member: never one they joined, dismissed, own, are blocked from, may not see,
    or a local one beyond the radius from them."""
    if model.n == 0 or limit <= 0:
        return []
    scores = member_scores(model, profile, params)
    total = scores.total.copy()
    _feedback(model, profile, total)
    eligible = model.visible.copy()
    eligible[_excluded(model, profile)] = False
    places = place_effect(model, profile, params)
    if places is not None:
        total *= places.factor
        eligible &= ~places.too_far
    candidates = top_candidates(total, eligible, max(params.candidate_pool, limit))
    chosen = mmr_scored(model, candidates, total, limit, params.mmr_lambda)
    picked = [i for i, _ in chosen]
    reasons = Explainer(model, profile, scores, picked, places, params.small_community_size) if explain else None
    out = []
    for position, (i, score) in enumerate(chosen):
        distance = float(places.distance[i]) if places is not None else math.nan
        out.append(
            Suggestion(
                community_id=model.ids[i],
                name=model.names[i],
                score=round(score, 6),
                members=int(model.size[i]),
                reasons=reasons.reasons(i) if reasons else [],
                sources=reasons.sources(i) if reasons else {},
                position=position + 1,
                relevance=round(float(total[i]), 6),
                mode=MODES[int(model.mode[i])],
                place=model.place_names[i],
                distance_km=None if math.isnan(distance) else round(distance, 1),
            )
        )
    return out


def similar(model: CompiledModel, community_id: str, limit: int) -> list[Suggestion]:
    """Return the communities most like one (co-membership cosine, shared topics); raise KeyError if unknown."""
    a = model.index[community_id]
    others = np.flatnonzero(model.visible)
    others = others[others != a]
    if others.size == 0 or limit <= 0:
        return []
    sims = np.zeros(model.n)
    co_sim, topic_sim = similarities(model, a, others)
    sims[others] = co_sim + 0.5 * topic_sim
    eligible = np.zeros(model.n, dtype=bool)
    eligible[others] = True
    eligible &= sims > 0
    chosen = top_candidates(sims, eligible, limit)
    return [
        Suggestion(
            community_id=model.ids[i],
            name=model.names[i],
            score=round(float(sims[i]), 6),
            members=int(model.size[i]),
            reasons=similar_reasons(model, a, int(i)),
            position=position + 1,
            relevance=round(float(sims[i]), 6),
            mode=MODES[int(model.mode[i])],
            place=model.place_names[i],
        )
        for position, i in enumerate(chosen)
    ]
