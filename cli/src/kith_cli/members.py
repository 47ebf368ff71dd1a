"""kith members: erase a member everywhere, or register an erased member id again, through ingest's API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import typer

from kith_cli.options import IngestUrl, Key, Root, api_key, call, out

app = typer.Typer(
    help="Erase a member's personal data in every service, or register an erased member id again.",
    no_args_is_help=True,
)

#: Where the erasures this command sends say they come from.
SOURCE = "kith://cli/members"

Member = Annotated[str, typer.Argument(help="Member id, as the tenant's events name it")]


@app.command("erase")
def erase(
    member: Member,
    yes: Annotated[bool, typer.Option("--yes", help="Erase without asking first")] = False,
    ingest_url: IngestUrl = "http://127.0.0.1:8001",
    key: Key = None,
    root: Root = Path(),
) -> None:
    """Erase a member: every service forgets them and ingest refuses their later events (key scope events:write).

    It sends a member.erased event through ingest, as an application would. Reinstating the id later
    does not bring anything back.
    """
    api = api_key(root, key)
    if not yes:
        typer.confirm(f"Erase {member} in every service? Nothing erased can be brought back", abort=True)
    event = {
        "id": f"erase-{uuid.uuid4().hex}",
        "source": SOURCE,
        "type": "member.erased",
        "time": datetime.now(UTC).isoformat(),
        "data": {"member_id": member},
    }
    answer = call("POST", f"{ingest_url}/v1/events", api, body=event)
    out.print(
        f"{member}: erasure {answer.get('status', 'sent')} by ingest (event {event['id']}); "
        "scoring and recommend apply it as they read it, and ingest refuses the member's new events."
    )


@app.command("reinstate")
def reinstate(
    member: Member,
    ingest_url: IngestUrl = "http://127.0.0.1:8001",
    key: Key = None,
    root: Root = Path(),
) -> None:
    """Register an erased member id again: its tombstone goes in every service (key scope admin).

    The id is then a new member: nothing erased comes back. Exit 4 when the id is not erased.
    """
    answer = call("POST", f"{ingest_url}/v1/admin/members/{quote(member, safe='')}/reinstate", api_key(root, key))
    out.print(f"{member}: reinstated (event {answer.get('event_id', '?')}); every service drops its tombstone.")
