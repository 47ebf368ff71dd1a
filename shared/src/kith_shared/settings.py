"""Settings shared by every service: Kafka and MongoDB as nested models, and a service base.

Each service subclasses :class:`ServiceSettings` with its own env prefix (``INGEST_``, ``SCORING_``,
``RECOMMEND_``); nested values use ``__``: ``INGEST_KAFKA__BOOTSTRAP_SERVERS``. Its first part,
:class:`ServerSettings`, is what any HTTP process of Kith is told, one without a broker or a
database included.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kith_shared.erasure import PLACEHOLDER_ERASURE_SECRET
from kith_shared.topics import TopicSpec

#: Secrets that must never reach production.
PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "password", "dev", "development"})


class KafkaSettings(BaseModel):
    """How to reach Kafka."""

    model_config = ConfigDict(allow_inf_nan=False)

    bootstrap_servers: str = Field(default="127.0.0.1:19092", description="Comma-separated host:port list.")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."
    )
    sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] | None = Field(
        default=None, description="SASL mechanism, e.g. SCRAM-SHA-512."
    )
    sasl_username: str | None = Field(default=None, description="SASL user.")
    sasl_password: SecretStr | None = Field(default=None, description="SASL password (a secret).")
    ssl_cafile: str | None = Field(default=None, description="CA bundle for TLS.")
    ssl_certfile: str | None = Field(default=None, description="Client certificate for mutual TLS.")
    ssl_keyfile: str | None = Field(default=None, description="Client key for mutual TLS.")
    idempotence: bool = Field(
        default=True,
        description="Idempotent producer. On for real Kafka; the embedded broker does not support it.",
    )
    topic_prefix: str = Field(default="", description="Prepended to every topic name (isolates tests).")
    replication_factor: int = Field(default=1, description="Replication of topics the stack creates.")
    request_timeout_ms: int = Field(default=10_000, description="How long to wait for the broker to answer.")
    client_id: str = Field(default="kith", description="Client id the broker sees.")

    def topic(self, spec: TopicSpec) -> str:
        """Return the deployed name of a declared topic."""
        return f"{self.topic_prefix}{spec.name}"

    def group(self, name: str) -> str:
        """Return the deployed name of a consumer group."""
        return f"{self.topic_prefix}{name}"


class MongoSettings(BaseModel):
    """How to reach MongoDB."""

    model_config = ConfigDict(allow_inf_nan=False)

    uri: SecretStr = Field(default=SecretStr("mongodb://127.0.0.1:27027"), description="MongoDB connection URI.")
    database: str = Field(default="kith", description="The service's own database.")
    auth_database: str = Field(default="kith_auth", description="Where tenants and hashed API keys live.")
    tls: bool = Field(default=False, description="Connect to MongoDB over TLS.")
    tls_ca_file: str | None = Field(default=None, description="CA bundle for MongoDB TLS.")
    server_selection_timeout_ms: int = Field(default=3_000, description="How long to wait for a reachable server.")


class ServerSettings(BaseSettings):
    """What every Kith HTTP process is told: its environment, where it listens, how much it logs."""

    # Every number is finite: "inf" or "nan" in the environment is refused at start, never a silent limit.
    model_config = SettingsConfigDict(extra="ignore", allow_inf_nan=False)

    environment: Literal["development", "test", "production"] = Field(
        default="development", description="production refuses placeholder secrets."
    )
    host: str = Field(default="127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(default=8000, description="Port the HTTP server listens on.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Log level (JSON lines)."
    )


class ServiceSettings(ServerSettings):
    """Base of each service's settings."""

    model_config = SettingsConfigDict(env_nested_delimiter="__")

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    mongo: MongoSettings = Field(default_factory=MongoSettings)
    max_body_bytes: int = Field(
        default=5 * 1024 * 1024,
        ge=1,
        description="Largest request body read, in bytes; a larger one is refused (413) before authentication.",
    )
    rate_limit_per_second: float = Field(default=200.0, description="Requests per second per API key (0: off).")
    rate_limit_burst: int = Field(default=400, description="Requests a key may send at once above the rate.")
    erasure_secret: SecretStr = Field(
        default=SecretStr(PLACEHOLDER_ERASURE_SECRET),
        description="Key of the one-way hash that erased members' tombstones are kept under (a secret; "
        "changing it forgets every tombstone).",
    )

    @field_validator("mongo", mode="before")
    @classmethod
    def _own_database(cls, value: Any) -> Any:
        """Keep the service's own database when the MongoDB settings given do not name one.

        ``INGEST_MONGO__URI`` alone builds the nested model from the environment, without the service's
        default, and so does ``MongoSettings(uri=...)`` passed in code: without this, every service given
        only a URI would share the base default database.
        """
        named = isinstance(value, Mapping) and "database" in value
        named = named or (isinstance(value, MongoSettings) and "database" in value.model_fields_set)
        if named or not isinstance(value, Mapping | MongoSettings):
            return value
        factory = cls.model_fields["mongo"].default_factory
        if factory is None:
            return value
        database = factory().database  # type: ignore[call-arg]
        if isinstance(value, MongoSettings):
            return value.model_copy(update={"database": database})
        return {**value, "database": database}

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Self:
        if self.environment != "production":
            return self
        password = self.kafka.sasl_password
        if self.kafka.sasl_mechanism and (password is None or password.get_secret_value() in PLACEHOLDER_SECRETS):
            raise ValueError("kafka.sasl_password is a placeholder; set a real secret in production")
        if "@" in self.mongo.uri.get_secret_value():
            secret = self.mongo.uri.get_secret_value().split("@", 1)[0].rsplit(":", 1)[-1]
            if secret in PLACEHOLDER_SECRETS:
                raise ValueError("mongo.uri carries a placeholder password; set a real secret in production")
        if self.erasure_secret.get_secret_value() in PLACEHOLDER_SECRETS | {PLACEHOLDER_ERASURE_SECRET}:
            raise ValueError("erasure_secret is a placeholder; set a real secret in production")
        return self
