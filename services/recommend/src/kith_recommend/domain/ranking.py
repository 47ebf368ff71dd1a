"""Rank communities for a member, and similar communities for a community, with readable reasons.

Sources, each scaled to 0..1 for the member and blended with the weights of :class:`RankingParams`:

- co-membership: a walk member -> their communities -> those communities' members -> the
  communities those members joined, each step weighted by engagement and divided by a power of its
  degree (``size^alpha``, ``degree^delta``), and the result divided by ``size^beta`` so that the
  largest rooms do not win by size alone (RP3beta with tuned exponents);
- social: communities where the members one follows or interacts with are members, weighted by how
  active they are there;
- topic affinity: cosine between the member's declared interests and what they write (hashtags,
  keywords) and a community's topics and what is written in it;
- trending: joins decayed with a half-life, relative to size;
- popularity: a small prior that also serves cold start and unknown members.

The blend is then multiplied by how active a community's members are (likely engagement), a boost
for small, active communities, and feedback (dismissed: never; shown often without a click: less).

Place: when the member's place is known (declared, or inferred from the events they attend), a
``local`` community farther than ``radius_km`` is never suggested and a nearer one counts
``0.5^(distance / distance_half_km)``; a ``hybrid`` one is never filtered and decays towards
``hybrid_floor`` only (it can be joined online); ``online`` ones, and any community whose place is
unknown, are unaffected. A member whose place is unknown is shown no ``local`` community (unless
``local_without_place``): a club that meets in person somewhere is most likely in another city.
With ``use_places`` off, places play no part in the ranking at all (every community ranks as if
online; reasons still say where a community meets).

Maximal marginal relevance picks the final list so that it is not ten copies of one interest; each
suggestion shows the MMR score that chose it (non-increasing down the list) beside its relevance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy import sparse

from kith_recommend.domain.compiled import MODES, CompiledModel, Vector, membership_weight
from kith_recommend.domain.model import MemberProfile
from kith_recommend.domain.params import RankingParams
from kith_shared.words import is_stopword

EARTH_RADIUS_KM = 6371.0088
_LOCAL = MODES.index("local")
_HYBRID = MODES.index("hybrid")


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a community is suggested, for a person to read."""

    kind: str
    text: str


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


@dataclass(frozen=True, slots=True)
class _Scores:
    co: Vector
    social: Vector
    topic: Vector
    member_topics: dict[int, float]
    total: Vector


def _scaled(v: Vector) -> Vector:
    top = float(v.max()) if v.size else 0.0
    return v / top if top > 0 else v


def _dense(row: object, n: int) -> Vector:
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


def _score(model: CompiledModel, profile: MemberProfile, params: RankingParams) -> _Scores:
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
        co = _dense(sparse.csr_matrix(weights) @ model.co[idx], n) * penalty
    social = np.zeros(n)
    ties = social_ties(profile)
    if ties and params.social_weight > 0:
        known = [(model.member_index[m], w) for m, w in ties.items() if m in model.member_index]
        if known:
            idx = np.fromiter((i for i, _ in known), dtype=np.int64)
            weights = np.fromiter((w for _, w in known), dtype=np.float64) / model.member_degree[idx]
            social = _dense(sparse.csr_matrix(weights) @ model.memberships[idx], n) * penalty
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
    return _Scores(co=co, social=social, topic=topic, member_topics=member_topics, total=total)


def distances_km(model: CompiledModel, lat: float, lon: float) -> Vector:
    """Return the great-circle distance from a point to every community's place (NaN where unknown)."""
    phi1, phi2 = math.radians(lat), np.radians(model.lat)
    dphi = phi2 - phi1
    dlambda = np.radians(model.lon) - math.radians(lon)
    h = np.sin(dphi / 2) ** 2 + math.cos(phi1) * np.cos(phi2) * np.sin(dlambda / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0))), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class PlaceEffect:
    """What places do to one member's ranking: a factor per community, the ones too far, distances."""

    factor: Vector
    too_far: npt.NDArray[np.bool_]
    distance: Vector  # km; NaN where either place is unknown


