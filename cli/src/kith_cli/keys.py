"""kith keys: create, list and revoke API keys (stored hashed; a secret is shown once)."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.table import Table

from kith_cli import admin
from kith_cli.options import DEFAULT_MONGO, Bootstrap, Embedded, MongoUri, err, fail, kafka_settings, out
from kith_shared.auth import KeyInfo, Scope

DEFAULT_BOOTSTRAP = "127.0.0.1:19092"

app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


@app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="Tenant the key belongs to (created if new)")],
    scope: Annotated[list[Scope], typer.Option(help="Scope to grant; repeat for several")],
    name: Annotated[str, typer.Option(help="A label for the key")] = "",
    mongo_uri: MongoUri = DEFAULT_MONGO,
) -> None:
    """Create an API key; its secret is shown once."""
    created = asyncio.run(admin.create_key(mongo_uri, tenant, scope, name))
    out.print_json(created.model_dump_json())


def keys_table(keys: list[KeyInfo]) -> Table:
    """Return the keys as a table whose ids are never cut: the other columns fold instead."""
    table = Table("key id", "tenant", "scopes", "name", "created", "revoked")
    table.columns[0].no_wrap = True
    table.columns[0].min_width = max((len(info.key_id) for info in keys), default=6)
    for column in table.columns[1:]:
        column.overflow = "fold"
    for info in keys:
        table.add_row(info.key_id, info.tenant, ", ".join(info.scopes), info.name,
                      info.created_at.isoformat(timespec="seconds"),
                      info.revoked_at.isoformat(timespec="seconds") if info.revoked_at else "")  # fmt: skip
    return table


@app.command("list")
def keys_list(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys")] = None,
    mongo_uri: MongoUri = DEFAULT_MONGO,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """List API keys (never their secrets)."""
    keys = asyncio.run(admin.list_keys(mongo_uri, tenant))
    if as_json:
        out.print_json(json.dumps([info.model_dump(mode="json") for info in keys]))
        return
    out.print(keys_table(keys))


@app.command("revoke")
def keys_revoke(
    key_id: str,
    mongo_uri: MongoUri = DEFAULT_MONGO,
    bootstrap: Bootstrap = DEFAULT_BOOTSTRAP,
    embedded: Embedded = True,
) -> None:
    """Revoke an API key by its id, and tell every running service over Kafka (they forget it at once)."""
    revoked, broadcast = asyncio.run(admin.revoke_key(mongo_uri, key_id, kafka_settings(bootstrap, embedded)))
    if not revoked:
        raise fail(f"no key with id {key_id!r}", "List keys with `kith keys list`.", code=4)
    out.print(f"revoked {key_id}")
    if not broadcast:
        err.print(f"[yellow]warning:[/yellow] Kafka at {bootstrap} not reached: services drop the key within 30 s.")
