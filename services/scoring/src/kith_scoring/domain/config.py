"""Per-tenant scoring configuration: weights, half-life and level thresholds, with their history.

A configuration change applies from then on: each version has an ``effective_from`` instant, and an
event is weighed (and decays) by the version in force when ingest received it (``receivedtime``).
Because that instant travels with the event, a rebuild from the topic weighs every event exactly
as the live consumer did, whatever the order.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Final

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

#: Types that count as activity of a member in a community (they all carry both ids).
SCORED_TYPES: Final = (
    "member.joined",
    "member.left",
    "post.created",
    "post.edited",
    "post.deleted",
    "comment.created",
    "reaction.added",
    "reaction.removed",
    "post.viewed",
    "event.attended",
    "event.hosted",
)

DEFAULT_WEIGHTS: Final[dict[str, float]] = {
    "member.joined": 1.0,
    "member.left": 0.0,
    "post.created": 5.0,
    "post.edited": 0.5,
    "post.deleted": 0.0,
    "comment.created": 3.0,
    "reaction.added": 1.0,
    "reaction.removed": -1.0,
    "post.viewed": 0.1,
    "event.attended": 4.0,
    "event.hosted": 8.0,
}
DEFAULT_HALF_LIFE_DAYS: Final = 7.0
#: Score needed for level 1, 2, 3, ... (level 0 below the first).
DEFAULT_LEVEL_THRESHOLDS: Final = (5.0, 20.0, 60.0, 150.0)
DEFAULT_LEVEL_PERIOD_DAYS: Final = 7
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class ScoringConfig(BaseModel):
    """What a tenant can tune."""

    # Finite numbers only: JSON's 1e400 parses as infinity, which would be stored and served back as null.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    half_life_days: Annotated[float, Field(ge=1.0, le=365.0)] = DEFAULT_HALF_LIFE_DAYS
    level_thresholds: list[Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: list(DEFAULT_LEVEL_THRESHOLDS), min_length=1, max_length=20
    )
    level_period_days: Annotated[int, Field(ge=1, le=90)] = DEFAULT_LEVEL_PERIOD_DAYS

    @field_validator("weights")
    @classmethod
    def _known_types(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(SCORED_TYPES))
        if unknown:
            raise ValueError(f"unknown activity types {unknown}; known: {list(SCORED_TYPES)}")
        for name, weight in value.items():
            if not -1_000.0 <= weight <= 1_000.0:
                raise ValueError(f"weight of {name} must be between -1000 and 1000")
        return {**DEFAULT_WEIGHTS, **value}

    @model_validator(mode="after")
    def _ascending(self) -> ScoringConfig:
        if any(b <= a for a, b in zip(self.level_thresholds, self.level_thresholds[1:], strict=False)):
            raise ValueError("level_thresholds must be strictly increasing")
        return self

    def weight(self, event_type: str) -> float:
        """Return the weight of an activity type."""
        return self.weights.get(event_type, 0.0)

    def level_for(self, score: float) -> int:
        """Return the level a score reaches (without hysteresis)."""
        return sum(1 for threshold in self.level_thresholds if score >= threshold)


class ConfigVersion(BaseModel):
    """One recorded configuration of a tenant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    effective_from: AwareDatetime
    config: ScoringConfig
    changed_by: str | None = None


DEFAULT_VERSION: Final = ConfigVersion(version=0, effective_from=EPOCH, config=ScoringConfig())


class TenantConfig(BaseModel):
    """Every configuration a tenant has had, oldest first (version 0 is the default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    versions: list[ConfigVersion] = Field(default_factory=lambda: [DEFAULT_VERSION])

    def at(self, instant: datetime) -> ConfigVersion:
        """Return the version in force at ``instant``."""
        chosen = self.versions[0]
        for version in self.versions:
            if version.effective_from <= instant:
                chosen = version
        return chosen

    def by_number(self, number: int) -> ConfigVersion:
        """Return a version by its number (the default when unknown)."""
        for version in self.versions:
            if version.version == number:
                return version
        return self.versions[0]

    @property
    def current(self) -> ConfigVersion:
        """Return the latest version."""
        return self.versions[-1]

    def with_update(self, config: ScoringConfig, effective_from: datetime, changed_by: str | None) -> TenantConfig:
        """Return the history with a new version applying from ``effective_from``."""
        if effective_from < self.current.effective_from:
            effective_from = self.current.effective_from
        new = ConfigVersion(
            version=self.current.version + 1, effective_from=effective_from, config=config, changed_by=changed_by
        )
        return TenantConfig(versions=[*self.versions, new])
