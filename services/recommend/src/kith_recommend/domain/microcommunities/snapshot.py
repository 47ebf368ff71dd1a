"""The interaction graph at one instant: what detection reads.

:meth:`~kith_recommend.domain.microcommunities.graph.InteractionGraph.snapshot` takes it; partitioning,
detection and summaries read nothing else of the graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

import numpy as np
import numpy.typing as npt
from scipy import sparse

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class GraphSnapshot:
    """The graph at one instant: member names and a symmetric sparse matrix of decayed tie weights.

    Only members with at least one tie are present; index ``i`` of the matrix is ``members[i]``.
    """

    members: tuple[str, ...]
    adjacency: sparse.csr_matrix
    at: datetime

    @cached_property
    def index(self) -> dict[str, int]:
        """Return the matrix index of each member."""
        return {name: i for i, name in enumerate(self.members)}

    @cached_property
    def strength(self) -> Floats:
        """Return each member's weighted degree."""
        return np.asarray(self.adjacency.sum(axis=1), dtype=np.float64).ravel()

    @property
    def total_weight(self) -> float:
        """Return the sum of all tie weights (each undirected tie once)."""
        return float(self.adjacency.sum()) / 2.0

    def upper(self) -> tuple[Ints, Ints, Floats]:
        """Return each undirected tie once, as (row, column, weight) arrays with row < column."""
        upper = sparse.triu(self.adjacency, k=1).tocoo()
        return upper.row.astype(np.int64), upper.col.astype(np.int64), upper.data.astype(np.float64)
