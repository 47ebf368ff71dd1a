"""Scoring's settings: the engagement parameters nested under ``SCORING_ENGAGEMENT__``, renamed variables refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from kith_scoring.settings import ScoringSettings

pytestmark = pytest.mark.unit


def test_engagement_parameters_are_read_from_nested_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCORING_ENGAGEMENT__QUIET_DAYS", "21")
    monkeypatch.setenv("SCORING_ENGAGEMENT__RECENT_EVENTS", "5")
    settings = ScoringSettings()
    assert (settings.engagement.quiet_days, settings.engagement.recent_events) == (21, 5)


def test_a_renamed_variable_is_refused_with_its_new_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCORING_QUIET_DAYS", "21")
    with pytest.raises(ValidationError, match="SCORING_QUIET_DAYS is now SCORING_ENGAGEMENT__QUIET_DAYS"):
        ScoringSettings()
