"""Self-tuning: evaluate a tenant's ranking on its most recent joins, try a few settings, adopt a clear winner.

The evaluation holds out the joins after a cut-off in time (the latest ``holdout_share`` of the
tenant's joins), rebuilds the model from the state before them (:func:`split_by_time`), and asks
each candidate setting (:func:`candidates`: the settings in effect, the shipped defaults, and a few
named variations of them) for every evaluated member's top 10, with the same places, filters and
diversity as the service. HR@10 (a held-out join in the top 10) and NDCG@10 are averaged over the
members; the best is adopted only when its paired NDCG@10 gain over the current setting, member by
member, is at least ``margin`` and its 95% interval lies above zero (:func:`decide`), so noise on a
small sample never moves a tenant's ranking. The answer says which, and why, in words.

Like Gorse's model search, it picks per tenant on held-out recent behaviour; unlike it, the choice
is explained (sample size, margin, interval), it is never made on fewer than ``min_members`` members,
and operators can pin settings instead.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from kith_recommend.domain.changes import Edge
from kith_recommend.domain.compiled import CompiledModel, compile_model
from kith_recommend.domain.model import MemberProfile, TenantState
from kith_recommend.domain.params import RankingParams
from kith_recommend.domain.ranking import suggest

K = 10

#: The ranking settings self-tuning varies; the others (places, pools, compile-time exponents) stay as set.
TUNED_FIELDS: tuple[str, ...] = (
    "co_membership_weight",
    "social_weight",
    "topic_weight",
    "trending_weight",
    "popularity_weight",
    "popularity_penalty",
    "source_size_exponent",
    "engagement_weight",
    "small_community_boost",
    "mmr_lambda",
)

#: Named variations of the shipped defaults, each a direction a tenant's data may favour.
VARIATIONS: tuple[tuple[str, dict[str, float]], ...] = (
    ("more social", {"social_weight": 1.0}),
    ("less topic", {"topic_weight": 0.1}),
    ("more topic", {"topic_weight": 0.6}),
    ("no diversity", {"mmr_lambda": 1.0}),
    ("more diversity", {"mmr_lambda": 0.75}),
    ("smaller communities", {"popularity_penalty": 0.4, "small_community_boost": 0.4}),
    ("larger communities", {"popularity_penalty": 0.1, "source_size_exponent": 0.6}),
)

Status = Literal["adopted", "kept", "too_small", "pinned"]


class TuningParams(BaseModel):
    """When and how each tenant's ranking settings are evaluated and changed (``RECOMMEND_TUNING__*``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    interval_seconds: float = Field(
        default=21_600.0,
        ge=0,
        description="How often each tenant's ranking is evaluated and maybe re-tuned (0: never).",
    )
    holdout_share: float = Field(
        default=0.1, gt=0, lt=0.5, description="Share of a tenant's latest joins held out to evaluate on."
    )
    margin: float = Field(
        default=0.005, ge=0, description="NDCG@10 gain over the current settings needed to adopt others."
    )
    min_members: int = Field(
        default=50, ge=1, description="Fewest members with held-out joins to evaluate a tenant (fewer: defaults kept)."
    )
    max_members: int = Field(
        default=1_000, ge=1, description="Most members evaluated per tenant (a seeded sample above it)."
    )


@dataclass(frozen=True)
class Candidate:
    """A named setting to try: the values of :data:`TUNED_FIELDS`."""

    name: str
    settings: dict[str, float]


def tuned_values(params: RankingParams) -> dict[str, float]:
    """Return the values of the tuned fields of ``params``."""
    return {name: float(getattr(params, name)) for name in TUNED_FIELDS}


def candidates(defaults: RankingParams, current: RankingParams) -> list[Candidate]:
    """Return the settings to try: the current ones first, the shipped defaults, then named variations."""
    base = tuned_values(defaults)
    out = [Candidate("current", tuned_values(current))]
    for name, delta in (("defaults", {}), *VARIATIONS):
        settings = {**base, **delta}
        if all(settings != c.settings for c in out):
            out.append(Candidate(name, settings))
    return out


@dataclass
class Holdout:
    """The state before a cut-off in time, and the joins after it of members known before it."""

    cutoff: float
    train: TenantState
    held_out: dict[str, set[str]]
    joins_after: int


def _cutoff(times: Sequence[float], share: float) -> float:
    ordered = sorted(times)
    return ordered[max(0, min(len(ordered) - 1, int(len(ordered) * (1.0 - share)) - 1))]


