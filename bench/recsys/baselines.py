"""Baseline recommenders: most popular, item-to-item cosine, EASE and ALS (``implicit``).

All share one protocol: ``fit(train, friends, params)`` then ``recommend(users, k)``, which returns
each member's top ``k`` communities, never one the member already joined in ``train``. Each has a
``param_grid`` of the same size, so every model gets the same tuning budget. Scoring is a matrix
product per batch of members, so the whole core is ranked in seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar, Protocol

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from bench.recsys.data import Friends, Memberships

log = logging.getLogger(__name__)

Params = Mapping[str, Any]
#: Members scored per matrix product; a batch of scores is BATCH x communities float32.
BATCH = 2048
#: Configurations each model may try on the validation split. Each grid lists a usually strong
#: configuration first (quick runs try only the first few); ties on validation go to the earlier one.
TUNING_BUDGET = 6


class Recommender(Protocol):
    """What the evaluation driver needs from a model (methods may also be coroutines)."""

    name: str
    param_grid: Sequence[Params]

    def fit(self, train: Memberships, friends: Friends, params: Params) -> Any:
        """Learn from ``train`` memberships and ``friends`` with ``params``."""

    def recommend(self, users: list[str], k: int) -> Any:
        """Return each member's top ``k`` communities not joined in train."""


