"""Settings of the recommend service (env prefix ``RECOMMEND_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kith_recommend.domain.params import RankingParams
from kith_recommend.domain.tuning import TuningParams
from kith_shared.settings import MongoSettings, ServiceSettings


class RecommendSettings(ServiceSettings):
    """The recommend service's configuration."""

    model_config = SettingsConfigDict(env_prefix="RECOMMEND_", env_nested_delimiter="__", extra="ignore")

    port: int = 8003
    mongo: MongoSettings = Field(default_factory=lambda: MongoSettings(database="kith_recommend"))
    ranking: RankingParams = Field(default_factory=RankingParams)
    tuning: TuningParams = Field(default_factory=TuningParams)
    batch_max_records: int = Field(default=5_000, ge=1, description="Most records applied in one batch.")
    batch_timeout_ms: int = Field(default=200, ge=1, description="Longest wait for a batch to fill.")
    stuck_seconds: float = Field(
        default=120.0, gt=0, description="Not ready when no record was applied for this long with records waiting."
    )
    checkpoint_seconds: float = Field(
        default=60.0, gt=0, description="Longest time between checkpoints while records are applied."
    )
    checkpoint_records: int = Field(
        default=100_000, ge=1, description="A checkpoint is written once this many records were applied since the last."
    )
    checkpoint_lease_seconds: float = Field(
        default=30.0, ge=3, description="How long the checkpoint writer's lease lasts unless renewed (a third of it)."
    )
    refresh_interval_seconds: float = Field(
        default=1.0, gt=0, description="How often changed tenants' ranking models are recompiled."
    )
    tenant_settings_reload_seconds: float = Field(
        default=5.0, gt=0, description="How often tenants' own settings and tuning results are read back."
    )