def place_effect(model: CompiledModel, profile: MemberProfile, params: RankingParams) -> PlaceEffect | None:
    """Return the distance decay and radius filter for a member; None when places play no part for them.

    A member whose place is unknown is shown no local community that meets somewhere (it could be
    anywhere: one of them is a club in another city) unless ``local_without_place`` is on.
    """
    where = profile.location
    if model.n == 0 or not params.use_places:
        return None
    if where is None:
        placed_local = (model.mode == _LOCAL) & ~np.isnan(model.lat)
        if params.local_without_place or not placed_local.any():
            return None
        return PlaceEffect(factor=np.ones(model.n), too_far=placed_local, distance=np.full(model.n, np.nan))
    distance = distances_km(model, where.lat, where.lon)
    known = ~np.isnan(distance)
    near = np.where(known, distance, 0.0)
    decay = np.power(0.5, near / params.distance_half_km)
    local = known & (model.mode == _LOCAL)
    hybrid = known & (model.mode == _HYBRID)
    factor = np.ones(model.n)
    factor[local] = decay[local]
    factor[hybrid] = params.hybrid_floor + (1.0 - params.hybrid_floor) * decay[hybrid]
    too_far = local & (near > params.radius_km)
    return PlaceEffect(factor=factor, too_far=too_far, distance=distance)


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
    co_row = _dense(model.co[a], model.n)[others]
    denom = np.sqrt(max(model.co_diag[a], 1e-12) * np.maximum(model.co_diag[others], 1e-12))
    topic_sim = _dense(model.topic_matrix[others] @ model.topic_matrix[a].T, len(others))
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
    scores = _score(model, profile, params)
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
    reasons = _Explainer(model, profile, scores, picked, places) if explain else None
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
            reasons=_similar_reasons(model, a, int(i)),
            position=position + 1,
            relevance=round(float(sims[i]), 6),
            mode=MODES[int(model.mode[i])],
            place=model.place_names[i],
        )
        for position, i in enumerate(chosen)
    ]


def shared_members(model: CompiledModel, a: int, b: int) -> int:
    """Count the members two communities have in common."""
    col = model.members_of
    left = col.indices[col.indptr[a] : col.indptr[a + 1]]
    right = col.indices[col.indptr[b] : col.indptr[b + 1]]
    return int(np.intersect1d(left, right, assume_unique=True).size)


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _similar_reasons(model: CompiledModel, a: int, b: int) -> list[Reason]:
    out = []
    common = shared_members(model, a, b)
    if common:
        out.append(Reason("co_membership", f"{_plural(common, 'member', 'members')} in common"))
    shared = [t for t in model.topics[b] if t in set(model.topics[a]) and not is_stopword(t)]
    if shared:
        out.append(Reason("topic", "also about " + ", ".join(f"#{t}" for t in shared[:3])))
    return out


def _speaks_of(tag: str, declared: set[str], interests: set[str]) -> bool:
    """Tell whether a tag may name a topic in a reason: the community declared it, or the member did.

    Tags a community declared are its own words for what it is about, and a member's declared
    interests theirs. Words only taken from what is written ("helps", "tips", "bring") are not
    named, even when they weigh in the topic score: a reason names a topic someone chose.
    """
    return tag in declared or (tag in interests and len(tag) >= 3 and not is_stopword(tag))


