"""Settings of the recommend service (env prefix ``RECOMMEND_``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import SettingsConfigDict

from kith_recommend.domain.microcommunities.params import DetectionParams
from kith_recommend.domain.params import RankingParams
from kith_recommend.domain.tuning import TuningParams
from kith_shared.settings import MongoSettings, ServiceSettings


class DiscoverySettings(BaseModel):
    """How micro-community detection runs: when, where, within what bounds, and what it keeps."""

    model_config = ConfigDict(allow_inf_nan=False)

    enabled: bool = Field(
        default=True, description="Detect micro-communities in this process (one replica of a deployment)."
    )
    interval_seconds: float = Field(
        default=300.0, gt=0, description="How often a tenant whose interaction graph changed is detected again."
    )
    executor: Literal["process", "thread"] = Field(
        default="process",
        description="Where detection runs: a worker process (stoppable, never slows requests) or a thread.",
    )
    timeout_seconds: float = Field(
        default=300.0, gt=0, description="Longest one tenant's detection may run before it is stopped and retried."
    )
    worker_memory_mb: int = Field(
        default=0, ge=0, description="Address-space limit of the worker process in MB (0: none)."
    )
    max_ties: int = Field(
        default=3_000_000, ge=1_000, description="Most member pairs a tenant's graph keeps; the weakest go first."
    )
    retry_first_seconds: float = Field(default=30.0, gt=0, description="First pause before a failed tenant is retried.")
    retry_most_seconds: float = Field(
        default=3_600.0, gt=0, description="Longest pause between retries of a failing tenant."
    )
    growth_window_days: float = Field(default=7.0, gt=0, description="Window over which growth is reported.")
    max_edges_per_group: int = Field(
        default=5_000, ge=0, description="Heaviest internal ties kept per group for drawing (include=edges)."
    )


class RecommendSettings(ServiceSettings):
    """The recommend service's configuration."""

    model_config = SettingsConfigDict(env_prefix="RECOMMEND_", env_nested_delimiter="__", extra="ignore")

    port: int = 8003
    mongo: MongoSettings = Field(default_factory=lambda: MongoSettings(database="kith_recommend"))
    ranking: RankingParams = Field(default_factory=RankingParams)
    tuning: TuningParams = Field(default_factory=TuningParams)
    detection: DetectionParams = Field(default_factory=DetectionParams)
    discovery: DiscoverySettings = Field(default_factory=DiscoverySettings)
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
