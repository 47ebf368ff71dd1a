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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

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
from bench.recsys.metrics import SMALL_COMMUNITY_MEMBERS, coverage, per_user, small_share
from bench.recsys.results import Comparison, SeedResult, Summary, compare, headline, summarize

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
