"""The environment of a service run as a process of its own against a broker and a database."""

from __future__ import annotations

from collections.abc import Mapping

from kith_shared.settings import KafkaSettings


def service_environment(
    service: str,
    base: Mapping[str, str],
    *,
    port: int,
    kafka: KafkaSettings,
    mongo_uri: str,
    database: str | None = None,
    auth_database: str | None = None,
    **settings: str,
) -> dict[str, str]:
    """Return ``base`` with the variables that run ``service`` on ``port`` against ``kafka`` and ``mongo_uri``.

    Every variable is named under the service's prefix (``SCORING_PORT``). The broker's address,
    idempotence and topic prefix come from ``kafka``; the databases are set only when given, so that
    otherwise the service keeps its own. ``settings`` are more of its settings by name, set last
    (``log_level="INFO"``, ``detection__seed="1"``).
    """
    own = {
        "port": str(port),
        "kafka__bootstrap_servers": kafka.bootstrap_servers,
        "kafka__idempotence": str(kafka.idempotence).lower(),
        "kafka__topic_prefix": kafka.topic_prefix,
        "mongo__uri": mongo_uri,
    }
    if database is not None:
        own["mongo__database"] = database
    if auth_database is not None:
        own["mongo__auth_database"] = auth_database
    own.update(settings)
    env = dict(base)
    env.update({f"{service.upper()}_{name.upper()}": value for name, value in own.items()})
    return env
