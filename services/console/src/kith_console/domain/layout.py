"""A small force-directed layout (Fruchterman and Reingold, 1991) of a group's interaction graph, in numpy.

Nodes repel each other as ``k^2 / d`` and edges pull their ends together as ``w * d^2 / k``; the
temperature, which caps how far a node moves per step, cools linearly. Seeded, so one graph is
always drawn the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def force_layout(
    nodes: Sequence[str], edges: Sequence[tuple[str, str, float]], *, iterations: int = 150, seed: int = 7
) -> dict[str, tuple[float, float]]:
    """Return each node's position in the unit square [0, 1]^2 (edges between unknown nodes are ignored)."""
    count = len(nodes)
    if count == 0:
        return {}
    if count == 1:
        return {nodes[0]: (0.5, 0.5)}
    index = {node: i for i, node in enumerate(nodes)}
    pairs = [(index[a], index[b], max(float(w), 0.0)) for a, b, w in edges if a in index and b in index and a != b]
    rng = np.random.default_rng(seed)
    position = rng.random((count, 2))
    k = float(np.sqrt(1.0 / count))
    sources = np.array([p[0] for p in pairs], dtype=int)
    targets = np.array([p[1] for p in pairs], dtype=int)
    weights = np.array([p[2] for p in pairs], dtype=float)
    if weights.size:
        weights = weights / weights.max() if weights.max() > 0 else weights
    temperature = 0.1
    cooling = temperature / (iterations + 1)
    for _ in range(iterations):
        delta = position[:, None, :] - position[None, :, :]
        distance = np.linalg.norm(delta, axis=-1)
        np.fill_diagonal(distance, 1.0)
        distance = np.maximum(distance, 1e-3)
        repulsion = (k * k / distance**2)[:, :, None] * delta
        np.einsum("iij->ij", repulsion)[:] = 0.0
        displacement = repulsion.sum(axis=1)
        if pairs:
            pull = position[sources] - position[targets]
            length = np.maximum(np.linalg.norm(pull, axis=1), 1e-3)
            force = (weights * length / k)[:, None] * pull
            np.subtract.at(displacement, sources, force)
            np.add.at(displacement, targets, force)
        size = np.maximum(np.linalg.norm(displacement, axis=1), 1e-9)
        position += displacement / size[:, None] * np.minimum(size, temperature)[:, None]
        temperature -= cooling
    low, high = position.min(axis=0), position.max(axis=0)
    span = np.where(high - low > 1e-9, high - low, 1.0)
    scaled = (position - low) / span
    return {node: (float(scaled[i, 0]), float(scaled[i, 1])) for node, i in index.items()}
