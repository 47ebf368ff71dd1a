"""Evaluation driver: per seed, split, tune each model on validation, refit on train, score the test hold-out.

Models follow the protocol in :mod:`bench.recsys.baselines`; their methods may be coroutines (the
service path is), so the driver is async and awaits whatever they return.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.recsys.baselines import Params, make_baselines
from bench.recsys.data import (
    CoreStats,
    Dataset,
    Friends,
    Memberships,
    Split,
    community_sizes,
    core,
    sample_users,
    split_for_seed,
)
from bench.recsys.metrics import (
    SMALL_COMMUNITY_MEMBERS,
    Interval,
    bootstrap_interval,
    coverage,
    per_user,
    small_share,
    t_interval,
)

log = logging.getLogger(__name__)

K = 10
SERVICE_MODULE = "bench.recsys.kith_adapter"
#: The service rows by short name, in the order they are reported: what ships first.
SERVICE_CLASSES: dict[str, str] = {
    "defaults": "KithDefaults",
    "tuned": "KithServicePath",
    "candidates": "KithDefaultCandidates",
}
#: The baseline every service row is compared with, member by member.
REFERENCE = "EASE"
#: Core threshold on communities per member, by data set: the generator's members join about two
#: communities in its 30 days, so its core keeps members with two or more.
DEFAULT_MIN_COMMUNITIES: dict[str, int] = {"youtube": 3, "sample": 3, "generator": 2}


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


@dataclass
class Report:
    """Everything one evaluation run measured."""

    dataset: str
    core: CoreStats
    seeds: list[int]
    users: int | None
    small_definition: str
    holdout: str
    results: list[SeedResult]
    summaries: list[Summary]
    best_baseline: str
    service: str | None
    service_note: str
    headline: dict[str, Any]
    seconds: float
    services: list[str] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)


async def _resolve(value: Any) -> Any:
    """Await ``value`` if it is awaitable (a coroutine model method), else return it."""
    if inspect.isawaitable(value):
        return await value
    return value


async def _fit(model: Any, train: Memberships, friends: Friends, params: Params) -> float:
    """Fit ``model`` and return the wall time."""
    start = time.perf_counter()
    await _resolve(model.fit(train, friends, dict(params)))
    return time.perf_counter() - start


async def _recommend(model: Any, users: list[str], k: int) -> tuple[dict[str, list[str]], float]:
    """Return ``model``'s lists for ``users`` and the wall time."""
    start = time.perf_counter()
    recs = await _resolve(model.recommend(users, k))
    return {user: list(items) for user, items in dict(recs).items()}, time.perf_counter() - start


async def evaluate_model(
    model: Any,
    dataset: Dataset,
    splits: tuple[Split, Split],
    seed: int,
    users: int | None,
    max_configs: int | None = None,
    k: int = K,
) -> SeedResult:
    """Tune ``model`` on the validation split, refit on the test split's train, and score the test hold-out."""
    test, validation = splits
    grid = list(model.param_grid)[:max_configs] if max_configs else list(model.param_grid)
    if not grid:
        grid = [{}]
    tuned: list[tuple[dict[str, Any], float]] = []
    tune_start = time.perf_counter()
    best: dict[str, Any] = dict(grid[0])
    if len(grid) > 1:
        val_users = sample_users(validation.held_out, users, f"{seed}:validation")
        best_score = -math.inf
        for params in grid:
            await _fit(model, validation.train, dataset.friends, params)
            recs, _ = await _recommend(model, val_users, k)
            _, gains = per_user(recs, validation.held_out, val_users, k)
            score = float(gains.mean()) if len(gains) else 0.0
            tuned.append((dict(params), score))
            log.info("%s seed %d validation %s: NDCG@%d %.4f", model.name, seed, dict(params), k, score)
            if score > best_score:
                best, best_score = dict(params), score
    tune_seconds = time.perf_counter() - tune_start
    fit_seconds = await _fit(model, test.train, dataset.friends, best)
    test_users = sample_users(test.held_out, users, seed)
    recs, rec_seconds = await _recommend(model, test_users, k)
    violations = sum(item in test.train.get(user, set()) for user, items in recs.items() for item in items[:k])
    if violations:
        log.error("%s suggested %d communities their members already joined in train", model.name, violations)
    hits, gains = per_user(recs, test.held_out, test_users, k)
    sizes = community_sizes(test.train)
    result = SeedResult(
        model=model.name,
        seed=seed,
        params=best,
        validation=tuned,
        users=len(test_users),
        hr=float(hits.mean()),
        ndcg=float(gains.mean()),
        coverage=coverage(recs, len(dataset.communities), k),
        small_share=small_share(recs, sizes, k, SMALL_COMMUNITY_MEMBERS),
        fit_seconds=fit_seconds,
        recommend_seconds=rec_seconds,
        tune_seconds=tune_seconds,
        joined_suggested=violations,
        timings={str(key): float(value) for key, value in dict(getattr(model, "timings", {}) or {}).items()},
        user_ids=list(test_users),
        hits=hits.tolist(),
        gains=gains.tolist(),
    )
    log.info(
        "%s seed %d test: HR@%d %.4f NDCG@%d %.4f (%s)", model.name, seed, k, result.hr, k, result.ndcg, result.params
    )
    return result


