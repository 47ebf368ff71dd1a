"""Ranking metrics for one held-out community per member, and their confidence intervals.

Every community the member has not joined is a candidate (no sampled negatives), so the rank of
the held-out community in a model's list is its rank among all of them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

#: A community with fewer members than this (in train) counts as small.
SMALL_COMMUNITY_MEMBERS = 50


@dataclass(frozen=True)
class Interval:
    """A mean with the half-width of its confidence interval (NaN when undefined)."""

    mean: float
    half_width: float
    n: int

    def format(self, digits: int = 4) -> str:
        """Render as ``mean ± half_width``."""
        if math.isnan(self.half_width):
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {self.half_width:.{digits}f}"


def rank_of(item: str, ranked: Sequence[str]) -> int | None:
    """Return the 0-based position of ``item`` in ``ranked``, or None when absent."""
    try:
        return list(ranked).index(item)
    except ValueError:
        return None


def hit(rank: int | None, k: int = 10) -> float:
    """Return 1 when the held-out item is in the top ``k``, else 0."""
    return 1.0 if rank is not None and rank < k else 0.0


def ndcg(rank: int | None, k: int = 10) -> float:
    """Return NDCG@k for a single relevant item: ``1 / log2(rank + 2)`` within the top ``k``, else 0."""
    return 1.0 / math.log2(rank + 2) if rank is not None and rank < k else 0.0


def per_user(
    recommendations: Mapping[str, Sequence[str]], held_out: Mapping[str, str], users: Sequence[str], k: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Return per-user HR@k and NDCG@k arrays, in the order of ``users``; a missing list is a miss."""
    hits = np.zeros(len(users), dtype=np.float64)
    gains = np.zeros(len(users), dtype=np.float64)
    for i, user in enumerate(users):
        rank = rank_of(held_out[user], recommendations.get(user, [])[:k])
        hits[i] = hit(rank, k)
        gains[i] = ndcg(rank, k)
    return hits, gains


def coverage(recommendations: Mapping[str, Sequence[str]], catalogue: int, k: int = 10) -> float:
    """Return the share of the ``catalogue`` communities that appear in anyone's top ``k``."""
    shown = {item for items in recommendations.values() for item in items[:k]}
    return len(shown) / catalogue if catalogue else 0.0


def small_share(
    recommendations: Mapping[str, Sequence[str]],
    sizes: Mapping[str, int],
    k: int = 10,
    threshold: int = SMALL_COMMUNITY_MEMBERS,
) -> float:
    """Return the share of suggested slots (top ``k``) that are communities with fewer than ``threshold`` members."""
    total = 0
    small = 0
    for items in recommendations.values():
        for item in items[:k]:
            total += 1
            small += sizes.get(item, 0) < threshold
    return small / total if total else 0.0


def t_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """Return the mean with a Student-t confidence interval (for example over per-seed means)."""
    data = np.asarray(values, dtype=np.float64)
    n = len(data)
    if n == 0:
        return Interval(math.nan, math.nan, 0)
    mean = float(data.mean())
    if n < 2:
        return Interval(mean, math.nan, n)
    sem = float(data.std(ddof=1)) / math.sqrt(n)
    return Interval(mean, float(stats.t.ppf((1 + confidence) / 2, n - 1)) * sem, n)


def bootstrap_interval(
    values: Sequence[float] | np.ndarray, seed: int = 0, resamples: int = 1000, confidence: float = 0.95
) -> Interval:
    """Return the mean with a percentile bootstrap interval over per-user values (half the interval's width)."""
    data = np.asarray(values, dtype=np.float64)
    n = len(data)
    if n == 0:
        return Interval(math.nan, math.nan, 0)
    rng = np.random.default_rng(seed)
    means = np.empty(resamples, dtype=np.float64)
    for start in range(0, resamples, 100):
        stop = min(start + 100, resamples)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = data[idx].mean(axis=1)
    low, high = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    return Interval(float(data.mean()), float(high - low) / 2, n)
