"""The console's settings: env prefix ``CONSOLE_``; where the three services answer; the session's secret."""

from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from kith_shared.settings import PLACEHOLDER_SECRETS, ServerSettings

#: The development secret: refused in production like every placeholder.
DEVELOPMENT_SECRET = "kith-console-development-secret"  # noqa: S105 - a known placeholder, refused in production


class ConsoleSettings(ServerSettings):
    """How the console runs: the services it shows, and its sessions."""

    model_config = SettingsConfigDict(env_prefix="CONSOLE_")

    port: int = 8004
    ingest_url: str = Field(default="http://127.0.0.1:8001", description="Base URL of the ingest service's API.")
    scoring_url: str = Field(default="http://127.0.0.1:8002", description="Base URL of the scoring service's API.")
    recommend_url: str = Field(default="http://127.0.0.1:8003", description="Base URL of the recommend service's API.")
    request_timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, description="How long a page waits for one service's answer."
    )
    session_secret: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_SECRET),
        description="Key the session cookie (which holds the API key) is encrypted with; at least 16 characters "
        "in production.",
    )
    session_hours: float = Field(default=8.0, gt=0, le=24 * 30, description="How long a sign-in lasts.")
    secure_cookies: bool | None = Field(
        default=None, description="Send cookies over HTTPS only (default: in production only)."
    )

    @property
    def https_only(self) -> bool:
        """Tell whether cookies carry the Secure attribute."""
        return self.environment == "production" if self.secure_cookies is None else self.secure_cookies

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Self:
        if self.environment != "production":
            return self
        secret = self.session_secret.get_secret_value()
        if secret in PLACEHOLDER_SECRETS or secret == DEVELOPMENT_SECRET or len(secret) < 16:
            raise ValueError("session_secret is a placeholder or shorter than 16 characters; set a real secret")
        return self
