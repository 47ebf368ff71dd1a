"""Settings: one env prefix per service, nested Kafka and MongoDB values, no placeholder secrets in production."""

from __future__ import annotations

import pytest
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import SettingsConfigDict

from kith_shared.settings import KafkaSettings, MongoSettings, ServiceSettings
from kith_shared.topics import ACTIVITY

pytestmark = pytest.mark.unit


class DemoSettings(ServiceSettings):
    """A service's settings as each service declares them."""

    model_config = SettingsConfigDict(env_prefix="DEMO_", env_nested_delimiter="__", extra="ignore")

    port: int = 8009


def test_defaults_are_local_and_safe() -> None:
    settings = DemoSettings()
    assert settings.environment == "development"
    assert settings.host == "127.0.0.1"
    assert settings.port == 8009
    assert settings.kafka.bootstrap_servers == "127.0.0.1:19092"
    assert settings.mongo.uri.get_secret_value() == "mongodb://127.0.0.1:27027"


def test_prefixed_and_nested_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_PORT", "9100")
    monkeypatch.setenv("DEMO_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("DEMO_KAFKA__BOOTSTRAP_SERVERS", "kafka-1:9092,kafka-2:9092")
    monkeypatch.setenv("DEMO_KAFKA__IDEMPOTENCE", "false")
    monkeypatch.setenv("DEMO_KAFKA__TOPIC_PREFIX", "staging.")
    monkeypatch.setenv("DEMO_MONGO__URI", "mongodb://db.internal:27017/?replicaSet=rs0")
    monkeypatch.setenv("DEMO_MONGO__DATABASE", "kith_demo")
    settings = DemoSettings()
    assert settings.port == 9100
    assert settings.log_level == "DEBUG"
    assert settings.kafka.bootstrap_servers == "kafka-1:9092,kafka-2:9092"
    assert settings.kafka.idempotence is False
    assert settings.kafka.topic(ACTIVITY) == "staging.activity.v1"
    assert settings.kafka.group("scoring") == "staging.scoring"
    assert settings.mongo.uri.get_secret_value() == "mongodb://db.internal:27017/?replicaSet=rs0"
    assert settings.mongo.database == "kith_demo"


class OwnDatabaseSettings(DemoSettings):
    """A service with a database of its own, as ingest, scoring and recommend declare it."""

    mongo: MongoSettings = Field(default_factory=lambda: MongoSettings(database="kith_demo"))


def test_a_service_keeps_its_own_database_when_only_the_uri_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    assert OwnDatabaseSettings().mongo.database == "kith_demo"
    monkeypatch.setenv("DEMO_MONGO__URI", "mongodb://db.internal:27017")
    settings = OwnDatabaseSettings()
    assert settings.mongo.uri.get_secret_value() == "mongodb://db.internal:27017"
    assert settings.mongo.database == "kith_demo"
    assert settings.mongo.auth_database == "kith_auth"
    monkeypatch.setenv("DEMO_MONGO__DATABASE", "elsewhere")
    assert OwnDatabaseSettings().mongo.database == "elsewhere"
    # Passed in code: the same, unless the database is named.
    given = MongoSettings(uri=SecretStr("mongodb://db.internal:27017"))
    assert OwnDatabaseSettings(mongo=given).mongo.database == "kith_demo"
    assert OwnDatabaseSettings(mongo=given).mongo.uri.get_secret_value() == "mongodb://db.internal:27017"
    named = MongoSettings(uri=SecretStr("mongodb://db.internal:27017"), database="mine")
    assert OwnDatabaseSettings(mongo=named).mongo.database == "mine"


def test_variables_without_the_prefix_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "1234")
    monkeypatch.setenv("OTHER_PORT", "1235")
    monkeypatch.setenv("KAFKA__BOOTSTRAP_SERVERS", "elsewhere:9092")
    settings = DemoSettings()
    assert settings.port == 8009
    assert settings.kafka.bootstrap_servers == "127.0.0.1:19092"


def test_a_wrong_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_ENVIRONMENT", "staging")
    with pytest.raises(ValidationError, match="environment"):
        DemoSettings()


def test_secrets_stay_out_of_repr() -> None:
    settings = DemoSettings(
        mongo=MongoSettings(uri=SecretStr("mongodb://kith:s3cret-value@db:27017")),
        kafka=KafkaSettings(sasl_mechanism="SCRAM-SHA-512", sasl_username="kith", sasl_password=SecretStr("k4fka-pw")),
    )
    text = repr(settings) + str(settings.model_dump())
    assert "s3cret-value" not in text
    assert "k4fka-pw" not in text


@pytest.mark.parametrize(
    "uri",
    [
        "mongodb://kith:changeme@db:27017/?authSource=admin",
        "mongodb+srv://kith:password@cluster.example.net/",
        "mongodb://kith:@db:27017",
    ],
)
def test_production_refuses_a_placeholder_database_password(monkeypatch: pytest.MonkeyPatch, uri: str) -> None:
    monkeypatch.setenv("DEMO_ENVIRONMENT", "production")
    monkeypatch.setenv("DEMO_MONGO__URI", uri)
    with pytest.raises(ValidationError, match=r"mongo\.uri carries a placeholder password"):
        DemoSettings()


@pytest.mark.parametrize("password", [None, "secret", "changeme", ""])
def test_production_refuses_a_placeholder_kafka_password(monkeypatch: pytest.MonkeyPatch, password: str | None) -> None:
    monkeypatch.setenv("DEMO_ENVIRONMENT", "production")
    monkeypatch.setenv("DEMO_KAFKA__SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("DEMO_KAFKA__SASL_USERNAME", "kith")
    if password is not None:
        monkeypatch.setenv("DEMO_KAFKA__SASL_PASSWORD", password)
    with pytest.raises(ValidationError, match=r"kafka\.sasl_password is a placeholder"):
        DemoSettings()


def test_production_accepts_real_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_ENVIRONMENT", "production")
    monkeypatch.setenv("DEMO_MONGO__URI", "mongodb://kith:Zq8-w1lD-t4ngo@db:27017/?replicaSet=rs0")
    monkeypatch.setenv("DEMO_KAFKA__SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("DEMO_KAFKA__SASL_PASSWORD", "Vx7-h0nest-pw")
    monkeypatch.setenv("DEMO_ERASURE_SECRET", "r4nd0m-erasure-key")
    settings = DemoSettings()
    assert settings.environment == "production"


@pytest.mark.parametrize("secret", [None, "kith-erasure-development", "changeme", ""])
def test_production_refuses_a_placeholder_erasure_secret(monkeypatch: pytest.MonkeyPatch, secret: str | None) -> None:
    monkeypatch.setenv("DEMO_ENVIRONMENT", "production")
    if secret is not None:
        monkeypatch.setenv("DEMO_ERASURE_SECRET", secret)
    with pytest.raises(ValidationError, match=r"erasure_secret is a placeholder"):
        DemoSettings()


def test_development_tolerates_placeholders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_MONGO__URI", "mongodb://kith:changeme@127.0.0.1:27027")
    assert DemoSettings().environment == "development"
