"""What the kith commands share: the consoles, one-line errors, and the options several commands take."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from kith_shared.settings import KafkaSettings

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

Root = Annotated[Path, typer.Option(help="Project folder holding .local/", envvar="KITH_HOME")]
MongoUri = Annotated[
    str, typer.Option("--mongo-uri", help="Database holding tenants and keys", envvar="KITH_MONGO_URI")
]
DEFAULT_MONGO = "mongodb://127.0.0.1:27027"


def fail(message: str, hint: str, code: int = 1) -> typer.Exit:
    """Print one readable error line with what to do next; return the exit to raise."""
    err.print(f"[red]error:[/red] {escape(message)}." + (f" {escape(hint)}" if hint else ""))
    return typer.Exit(code)


IngestUrl = Annotated[str, typer.Option("--ingest-url", help="Ingest's address", envvar="KITH_INGEST_URL")]
ScoringUrl = Annotated[str, typer.Option("--scoring-url", help="Scoring's address", envvar="KITH_SCORING_URL")]
RecommendUrl = Annotated[str, typer.Option("--recommend-url", help="Recommend's address", envvar="KITH_RECOMMEND_URL")]
Bootstrap = Annotated[str, typer.Option("--bootstrap", help="Kafka bootstrap servers", envvar="KITH_BOOTSTRAP")]
Key = Annotated[
    str | None, typer.Option("--key", help="API key (default: the local development key)", envvar="KITH_API_KEY")
]
Embedded = Annotated[
    bool, typer.Option("--embedded/--real-kafka", help="The embedded broker has no idempotent producer")
]


def api_key(root: Path, key: str | None) -> str:
    """Return the key given, else the local development key; fail saying how to get one."""
    if key:
        return key
    key_file = root / ".local" / "dev-key"
    if key_file.exists():
        return key_file.read_text().strip()
    raise fail("no API key given and no local development key", "Pass --key or start the stack with `make run`.")


def call(
    method: str, url: str, key: str, *, params: dict[str, str | int] | None = None, body: object = None
) -> dict[str, Any]:
    """Call a service's API with ``key``; return the JSON answer, or fail with its message (exit 2: unreachable,
    exit 4: refused)."""
    import httpx

    try:
        answer = httpx.request(
            method, url, params=params, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=10.0
        )
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach {url}: {exc}", "Is the stack up? Try `make status`.", code=2) from None
    try:
        answer_body = answer.json()
    except ValueError:
        answer_body = None
    if not answer.is_success:
        error = answer_body.get("error") if isinstance(answer_body, dict) else None
        message = error.get("message", answer.text) if isinstance(error, dict) else answer.text
        raise fail(f"{answer.status_code}: {message}", "Check the id and the key's scopes.", code=4)
    return dict(answer_body) if isinstance(answer_body, dict) else {}


def kafka_settings(bootstrap: str, embedded: bool) -> KafkaSettings:
    """Return Kafka settings reaching ``bootstrap`` (without the idempotent producer on the embedded broker)."""
    return KafkaSettings(bootstrap_servers=bootstrap, idempotence=not embedded)


#: What a runtime install (without the local extra) says when a command needs the development kit.
LOCAL_HINT = "Install the development kit with it: pip install 'kith-cli[local]' (make install does)"