def split_by_time(state: TenantState, share: float) -> Holdout | None:
    """Hold out the joins after the cut-off (the latest ``share`` of joins); None when there are no join times.

    The training state shares everything it does not change with ``state`` (read it, never write
    it, and only while ``state`` does not change): memberships and the daily join counts of trending
    lose the held-out joins, and the tenant's clock stops at the cut-off. Members who joined nothing
    before the cut-off, staff and bots are not evaluated.
    """
    joined_at = state.edges[Edge.JOINED_AT]
    members = state.edges[Edge.MEMBER]
    times = [t for communities in joined_at.values() for t in communities.values()]
    if not times:
        return None
    cutoff = _cutoff(times, share)
    excluded = state.excluded_members()
    hidden = {c for c, p in state.communities.items() if p.get("visibility", "public") != "public"}
    held_out: dict[str, set[str]] = {}
    removed: dict[str, set[str]] = {}
    joins_after = 0
    for member, communities in joined_at.items():
        late = {c for c, t in communities.items() if t > cutoff and c in members.get(member, {})}
        if not late:
            continue
        joins_after += len(late)
        removed[member] = late
        early = set(members.get(member, {})) - late
        if early and member not in excluded:
            wanted = late - hidden
            if wanted:
                held_out[member] = wanted
    edges = dict(state.edges)
    edges[Edge.MEMBER] = dict(members)
    joins_day = dict(state.edges[Edge.JOINS_DAY])
    for member, late in removed.items():
        kept = {c: w for c, w in members[member].items() if c not in late}
        if kept:
            edges[Edge.MEMBER][member] = kept
        else:
            del edges[Edge.MEMBER][member]
        for c in late:
            day = datetime.fromtimestamp(joined_at[member][c], UTC).date().isoformat()
            days = joins_day[c] = dict(joins_day.get(c, {}))
            if days.get(day, 0.0) > 1.0:
                days[day] -= 1.0
            else:
                days.pop(day, None)
    edges[Edge.JOINS_DAY] = joins_day
    train = replace(state, edges=edges, now=cutoff)
    return Holdout(cutoff=cutoff, train=train, held_out=held_out, joins_after=joins_after)


@dataclass
class Prepared:
    """What an evaluation needs, copied from the live state: the training model and the members' profiles."""

    tenant: str
    cutoff: float
    joins_after: int
    eligible_members: int
    model: CompiledModel | None
    profiles: list[MemberProfile]
    held_out: list[set[str]]
    seconds: float = 0.0


def prepare(state: TenantState, params: RankingParams, tuning: TuningParams, seed: int = 0) -> Prepared:
    """Split the state by time, compile the model before the cut-off, and take the evaluated members' profiles.

    Call while ``state`` does not change (under the consumer's lock); what it returns is independent of it.
    """
    started = time.perf_counter()
    holdout = split_by_time(state, tuning.holdout_share)
    if holdout is None:
        return Prepared(state.tenant, 0.0, 0, 0, None, [], [], time.perf_counter() - started)
    members = sorted(holdout.held_out)
    eligible = len(members)
    if len(members) > tuning.max_members:
        sampler = random.Random(f"{state.tenant}:{seed}")  # noqa: S311 - a reproducible sample, not a secret
        members = sorted(sampler.sample(members, tuning.max_members))
    model = None
    if eligible >= tuning.min_members:
        model = compile_model(holdout.train, params.trending_half_life_days, params.neighbour_degree_exponent)
    # One profile per held-out list, model or not: an evaluation of a tenant too small to compile ranks nothing.
    profiles = [holdout.train.profile(m) for m in members]
    return Prepared(
        tenant=state.tenant,
        cutoff=holdout.cutoff,
        joins_after=holdout.joins_after,
        eligible_members=eligible,
        model=model,
        profiles=profiles,
        held_out=[holdout.held_out[m] for m in members],
        seconds=time.perf_counter() - started,
    )


def scores_of(ranked: Sequence[str], relevant: set[str], k: int = K) -> tuple[float, float]:
    """Return (HR@k, NDCG@k) of one list against the held-out communities (binary relevance)."""
    gains = [1.0 / math.log2(rank + 2) for rank, c in enumerate(ranked[:k]) if c in relevant]
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(k, len(relevant))))
    return (1.0 if gains else 0.0), (sum(gains) / ideal if ideal else 0.0)


@dataclass
class Trial:
    """One candidate's figures on the held-out joins."""

    name: str
    settings: dict[str, float]
    hr: float
    ndcg: float
    gains: list[float] = field(default_factory=list, repr=False)


def evaluate(prepared: Prepared, base: RankingParams, tried: Sequence[Candidate], k: int = K) -> list[Trial]:
    """Rank every evaluated member's communities with each candidate (on ``base``) and score the lists."""
    trials = []
    model = prepared.model
    for candidate in tried:
        params = base.model_copy(update=candidate.settings)
        hits: list[float] = []
        gains: list[float] = []
        for profile, relevant in zip(prepared.profiles, prepared.held_out, strict=True):
            found = suggest(model, profile, params, k, explain=False) if model is not None else []
            hit, gain = scores_of([s.community_id for s in found], relevant, k)
            hits.append(hit)
            gains.append(gain)
        n = max(len(gains), 1)
        trials.append(Trial(candidate.name, candidate.settings, sum(hits) / n, sum(gains) / n, gains))
    return trials