class _Explainer:
    """Readable reasons for the communities picked, computed for those only, in a few matrix operations."""

    def __init__(
        self,
        model: CompiledModel,
        profile: MemberProfile,
        scores: _Scores,
        chosen: list[int],
        places: PlaceEffect | None = None,
    ) -> None:
        self.model = model
        self.profile = profile
        self.scores = scores
        self.places = places
        self.position = {c: p for p, c in enumerate(chosen)}
        self.chosen = chosen
        items = np.asarray(chosen, dtype=np.int64)
        joined = np.asarray([model.index[c] for c in profile.joined if c in model.index], dtype=np.int64)
        self.joined = joined
        # contributions[j, p]: how much joined community j pulls chosen community p.
        self.contributions = (
            (model.co[joined][:, items].toarray() / np.maximum(model.size[joined], 1.0)[:, None])
            if joined.size and items.size
            else np.zeros((0, len(chosen)))
        )
        followed = [model.member_index[m] for m in profile.follows if m in model.member_index]
        interacted = [
            model.member_index[m] for m in profile.interacts if m in model.member_index and m not in profile.follows
        ]
        self.followed = self._members_in(followed, items)
        self.replied = self._members_in(interacted, items)
        self.topics = model.topic_matrix[items] if scores.member_topics and items.size else None
        self.vocabulary = {i: t for t, i in model.vocabulary.items()} if scores.member_topics else {}

    def _members_in(self, members: list[int], items: np.ndarray) -> npt.NDArray[np.int64]:
        if not members or not items.size:
            return np.zeros(len(items), dtype=np.int64)
        inside = self.model.memberships[np.asarray(members, dtype=np.int64)][:, items]
        return np.asarray((inside > 0).sum(axis=0), dtype=np.int64).ravel()

    def sources(self, i: int) -> dict[str, float]:
        s = self.scores
        return {
            "co_membership": round(float(s.co[i]), 6),
            "social": round(float(s.social[i]), 6),
            "topic": round(float(s.topic[i]), 6),
            "trending": round(float(self.model.trend[i]), 6),
            "popularity": round(float(self.model.popularity[i]), 6),
        }

    def reasons(self, i: int) -> list[Reason]:
        m = self.model
        p = self.position[i]
        out: list[Reason] = []
        place = self._place_reason(i)
        replied = int(self.replied[p])
        if replied:
            verb = "is" if replied == 1 else "are"
            out.append(Reason("social", f"{_plural(replied, 'person', 'people')} you replied to {verb} active here"))
        followed = int(self.followed[p])
        if followed:
            verb = "is a member" if followed == 1 else "are members"
            out.append(Reason("social", f"{_plural(followed, 'person', 'people')} you follow {verb} here"))
        if self.scores.co[i] > 0 and self.contributions.shape[0]:
            column = self.contributions[:, p]
            if column.max() > 0:
                best = int(self.joined[int(np.argmax(column))])
                out.append(Reason("co_membership", f"members of {m.names[best]} also joined this"))
        if self.scores.topic[i] > 0:
            out.extend(self._topic_reason(p))
        if m.trend[i] >= 0.5 and m.recent_joins[i] >= 3:
            out.append(Reason("trending", "growing fast this week"))
        small = m.size[i] <= 50 and m.active[i] >= 0.5
        if small and out:
            out.append(Reason("small", f"a small, active community ({_plural(int(m.size[i]), 'member', 'members')})"))
        if not out:
            text = "popular with members like you" if self.joined.size else "popular in this network right now"
            out.append(Reason("popularity", text))
        return [place, *out] if place is not None else out

    def _place_reason(self, i: int) -> Reason | None:
        """Say where a local or hybrid community meets, and how far that is from the member when known."""
        m = self.model
        mode = MODES[int(m.mode[i])]
        name = m.place_names[i]
        if mode == "online" or not name:
            return None
        text = f"meets in {name}"
        distance = float(self.places.distance[i]) if self.places is not None else math.nan
        if not math.isnan(distance):
            text += ", under 1 km from you" if distance < 1 else f", {distance:.0f} km from you"
        if mode == "hybrid":
            text += ", and online"
        return Reason("place", text)

    def _topic_reason(self, p: int) -> list[Reason]:
        if self.topics is None:
            return []
        start, end = self.topics.indptr[p], self.topics.indptr[p + 1]
        declared = set(self.model.topics[self.chosen[p]])
        interests = set(self.profile.interests)
        best_tag, best = None, 0.0
        for col, w in zip(self.topics.indices[start:end], self.topics.data[start:end], strict=True):
            mine = self.scores.member_topics.get(int(col), 0.0)
            tag = self.vocabulary.get(int(col))
            if mine * w > best and tag is not None and _speaks_of(tag, declared, interests):
                best_tag, best = tag, mine * w
        if best_tag is None:
            return []
        if best_tag in self.profile.tags:
            return [Reason("topic", f"close to #{best_tag}, which you post about")]
        return [Reason("topic", f"matches your interest in #{best_tag}")]
