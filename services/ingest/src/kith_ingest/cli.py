"""Operator commands of the ingest service (mounted by the ``kith`` CLI as ``kith ingest``)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from kith_ingest.deadletters import read_dead_letters, replay_dead_letters
from kith_ingest.settings import IngestSettings

app = typer.Typer(help="Ingest operations: dead letters.", no_args_is_help=True)


@app.command("dead-letters")
def dead_letters(
    limit: Annotated[int, typer.Option(help="Show at most this many, the latest.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON dead letter per line.")] = False,
) -> None:
    """List the latest dead letters with their reasons and origin."""
    letters = asyncio.run(read_dead_letters(IngestSettings().kafka, limit))
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
        int | None, typer.Option(help="Leave letters replayed this often alone (default: settings).")
    ] = None,
) -> None:
    """Replay ingest's dead letters not replayed yet back onto the raw topic."""
    settings = IngestSettings()
    report = asyncio.run(
        replay_dead_letters(settings.kafka, max_replays=settings.max_replays if max_replays is None else max_replays)
    )
    typer.echo(
        f"replayed {report.replayed}; left alone: {report.exhausted} replayed too often, "
        f"{report.other_stage} of other stages"
    )
