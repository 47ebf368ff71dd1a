"""Seeded synthetic tenants with planted micro-communities, as a recipe the activity generator can reuse.

A tenant has members, large existing communities (each with a few close sub-groups whose members tie
densely), forming groups (dense, topic-coherent, no two members in a common community), and
heavy-tailed background noise (Chung-Lu: a tie's ends are drawn in proportion to Pareto activity).
Every tie becomes one to a few interactions of random kinds over the last weeks. The planted groups
are the ground truth: forming groups should come out ``emerging``, sub-groups ``inside``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from kith_recommend.domain.microcommunities import CommunityMembership, Interaction, InteractionKind

NOW = datetime(2026, 1, 1, tzinfo=UTC)
KINDS = (InteractionKind.FOLLOW, InteractionKind.REPLY, InteractionKind.MENTION, InteractionKind.REACTION)
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class PlantedRecipe:
    """How a synthetic tenant is drawn (all sizes inclusive ranges)."""

    members: int = 4_000
    communities: int = 20
    community_size: tuple[int, int] = (150, 400)
    affiliated_share: float = 0.7  # members drawn into communities come from this first share of ids
    subgroups_per_community: int = 2
    subgroup_size: tuple[int, int] = (8, 20)
    forming_groups: int = 40
    forming_size: tuple[int, int] = (6, 20)
    group_tie_probability: float = 0.6  # each pair inside a planted group is tied with this chance
    community_ties_per_member: float = 1.5  # sparse ties among a community's other members
    noise_ties_per_member: float = 2.0  # tenant-wide heavy-tailed noise
    pareto_shape: float = 2.0
    interactions_per_tie: tuple[int, int] = (1, 3)
    days: int = 60
    seed: int = 0


@dataclass
class PlantedTenant:
    """A drawn tenant: its ties as interactions, its communities, terms, and the planted groups."""

    members: list[str]
    rows: Ints
    cols: Ints
    communities: dict[str, frozenset[str]]
    terms: dict[str, dict[str, float]]
    forming: list[frozenset[str]]
    subgroups: list[tuple[frozenset[str], str]]
    interactions_per_tie: tuple[int, int] = (1, 1)
    days: int = 60
    seed: int = 0
    joined: dict[str, dict[str, datetime]] = field(default_factory=dict)

    @property
    def planted(self) -> list[frozenset[str]]:
        """Return every planted group (forming groups and sub-groups)."""
        return self.forming + [g for g, _ in self.subgroups]

    def interactions(self) -> Iterator[Interaction]:
        """Yield the interactions, drawn on the fly (seeded) so the caller never holds them all."""
        rng = np.random.default_rng(self.seed + 1)
        low, high = self.interactions_per_tie
        counts = rng.integers(low, high + 1, size=self.rows.size)
        total = int(counts.sum())
        kinds = rng.integers(0, len(KINDS), size=total).tolist()
        ages = (rng.random(total) * self.days * 86_400.0).tolist()
        directions = (rng.random(total) < 0.5).tolist()
        names = self.members
        k = 0
        for a, b, n in zip(self.rows.tolist(), self.cols.tolist(), counts.tolist(), strict=True):
            for _ in range(n):
                source, target = (names[a], names[b]) if directions[k] else (names[b], names[a])
                yield Interaction(KINDS[kinds[k]], source, target, NOW - timedelta(seconds=ages[k]))
                k += 1

    def memberships(self) -> list[CommunityMembership]:
        """Return the communities as membership lists (with join times)."""
        return [CommunityMembership(c, self.joined.get(c, {}), len(m)) for c, m in self.communities.items()]


def _range(rng: np.random.Generator, bounds: tuple[int, int]) -> int:
    return int(rng.integers(bounds[0], bounds[1] + 1))


def _pairs(rng: np.random.Generator, group: Ints, probability: float) -> tuple[Ints, Ints]:
    a, b = np.triu_indices(group.size, 1)
    keep = rng.random(a.size) < probability
    return group[a[keep]], group[b[keep]]


def draw(recipe: PlantedRecipe) -> PlantedTenant:
    """Draw a tenant from the recipe."""
    rng = np.random.default_rng(recipe.seed)
    n = recipe.members
    names = [f"m{i:06d}" for i in range(n)]
    affiliated = max(1, int(n * recipe.affiliated_share))
    rows: list[Ints] = []
    cols: list[Ints] = []
    communities: dict[str, frozenset[str]] = {}
    community_of: dict[int, set[int]] = {}
    terms: dict[str, dict[str, float]] = {}
    general = [f"topic{j}" for j in range(50)]
    popularity = 1.0 / np.arange(1, len(general) + 1)
    for i in range(n):
        picks = rng.choice(len(general), size=3, replace=False, p=popularity / popularity.sum())
        terms[names[i]] = {general[j]: float(rng.integers(1, 4)) for j in picks}
    subgroups: list[tuple[frozenset[str], str]] = []
    for c in range(recipe.communities):
        cid = f"c{c:04d}"
        size = min(_range(rng, recipe.community_size), affiliated)
        members = np.sort(rng.choice(affiliated, size=size, replace=False)).astype(np.int64)
        communities[cid] = frozenset(names[i] for i in members)
        for i in members.tolist():
            community_of.setdefault(i, set()).add(c)
            if rng.random() < 0.3:
                terms[names[i]][f"#{cid}-talk"] = float(rng.integers(1, 3))
        ties = int(recipe.community_ties_per_member * size / 2)
        rows.append(rng.choice(members, size=ties))
        cols.append(rng.choice(members, size=ties))
        chosen = rng.permutation(members)
        offset = 0
        for s in range(recipe.subgroups_per_community):
            sub_size = _range(rng, recipe.subgroup_size)
            group = np.sort(chosen[offset : offset + sub_size])
            offset += sub_size
            a, b = _pairs(rng, group, recipe.group_tie_probability)
            rows.append(a)
            cols.append(b)
            topic = f"#{cid}-sub{s}"
            for i in group.tolist():
                if rng.random() < 0.8:
                    terms[names[i]][topic] = float(rng.integers(1, 6))
            subgroups.append((frozenset(names[i] for i in group), cid))
    forming: list[frozenset[str]] = []
    free = rng.permutation(np.arange(affiliated, n)).tolist()
    pool = rng.permutation(affiliated).tolist()
    for f in range(recipe.forming_groups):
        size = _range(rng, recipe.forming_size)
        chosen_f: list[int] = []
        used: set[int] = set()
        while len(chosen_f) < size and (free or pool):
            if pool and (not free or rng.random() < 0.3):
                candidate = pool.pop()
                if community_of.get(candidate, set()) & used:
                    continue
                used |= community_of.get(candidate, set())
            else:
                candidate = free.pop()
            chosen_f.append(candidate)
        members_f = np.array(sorted(chosen_f), dtype=np.int64)
        a, b = _pairs(rng, members_f, recipe.group_tie_probability)
        rows.append(a)
        cols.append(b)
        for topic in (f"#forming{f}", f"#craft{f}"):
            for i in members_f.tolist():
                if rng.random() < 0.8:
                    terms[names[i]][topic] = float(rng.integers(1, 6))
        forming.append(frozenset(names[i] for i in members_f))
    activity = rng.pareto(recipe.pareto_shape, n) + 1.0
    p = activity / activity.sum()
    noise = int(recipe.noise_ties_per_member * n / 2)
    rows.append(rng.choice(n, size=noise, p=p).astype(np.int64))
    cols.append(rng.choice(n, size=noise, p=p).astype(np.int64))
    all_rows = np.concatenate(rows).astype(np.int64)
    all_cols = np.concatenate(cols).astype(np.int64)
    keep = all_rows != all_cols
    joined = {
        cid: {m: NOW - timedelta(days=float(rng.random() * 365)) for m in sorted(members)}
        for cid, members in communities.items()
    }
    return PlantedTenant(
        members=names,
        rows=all_rows[keep],
        cols=all_cols[keep],
        communities=communities,
        terms=terms,
        forming=forming,
        subgroups=subgroups,
        interactions_per_tie=recipe.interactions_per_tie,
        days=recipe.days,
        seed=recipe.seed,
        joined=joined,
    )


def scale_recipe(members: int = 100_000, ties: int = 1_000_000, seed: int = 0) -> PlantedRecipe:
    """Return a recipe for a large tenant: about ``ties`` ties among ``members``, one interaction each."""
    communities = members // 400
    recipe = PlantedRecipe(
        members=members,
        communities=communities,
        community_size=(150, 800),
        subgroups_per_community=3,
        forming_groups=members // 40,
        forming_size=(6, 30),
        community_ties_per_member=2.0,
        interactions_per_tie=(1, 1),
        seed=seed,
    )
    planted_ties = draw_count_estimate(recipe)
    noise = max(0.0, 2.0 * (ties - planted_ties) / members)
    return PlantedRecipe(**{**recipe.__dict__, "noise_ties_per_member": noise})


def draw_count_estimate(recipe: PlantedRecipe) -> float:
    """Return the expected number of ties the recipe draws besides noise."""
    mean_community = sum(recipe.community_size) / 2
    mean_sub = sum(recipe.subgroup_size) / 2
    mean_forming = sum(recipe.forming_size) / 2
    inside = recipe.communities * recipe.community_ties_per_member * mean_community / 2
    subs = recipe.communities * recipe.subgroups_per_community * mean_sub * (mean_sub - 1) / 2
    forming = recipe.forming_groups * mean_forming * (mean_forming - 1) / 2
    return inside + (subs + forming) * recipe.group_tie_probability