def load_services(names: Sequence[str]) -> tuple[list[Any], str]:
    """Return fresh service-path models (by short name, see :data:`SERVICE_CLASSES`), with a note on what is missing."""
    if not names:
        return [], "service path skipped"
    unknown = [name for name in names if name not in SERVICE_CLASSES]
    if unknown:
        raise ValueError(f"unknown service rows {unknown}; choose from {list(SERVICE_CLASSES)}")
    try:
        module = importlib.import_module(SERVICE_MODULE)
    except ImportError as error:
        return [], f"service path not available: {SERVICE_MODULE} does not import ({error})"
    models = []
    for name in names:
        factory = getattr(module, SERVICE_CLASSES[name], None)
        if factory is None:
            return [], f"service path not available: {SERVICE_MODULE} has no {SERVICE_CLASSES[name]}"
        models.append(factory())
    return models, "service rows: " + ", ".join(str(m.name) for m in models)


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


async def run(
    dataset: Dataset,
    seeds: Sequence[int],
    users: int | None = None,
    max_configs: int | None = None,
    min_members: int = 5,
    min_communities: int | None = None,
    services: Sequence[str] = tuple(SERVICE_CLASSES),
    baselines: Callable[[int], Sequence[Any]] = make_baselines,
) -> Report:
    """Evaluate the baselines and the service rows named (when importable) on ``dataset`` over ``seeds``."""
    start = time.perf_counter()
    if min_communities is None:
        min_communities = DEFAULT_MIN_COMMUNITIES.get(dataset.name, 3)
    reduced, stats = core(dataset, min_members, min_communities)
    rows, note = load_services(services)
    log.info("%s", note)
    results: list[SeedResult] = []
    try:
        for seed in seeds:
            splits = split_for_seed(reduced, seed)
            models: list[Any] = [*baselines(seed), *rows]
            for model in models:
                results.append(await evaluate_model(model, reduced, splits, seed, users, max_configs))
    finally:
        for row in rows:
            await _resolve(row.close())
    row_names = [str(row.name) for row in rows]
    names = [*row_names, *(name for name in dict.fromkeys(r.model for r in results) if name not in row_names)]
    by_seed = len(seeds) >= 2 and reduced.joined_at is None
    summaries = [summarize([r for r in results if r.model == name], by_seed) for name in names]
    service_name = row_names[0] if row_names else None
    best, head = headline(summaries, service_name, results, by_seed, row_names)
    comparisons = [c for name in row_names if (c := compare(results, name, REFERENCE, by_seed)) is not None]
    return Report(
        dataset=dataset.name,
        core=stats,
        seeds=list(seeds),
        users=users,
        small_definition=f"fewer than {SMALL_COMMUNITY_MEMBERS} members in the train split",
        holdout=(
            "one membership per member at random (seeded); validation carved from train the same way"
            if reduced.joined_at is None
            else "each member's latest join (test), then the latest remaining join (validation); "
            "seeds change only ties and model randomness"
        ),
        results=results,
        summaries=summaries,
        best_baseline=best,
        service=service_name,
        service_note=note,
        headline=head,
        seconds=time.perf_counter() - start,
        services=row_names,
        comparisons=comparisons,
    )


def run_sync(*args: Any, **kwargs: Any) -> Report:
    """Run :func:`run` in a fresh event loop."""
    return asyncio.run(run(*args, **kwargs))
