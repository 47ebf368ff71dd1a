"""The engagement model's service-wide parameters (per-tenant ones are in :mod:`kith_scoring.domain.config`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class EngagementParameters(BaseModel):
    """What the engagement model takes from the service's configuration, the same for every tenant."""

    model_config = ConfigDict(allow_inf_nan=False)

    recent_events: int = Field(default=20, ge=0, le=200, description="Recent events kept per member and community.")
    quiet_days: int = Field(default=14, ge=7, le=28, description="Default quiet period for slipping away (7-28).")