@dataclass(frozen=True)
class Difference:
    """The best candidate's NDCG@10 minus the current one's, paired by member, with a 95% interval."""

    mean: float
    low: float
    high: float


def paired_difference(a: Sequence[float], b: Sequence[float]) -> Difference:
    """Return the mean of ``a - b`` with a normal 95% interval (members are many; seeds are not involved)."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if diff.size == 0:
        return Difference(0.0, 0.0, 0.0)
    mean = float(diff.mean())
    half = 1.96 * float(diff.std(ddof=1)) / math.sqrt(diff.size) if diff.size > 1 else math.inf
    return Difference(mean, mean - half, mean + half)


@dataclass
class Decision:
    """What the evaluation decided, and why, in words."""

    status: Status
    chosen: str
    chosen_settings: dict[str, float]
    why: str
    difference: Difference | None = None


def decide(trials: Sequence[Trial], members: int, held_out: int, tuning: TuningParams) -> Decision:
    """Adopt the best trial when it beats the current one (``trials[0]``) clearly enough; say why either way."""
    current = trials[0]
    best = current
    for trial in trials[1:]:
        if trial.ndcg > best.ndcg:
            best = trial
    sample = f"{members} members with {held_out} held-out joins"
    if best is current:
        return Decision(
            "kept",
            current.name,
            current.settings,
            f"kept the current settings: none of the {len(trials) - 1} others ranked the held-out joins better "
            f"(NDCG@10 {current.ndcg:.4f} on {sample})",
        )
    difference = paired_difference(best.gains, current.gains)
    interval = f"95% interval {difference.low:+.4f} to {difference.high:+.4f}"
    gain = f"'{best.name}' NDCG@10 {best.ndcg:.4f} against {current.ndcg:.4f}, {difference.mean:+.4f} ({interval})"
    if difference.mean >= tuning.margin and difference.low > 0:
        return Decision(
            "adopted",
            best.name,
            best.settings,
            f"adopted {gain} on {sample}: the gain is at least the margin {tuning.margin:.4f} and its interval "
            "lies above zero",
            difference,
        )
    short = "the gain is under the margin" if difference.mean < tuning.margin else "its interval reaches zero"
    return Decision(
        "kept",
        current.name,
        current.settings,
        f"kept the current settings: {gain} on {sample}, but {short} ({tuning.margin:.4f} needed)",
        difference,
    )


def too_small(prepared: Prepared, tuning: TuningParams) -> str | None:
    """Say why a tenant cannot be evaluated (too few members with held-out joins), or None when it can."""
    if prepared.model is not None and len(prepared.profiles) >= tuning.min_members:
        return None
    if prepared.joins_after == 0:
        return "no join times to hold out yet: the settings in effect are kept"
    return (
        f"too small to evaluate: {prepared.eligible_members} members joined a public community after the cut-off "
        f"having joined one before it, {tuning.min_members} are needed; the settings in effect are kept"
    )


def result_document(
    prepared: Prepared,
    trials: Sequence[Trial],
    decision: Decision | None,
    reason: str | None,
    tuning: TuningParams,
    seconds: float,
    at: datetime,
) -> dict[str, Any]:
    """Return an evaluation as plain data (what the quality route shows and the store keeps)."""
    chosen = decision.chosen if decision is not None else "current"
    return {
        "evaluated_at": at,
        "status": decision.status if decision is not None else "too_small",
        "why": decision.why if decision is not None else reason,
        "cutoff": datetime.fromtimestamp(prepared.cutoff, UTC) if prepared.cutoff else None,
        "members": len(prepared.profiles) if prepared.model is not None else 0,  # members evaluated
        "eligible_members": prepared.eligible_members,
        "held_out_joins": sum(len(h) for h in prepared.held_out),
        "margin": tuning.margin,
        "difference": (
            None
            if decision is None or decision.difference is None
            else {"mean": decision.difference.mean, "low": decision.difference.low, "high": decision.difference.high}
        ),
        "configurations": [
            {"name": t.name, "settings": t.settings, "hr_at_10": t.hr, "ndcg_at_10": t.ndcg, "chosen": t.name == chosen}
            for t in trials
        ],
        "seconds": seconds,
    }


def merged(defaults: RankingParams, overrides: Mapping[str, Any], tuned: Mapping[str, Any] | None) -> RankingParams:
    """Return the settings in effect: the defaults, then a tenant's own settings, then what self-tuning adopted."""
    return defaults.model_copy(update={**overrides, **(tuned or {})})
