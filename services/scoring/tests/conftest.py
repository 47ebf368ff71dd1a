"""Fixtures of scoring's tests (helpers live in ``helpers.py`` beside them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kith_scoring.settings import ScoringSettings
from kith_shared.settings import KafkaSettings, MongoSettings
from services.scoring.tests.helpers import running_app


@pytest.fixture
def scoring_settings(topics: KafkaSettings, mongo_settings: MongoSettings) -> ScoringSettings:
    """Settings pointing at this test's topics and database."""
    return ScoringSettings(
        environment="test",
        kafka=topics,
        mongo=mongo_settings,
        slipping_sweep_seconds=0,
        batch_timeout_ms=100,
        rate_limit_per_second=0,
    )


@pytest.fixture
def start_app() -> Callable[[ScoringSettings], Any]:
    """Return a factory of running apps (an async context manager)."""
    return running_app
