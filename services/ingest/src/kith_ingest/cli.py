"""Operator commands of the ingest service: dead letters (mounted by the ``kith`` command as ``kith deadletters``).

Kafka settings come from ingest's own (``INGEST_KAFKA__*`` variables), ``--bootstrap`` aside.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from kith_ingest.deadletters import ReplayReport, read_dead_letters, redact_all, replay_dead_letters
from kith_ingest.erasure import ErasedMembers
from kith_ingest.settings import IngestSettings
from kith_shared.events import DeadLetter
from kith_shared.mongo import make_mongo_client
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


async def _erased(settings: IngestSettings) -> ErasedMembers:
    """Return ingest's tombstones, read from its database (letters naming an erased member are redacted)."""
    mongo = make_mongo_client(settings.mongo, app_name="kith-deadletters")
    try:
        erased = ErasedMembers(mongo[settings.mongo.database], settings.erasure_secret.get_secret_value())
        await erased.refresh()
    finally:
        await mongo.close()
    return erased


async def _list(settings: IngestSettings, kafka: KafkaSettings, limit: int) -> list[DeadLetter]:
    erased = await _erased(settings)
    return redact_all(await read_dead_letters(kafka, limit), erased.redacted)


@app.command("list")
def list_letters(
    limit: Annotated[int, typer.Option(help="Show at most this many, the latest.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON dead letter per line.")] = False,
    bootstrap: Bootstrap = None,
    embedded: Embedded = True,
) -> None:
    """List the latest dead letters (every stage) with their reasons and origin."""
    settings = IngestSettings()
    letters = asyncio.run(_list(settings, _kafka(settings, bootstrap, embedded), limit))
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

    async def run() -> ReplayReport:
        erased = await _erased(settings)
        kafka = _kafka(settings, bootstrap, embedded)
        return await replay_dead_letters(kafka, max_replays=limit, redact=erased.redacted)

    report = asyncio.run(run())
    typer.echo(
        f"replayed {report.replayed}; left alone: {report.exhausted} replayed too often, "
        f"{report.other_stage} of other stages, {report.redacted} redacted (they name an erased member)"
    )
