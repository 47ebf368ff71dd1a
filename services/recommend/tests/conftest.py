"""Fixtures: a running recommend app on the real broker and database, with keys of tenants acme and other."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kith_devkit.testing import MakeSettings, RunningService, RunService
from kith_recommend.app import create_app
from kith_recommend.settings import RecommendSettings
from kith_shared.auth import Scope

Running = RunningService[RecommendSettings]


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