def _batches(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    """Yield consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class MatrixRecommender:
    """Shared plumbing: id indexes, the user x item matrix, masked top-k per batch."""

    name: ClassVar[str] = "matrix"
    param_grid: ClassVar[Sequence[Params]] = ({},)

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.items: list[str] = []
        self.item_index: dict[str, int] = {}
        self.train: Memberships = {}

    def _index(self, train: Memberships) -> sp.csr_matrix:
        """Index users and items of ``train`` and return its binary user x item CSR matrix (float32)."""
        self.train = train
        self.items = sorted({item for items in train.values() for item in items})
        self.item_index = {item: i for i, item in enumerate(self.items)}
        return self._rows(sorted(train))

    def _rows(self, users: Sequence[str]) -> sp.csr_matrix:
        """Return the binary train rows of ``users`` (empty for unknown members)."""
        indptr = [0]
        indices: list[int] = []
        for user in users:
            indices.extend(sorted(self.item_index[i] for i in self.train.get(user, ()) if i in self.item_index))
            indptr.append(len(indices))
        data = np.ones(len(indices), dtype=np.float32)
        return sp.csr_matrix(
            (data, np.asarray(indices, dtype=np.int32), np.asarray(indptr, dtype=np.int64)),
            shape=(len(users), len(self.items)),
        )

    def _scores(self, users: Sequence[str], rows: sp.csr_matrix) -> np.ndarray:
        """Return a dense (len(users) x items) float32 score matrix."""
        raise NotImplementedError

    def fit(self, train: Memberships, friends: Friends, params: Params) -> None:
        """Learn from ``train``; friendships are not used by the baselines."""
        raise NotImplementedError

    def recommend(self, users: list[str], k: int) -> dict[str, list[str]]:
        """Return each member's top ``k`` communities, excluding those joined in train."""
        out: dict[str, list[str]] = {}
        n_items = len(self.items)
        if n_items == 0:
            return {user: [] for user in users}
        for batch in _batches(users, BATCH):
            rows = self._rows(batch)
            scores = np.asarray(self._scores(batch, rows), dtype=np.float32)
            scores[rows.nonzero()] = -np.inf
            top = min(k, n_items)
            part = np.argpartition(-scores, top - 1, axis=1)[:, :top]
            part_scores = np.take_along_axis(scores, part, axis=1)
            order = np.lexsort((part, -part_scores), axis=1)
            ranked = np.take_along_axis(part, order, axis=1)
            ranked_scores = np.take_along_axis(part_scores, order, axis=1)
            for r, user in enumerate(batch):
                out[user] = [self.items[j] for j, s in zip(ranked[r], ranked_scores[r], strict=True) if s > -np.inf]
        return out


class MostPopular(MatrixRecommender):
    """Rank communities by their number of members in train."""

    name: ClassVar[str] = "most popular"
    param_grid: ClassVar[Sequence[Params]] = ({},)

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self.counts = np.zeros(0, dtype=np.float32)

    def fit(self, train: Memberships, friends: Friends, params: Params) -> None:
        """Count members per community."""
        matrix = self._index(train)
        self.counts = np.asarray(matrix.sum(axis=0), dtype=np.float32).ravel()

    def _scores(self, users: Sequence[str], rows: sp.csr_matrix) -> np.ndarray:
        """Score every community by its size, the same for everyone."""
        return np.broadcast_to(self.counts, (len(users), len(self.counts))).copy()


class ItemItem(MatrixRecommender):
    """A linear item-to-item model: a member's scores are their train row times an item x item matrix."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self.weights = np.zeros((0, 0), dtype=np.float32)

    def _scores(self, users: Sequence[str], rows: sp.csr_matrix) -> np.ndarray:
        """Sum the weights of each community to the member's communities."""
        return np.asarray(rows @ self.weights)


class ItemCosine(ItemItem):
    """Item-to-item co-membership: sum of (shrunk) cosine similarities to the member's communities."""

    name: ClassVar[str] = "item-item cosine"
    param_grid: ClassVar[Sequence[Params]] = tuple(
        {"neighbors": n, "shrink": s} for n, s in ((0, 25.0), (200, 50.0), (0, 0.0), (200, 25.0), (0, 50.0), (200, 0.0))
    )

    def fit(self, train: Memberships, friends: Friends, params: Params) -> None:
        """Compute cosine similarities of community member sets, keeping each row's top neighbours."""
        matrix = self._index(train)
        co = np.asarray((matrix.T @ matrix).toarray(), dtype=np.float32)
        norms = np.sqrt(np.diag(co)).astype(np.float32)
        similarity = co / (np.outer(norms, norms) + np.float32(params.get("shrink", 0.0)) + np.float32(1e-9))
        np.fill_diagonal(similarity, 0.0)
        neighbors = int(params.get("neighbors", 0))
        if 0 < neighbors < similarity.shape[1]:
            drop = np.argpartition(-similarity, neighbors, axis=1)[:, neighbors:]
            np.put_along_axis(similarity, drop, 0.0, axis=1)
        self.weights = similarity


class Ease(ItemItem):
    """EASE (Steck, 2019): closed-form item-item weights with L2 regularization and a zero diagonal."""

    name: ClassVar[str] = "EASE"
    param_grid: ClassVar[Sequence[Params]] = tuple({"l2": v} for v in (50.0, 10.0, 20.0, 100.0, 250.0, 5.0))

    def fit(self, train: Memberships, friends: Friends, params: Params) -> None:
        """Solve ``B = I - P / diag(P)`` with ``P = (X^T X + l2 I)^-1`` (Cholesky, float32, in place)."""
        matrix = self._index(train)
        gram = np.asarray((matrix.T @ matrix).toarray(), dtype=np.float32)
        gram[np.diag_indices_from(gram)] += np.float32(params["l2"])
        factor = scipy.linalg.cho_factor(gram, overwrite_a=True, check_finite=False)
        identity = np.eye(gram.shape[0], dtype=np.float32)
        del gram
        precision = scipy.linalg.cho_solve(factor, identity, overwrite_b=True, check_finite=False)
        del factor
        precision /= -np.diag(precision)[np.newaxis, :]
        np.fill_diagonal(precision, 0.0)
        self.weights = precision.astype(np.float32, copy=False)


class Als(MatrixRecommender):
    """Implicit-feedback ALS (Hu, Koren and Volinsky, 2008) from the ``implicit`` library."""

    name: ClassVar[str] = "ALS (implicit)"
    param_grid: ClassVar[Sequence[Params]] = tuple(
        {"factors": f, "alpha": a, "regularization": 0.05, "iterations": 20}
        for f, a in ((128, 50.0), (8, 20.0), (32, 20.0), (128, 20.0), (32, 50.0), (8, 50.0))
    )

    def __init__(self, seed: int = 0, threads: int = 2) -> None:
        super().__init__(seed)
        self.threads = threads
        self.user_index: dict[str, int] = {}
        self.user_factors = np.zeros((0, 0), dtype=np.float32)
        self.item_factors = np.zeros((0, 0), dtype=np.float32)

    def fit(self, train: Memberships, friends: Friends, params: Params) -> None:
        """Fit ALS on the confidence-weighted user x item matrix, with a fixed random state."""
        from implicit.als import AlternatingLeastSquares

        matrix = self._index(train)
        self.user_index = {user: i for i, user in enumerate(sorted(train))}
        with threadpool_limits(limits=1, user_api="blas"):
            model = AlternatingLeastSquares(
                factors=int(params["factors"]),
                regularization=float(params["regularization"]),
                alpha=float(params["alpha"]),
                iterations=int(params["iterations"]),
                calculate_training_loss=False,
                num_threads=self.threads,
                random_state=self.seed,
                use_gpu=False,
            )
            model.fit(matrix, show_progress=False)
        self.user_factors = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors = np.asarray(model.item_factors, dtype=np.float32)

    def _scores(self, users: Sequence[str], rows: sp.csr_matrix) -> np.ndarray:
        """Score with the dot product of user and item factors (zero for unknown members)."""
        factors = np.zeros((len(users), self.item_factors.shape[1]), dtype=np.float32)
        for r, user in enumerate(users):
            index = self.user_index.get(user)
            if index is not None:
                factors[r] = self.user_factors[index]
        return factors @ self.item_factors.T


def make_baselines(seed: int) -> list[MatrixRecommender]:
    """Return fresh instances of every baseline for one seed."""
    return [MostPopular(seed), ItemCosine(seed), Ease(seed), Als(seed)]
