"""What an evaluation measured: one model's figures on one seed's test hold-out, and over all seeds.

:func:`summarize` gives a model's means with 95% intervals over the seeds; :func:`compare` a model's
NDCG@10 against another's on the same members; :func:`headline` checks the service target against
the best baseline.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.recsys.metrics import Interval, bootstrap_interval, t_interval


@dataclass
class SeedResult:
    """One model's figures on one seed's test hold-out, with what tuning chose."""

    model: str
    seed: int
    params: dict[str, Any]
    validation: list[tuple[dict[str, Any], float]]
    users: int
    hr: float
    ndcg: float
    coverage: float
    small_share: float
    fit_seconds: float
    recommend_seconds: float
    tune_seconds: float
    joined_suggested: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    user_ids: list[str] = field(default_factory=list, repr=False)
    hits: list[float] = field(default_factory=list, repr=False)
    gains: list[float] = field(default_factory=list, repr=False)


@dataclass
class Summary:
    """A model's figures over all seeds: mean with a 95% interval."""

    model: str
    hr: Interval
    ndcg: Interval
    coverage: Interval
    small_share: Interval
    interval: str
    params: list[dict[str, Any]]
    seconds: float


@dataclass
class Comparison:
    """One model's NDCG@10 minus another's on the same members: per seed, over seeds, over members."""

    model: str
    against: str
    per_seed: dict[int, float]
    over_seeds: Interval
    over_members: Interval
    at_least_on_every_seed: bool
    small_share: float
    against_small_share: float


def _per_user_means(results: Sequence[SeedResult], attribute: str) -> np.ndarray:
    """Average each member's value over the seeds that evaluated them."""
    totals: dict[str, list[float]] = {}
    for result in results:
        for user, value in zip(result.user_ids, getattr(result, attribute), strict=True):
            totals.setdefault(user, []).append(value)
    return np.asarray([sum(values) / len(values) for values in totals.values()], dtype=np.float64)


def summarize(results: Sequence[SeedResult], by_seed: bool) -> Summary:
    """Combine one model's per-seed results into means with 95% intervals.

    With ``by_seed``, HR and NDCG get a t-interval over the seed means (the split varies with the
    seed). Otherwise (one seed, or a split fixed by join times) they get a per-user bootstrap over
    each member's mean across seeds.
    """

    def over(values: Iterable[float]) -> Interval:
        return t_interval(list(values))

    if by_seed:
        hr = over(r.hr for r in results)
        ndcg = over(r.ndcg for r in results)
        kind = f"95% t-interval over {len(results)} seed means"
    else:
        hr = bootstrap_interval(_per_user_means(results, "hits"), seed=results[0].seed)
        ndcg = bootstrap_interval(_per_user_means(results, "gains"), seed=results[0].seed)
        kind = "95% per-user bootstrap (of each member's mean over the seeds)"
    return Summary(
        model=results[0].model,
        hr=hr,
        ndcg=ndcg,
        coverage=over(r.coverage for r in results),
        small_share=over(r.small_share for r in results),
        interval=kind,
        params=[r.params for r in results],
        seconds=sum(r.fit_seconds + r.recommend_seconds + r.tune_seconds for r in results),
    )


def paired_difference(a: Sequence[SeedResult], b: Sequence[SeedResult], by_seed: bool) -> Interval:
    """Return NDCG@10 of ``a`` minus ``b`` on the same members: over seed means, or a per-user paired bootstrap."""
    if by_seed:
        ndcg_b = {r.seed: r.ndcg for r in b}
        return t_interval([r.ndcg - ndcg_b[r.seed] for r in a if r.seed in ndcg_b])
    totals: dict[str, list[float]] = {}
    for sign, results in ((1.0, a), (-1.0, b)):
        for result in results:
            for user, gain in zip(result.user_ids, result.gains, strict=True):
                totals.setdefault(user, []).append(sign * gain)
    seeds = len(a)
    differences = np.asarray([sum(values) / seeds for values in totals.values()], dtype=np.float64)
    return bootstrap_interval(differences, seed=a[0].seed if a else 0)


def compare(results: Sequence[SeedResult], model: str, against: str, by_seed: bool) -> Comparison | None:
    """Return ``model``'s NDCG@10 minus ``against``'s on the same members, or None when either is missing."""
    mine = [r for r in results if r.model == model]
    theirs = [r for r in results if r.model == against]
    if not mine or not theirs:
        return None
    by = {r.seed: r for r in theirs}
    per_seed = {r.seed: r.ndcg - by[r.seed].ndcg for r in mine if r.seed in by}
    return Comparison(
        model=model,
        against=against,
        per_seed=per_seed,
        over_seeds=paired_difference(mine, theirs, by_seed=True),
        over_members=paired_difference(mine, theirs, by_seed=False),
        at_least_on_every_seed=all(value >= 0 for value in per_seed.values()),
        small_share=float(np.mean([r.small_share for r in mine])),
        against_small_share=float(np.mean([r.small_share for r in theirs])),
    )


def headline(
    summaries: Sequence[Summary],
    service: str | None,
    results: Sequence[SeedResult] = (),
    by_seed: bool = True,
    services: Sequence[str] = (),
) -> tuple[str, dict[str, Any]]:
    """Name the best baseline (by mean NDCG@10) and check the service target against it."""
    rows = set(services) | ({service} if service else set())
    baselines = [s for s in summaries if s.model not in rows]
    best = max(baselines, key=lambda s: s.ndcg.mean)
    popular = next((s for s in baselines if s.model == "most popular"), None)
    out: dict[str, Any] = {"best_baseline": best.model, "best_baseline_ndcg": best.ndcg.mean}
    svc = next((s for s in summaries if s.model == service), None)
    if svc is None:
        out["target"] = "not checked: service path not available"
        return best.model, out
    beats = svc.ndcg.mean > best.ndcg.mean
    separated = (
        not math.isnan(svc.ndcg.half_width)
        and svc.ndcg.mean - svc.ndcg.half_width > best.ndcg.mean + best.ndcg.half_width
    )
    more_small = popular is not None and svc.small_share.mean > popular.small_share.mean
    difference = paired_difference(
        [r for r in results if r.model == svc.model], [r for r in results if r.model == best.model], by_seed
    )
    out.update(
        ndcg_difference=difference.mean,
        ndcg_difference_half_width=difference.half_width,
        difference_excludes_zero=bool(difference.mean - difference.half_width > 0),
        service_ndcg=svc.ndcg.mean,
        beats_best_baseline=beats,
        intervals_separated=separated,
        service_small_share=svc.small_share.mean,
        popularity_small_share=popular.small_share.mean if popular else None,
        more_small_than_popularity=more_small,
        target="met" if beats and more_small else "not met",
    )
    return best.model, out
