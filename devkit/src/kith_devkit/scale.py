"""Tenants at scale for benchmarks: the one generator's world, light on activity, as ingest would publish it."""

from __future__ import annotations

from collections.abc import Iterator

from kith_devkit.events import as_ingested
from kith_devkit.generator import GeneratorConfig, generate
from kith_shared.events import Event


def tenant_at_scale(
    communities: int,
    members: int,
    *,
    seed: int = 7,
    tenant: str = "bench",
    days: int = 30,
    activity: float = 0.05,
) -> Iterator[Event]:
    """Yield a large tenant's history (normalized events), deterministic per seed.

    With the defaults, 10,000 communities and 100,000 members give about 650,000 events: every member's
    interests, heavy-tailed memberships (about 2.7 per member), and a light month of posts, comments,
    reactions, views, follows and meet-ups.
    """
    config = GeneratorConfig(
        seed=seed, communities=communities, members=members, days=days, tenant=tenant, activity=activity
    )
    for raw in generate(config):
        yield as_ingested(raw)
