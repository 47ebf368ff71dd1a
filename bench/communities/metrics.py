"""Scores of a detected cover (a list of member sets, possibly overlapping) against a true one.

- Average best-match F1 (Yang and Leskovec, 2013): the mean of (a) each detected group's best F1
  against the true groups and (b) each true group's best F1 against the detected groups.
- Overlapping NMI in McDaid, Greene and Hurley's form (2011, "Normalized mutual information to
  evaluate overlapping community finding algorithms", their ``NMI_max``): Lancichinetti et al.'s
  conditional entropies of each cluster given its best admissible match in the other cover, summed,
  and the mutual information ``I = (H(X) - H(X|Y) + H(Y) - H(Y|X)) / 2`` normalised by
  ``max(H(X), H(Y))``. The universe is given explicitly (here: the members of the graph).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

import numpy as np
import numpy.typing as npt
from scipy import sparse

Cover = Sequence[frozenset[str]]


def f1(a: Collection[str], b: Collection[str]) -> float:
    """Return the F1 score of two member sets (0 when they share nobody)."""
    shared = len(set(a) & set(b))
    return 0.0 if shared == 0 else 2.0 * shared / (len(a) + len(b))


def _intersections(x: Cover, y: Cover) -> npt.NDArray[np.float64]:
    """Return the matrix of |x_i & y_j|."""
    names = {m: i for i, m in enumerate(sorted({m for c in [*x, *y] for m in c}))}

    def indicator(cover: Cover) -> sparse.csr_matrix:
        rows = [i for i, c in enumerate(cover) for _ in c]
        cols = [names[m] for c in cover for m in c]
        return sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(cover), len(names)))

    return np.asarray((indicator(x) @ indicator(y).T).todense())


def best_match_f1(x: Cover, y: Cover) -> list[float]:
    """Return, for each group of ``x``, its best F1 against the groups of ``y``."""
    if not x:
        return []
    if not y:
        return [0.0] * len(x)
    shared = _intersections(x, y)
    sizes = np.add.outer(np.array([len(c) for c in x], dtype=float), np.array([len(c) for c in y], dtype=float))
    return [float(v) for v in (2.0 * shared / sizes).max(axis=1)]


def average_f1(detected: Cover, truth: Cover) -> float:
    """Return the average best-match F1 of Yang and Leskovec (0 if either cover is empty)."""
    if not detected or not truth:
        return 0.0
    one = best_match_f1(detected, truth)
    two = best_match_f1(truth, detected)
    return (sum(one) / len(one) + sum(two) / len(two)) / 2.0


def _h(p: float) -> float:
    return 0.0 if p <= 0.0 else -p * math.log2(p)


def _conditional_entropies(x: Cover, y: Cover, n: int) -> tuple[float, float]:
    """Return (sum of H(X_i), sum of H(X_i | Y)) for the clusters X_i of ``x`` given cover ``y``."""
    shared = _intersections(x, y) if x and y else np.zeros((len(x), len(y)))
    total_h = 0.0
    total_conditional = 0.0
    for i, cluster in enumerate(x):
        p1 = len(cluster) / n
        h_x = _h(p1) + _h(1.0 - p1)
        best = h_x
        for j, other in enumerate(y):
            both = shared[i, j]
            p11 = both / n
            p10 = (len(cluster) - both) / n
            p01 = (len(other) - both) / n
            p00 = 1.0 - p11 - p10 - p01
            if _h(p11) + _h(p00) < _h(p01) + _h(p10):
                continue  # Lancichinetti's constraint: y_j must look like x_i, not like its complement
            q1 = len(other) / n
            h_joint = _h(p11) + _h(p10) + _h(p01) + _h(p00)
            best = min(best, h_joint - (_h(q1) + _h(1.0 - q1)))
        total_h += h_x
        total_conditional += best
    return total_h, total_conditional


def overlapping_nmi(x: Cover, y: Cover, universe: int) -> float:
    """Return McDaid et al.'s overlapping NMI (``NMI_max``) of two covers over ``universe`` members."""
    x = [c for c in x if c]
    y = [c for c in y if c]
    if not x or not y or universe <= 0:
        return 0.0
    h_x, h_x_given_y = _conditional_entropies(x, y, universe)
    h_y, h_y_given_x = _conditional_entropies(y, x, universe)
    denominator = max(h_x, h_y)
    if denominator <= 0:
        return 1.0 if x == y else 0.0
    mutual = 0.5 * (h_x - h_x_given_y + h_y - h_y_given_x)
    return max(0.0, min(1.0, mutual / denominator))
