"""Settings of the recommend service (env prefix ``RECOMMEND_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kith_recommend.domain.params import RankingParams
from kith_shared.settings import MongoSettings, ServiceSettings


class RecommendSettings(ServiceSettings):
    """The recommend service's configuration."""

    model_config = SettingsConfigDict(env_prefix="RECOMMEND_", env_nested_delimiter="__", extra="ignore")

    port: int = 8003
    mongo: MongoSettings = Field(default_factory=lambda: MongoSettings(database="kith_recommend"))
    ranking: RankingParams = Field(default_factory=RankingParams)
    consumer_group: str = Field(default="recommend", description="Consumer group (prefixed by kafka.topic_prefix).")
    batch_max_records: int = Field(default=2_000, ge=1, description="Most records applied in one batch.")
    batch_timeout_ms: int = Field(default=200, ge=1, description="Longest wait for a batch to fill.")
    refresh_interval_seconds: float = Field(
        default=1.0, gt=0, description="How often changed tenants' ranking models are recompiled."
    )
