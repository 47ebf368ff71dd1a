"""Operator commands of the ingest service: dead letters (mounted by the ``kith`` command as ``kith deadletters``).

Kafka settings come from ingest's own (``INGEST_KAFKA__*`` variables), ``--bootstrap`` aside.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from kith_ingest.deadletters import read_dead_letters, replay_dead_letters
from kith_ingest.settings import IngestSettings
from kith_shared.settings import KafkaSettings

app = typer.Typer(
    help="List dead letters with their reasons and origin; replay them after a fix.", no_args_is_help=True
)

Bootstrap = Annotated[
    str | None,
    typer.Option("--bootstrap", help="Kafka bootstrap servers (default: INGEST_KAFKA__BOOTSTRAP_SERVERS)"),
]
Embedded = Annotated[
    bool, typer.Option("--embedded/--real-kafka", help="The embedded broker has no idempotent producer")
]


def _kafka(settings: IngestSettings, bootstrap: str | None, embedded: bool) -> KafkaSettings:
    changes: dict[str, object] = {"idempotence": not embedded}
    if bootstrap:
        changes["bootstrap_servers"] = bootstrap
    return settings.kafka.model_copy(update=changes)


@app.command("list")
def list_letters(
    limit: Annotated[int, typer.Option(help="Show at most this many, the latest.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON dead letter per line.")] = False,
    bootstrap: Bootstrap = None,
    embedded: Embedded = True,
) -> None:
    """List the latest dead letters (every stage) with their reasons and origin."""
    letters = asyncio.run(read_dead_letters(_kafka(IngestSettings(), bootstrap, embedded), limit))
    if not letters:
        typer.echo("no dead letters")
        return
    for letter in letters:
        if as_json:
            typer.echo(letter.model_dump_json())
            continue
        where = f"{letter.source_topic}[{letter.partition}]@{letter.offset}"
        typer.echo(
            f"{letter.failed_at:%Y-%m-%d %H:%M:%S} {letter.stage:<9} {letter.error:<16} {where} "
            f"replays={letter.replay_count} tenant={letter.tenant or '-'}\n    {letter.reason}"
        )


@app.command("replay")
def replay(
    max_replays: Annotated[
        int | None, typer.Option(help="Leave letters replayed this often alone (default: INGEST_MAX_REPLAYS).")
    ] = None,
    bootstrap: Bootstrap = None,
    embedded: Embedded = True,
) -> None:
    """Replay ingest's dead letters not replayed yet back onto the raw topic (after fixing what made them fail)."""
    settings = IngestSettings()
    limit = settings.max_replays if max_replays is None else max_replays
    report = asyncio.run(replay_dead_letters(_kafka(settings, bootstrap, embedded), max_replays=limit))
    typer.echo(
        f"replayed {report.replayed}; left alone: {report.exhausted} replayed too often, "
        f"{report.other_stage} of other stages"
    )
