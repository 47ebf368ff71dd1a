"""Fixtures: a running recommend app on the real broker and database, with keys of tenants acme and other.

``service`` is the app of the micro-community tests: admin keys, detecting only when asked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from kith_devkit.testing import MakeSettings, RunningService, RunService
from kith_recommend.app import create_app
from kith_recommend.settings import RecommendSettings
from kith_shared.auth import Scope

Running = RunningService[RecommendSettings]
KEYS = {"acme": [Scope.ADMIN], "other": [Scope.ADMIN], "reader": [Scope.RECOMMENDATIONS_READ]}


@pytest.fixture
def recommend_settings(make_settings: MakeSettings) -> RecommendSettings:
    """Settings pointing at this test's topics and databases, refreshing quickly."""
    return make_settings(RecommendSettings, refresh_interval_seconds=0.2, batch_timeout_ms=50, rate_limit_per_second=0)


@pytest.fixture
async def running(recommend_settings: RecommendSettings, running_service: RunService) -> AsyncIterator[Running]:
    """Start the service (lifespan included) with a key of tenants acme and other that reads and writes."""
    keys = {tenant: [Scope.RECOMMENDATIONS_READ, Scope.RECOMMENDATIONS_WRITE] for tenant in ("acme", "other")}
    async with running_service(create_app, recommend_settings, keys) as service:
        yield service


def slow_schedule(settings: RecommendSettings, **discovery: Any) -> RecommendSettings:
    """Return settings under which detection runs only when asked for (and quickly retried)."""
    update = {"interval_seconds": 3600.0, "retry_first_seconds": 0.2, "retry_most_seconds": 1.0, **discovery}
    return settings.model_copy(update={"discovery": settings.discovery.model_copy(update=update)})


@pytest.fixture
async def service(recommend_settings: RecommendSettings, running_service: RunService) -> AsyncIterator[Running]:
    """The service with an admin key of tenants acme and other and a reader's key, detecting only when asked."""
    async with running_service(create_app, slow_schedule(recommend_settings), KEYS) as running:
        yield running
