"""The ``kith`` command: run the local stack and operate it."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from pathlib import Path
from types import ModuleType
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kith_cli import admin
from kith_ingest import cli as ingest_cli
from kith_recommend import cli as recommend_cli
from kith_scoring import cli as scoring_cli
from kith_shared.auth import KeyInfo, Scope
from kith_shared.settings import KafkaSettings

app = typer.Typer(
    help="Kith: an event-driven backend for micro-communities. Run the local stack and operate it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
# Each service's own operator commands (they read the service's settings from its environment).
app.add_typer(ingest_cli.app, name="deadletters")
app.add_typer(scoring_cli.app, name="scoring")
app.add_typer(recommend_cli.app, name="recommend")

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


#: What a runtime install (without the local extra) says when a command needs the development kit.
LOCAL_HINT = "Install the development kit with it: pip install 'kith-cli[local]' (make install does)"


def _local() -> ModuleType:
    """Import the local stack's module, which needs the embedded servers of the development kit."""
    try:
        from kith_cli import stack
    except ImportError as exc:
        raise fail(f"the local stack needs the development kit ({exc})", LOCAL_HINT) from None
    return stack


@app.command()
def up(
    root: Root = Path(),
    demo: Annotated[bool, typer.Option(help="Load the demo tenant and keep live activity going")] = True,
    ingest_port: Annotated[int, typer.Option(envvar="KITH_INGEST_PORT")] = 8001,
    scoring_port: Annotated[int, typer.Option(envvar="KITH_SCORING_PORT")] = 8002,
    recommend_port: Annotated[int, typer.Option(envvar="KITH_RECOMMEND_PORT")] = 8003,
    broker_port: Annotated[int, typer.Option(envvar="KITH_BROKER_PORT")] = 19092,
    database_port: Annotated[int, typer.Option(envvar="KITH_DATABASE_PORT")] = 27027,
) -> None:
    """Start broker, database, topics and the three services, and leave them running."""
    stack = _local()
    ports = stack.Ports(ingest_port, scoring_port, recommend_port, broker_port, database_port)
    try:
        state = stack.start_stack(root.resolve(), ports, out.print)
    except stack.StackError as exc:
        raise fail(str(exc), "") from None
    key_file = root / ".local" / "dev-key"
    existing = key_file.read_text().strip() if key_file.exists() else None
    key = asyncio.run(admin.dev_key(f"mongodb://127.0.0.1:{database_port}", existing))
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    state.dev_key = key
    stack.save_state(root.resolve(), state)
    if demo:
        from kith_cli.demo import start_demo

        start_demo(root.resolve(), state, ports, out.print)
    out.print()
    out.print(f"[bold]development key[/bold] (tenant demo, admin): {key}")
    out.print("  also in .local/dev-key; stop everything with `make stop`, check with `make status`.")


@app.command()
def down(root: Root = Path()) -> None:
    """Stop everything that kith up started."""
    stopped = _local().stop_stack(root.resolve(), out.print)
    out.print("stack stopped" if stopped else "nothing was running")


@app.command()
def status(
    root: Root = Path(),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Show each component, its address, readiness and consumer lag per group."""
    stack = _local()
    state = stack.load_state(root.resolve())
    if state is None:
        raise fail("the local stack is not running", "Start it with `make run`.", code=3)
    rows = [(component, *stack.component_status(component)) for component in state.components]
    lags: list[admin.GroupLag] = []
    broker = state.get("broker")
    if broker is not None and rows[0][1]:
        try:
            lags = asyncio.run(
                admin.consumer_lag(
                    KafkaSettings(bootstrap_servers=broker.url, idempotence=False), admin.service_groups()
                )
            )
        except Exception as exc:  # status reports any failure to read lag instead of crashing
            err.print(f"consumer lag unavailable: {exc}")
    if as_json:
        components = [
            {"component": c.name, "address": c.url, "pid": c.pid, "running": running, "readiness": readiness}
            for c, running, readiness in rows
        ]
        out.print_json(json.dumps({"components": components, "consumer_lag": [lag.__dict__ for lag in lags]}))
        return
    table = Table("component", "address", "pid", "state")
    for component, _running, readiness in rows:
        colour = "green" if readiness in ("ready", "accepting connections") else "red"
        table.add_row(component.name, component.url, str(component.pid), f"[{colour}]{readiness}[/]")
    out.print(table)
    if lags:
        lag_table = Table("consumer group", "topics", "lag")
        for lag in lags:
            lag_table.add_row(lag.group, ", ".join(lag.topics), str(lag.lag))
        out.print(lag_table)
    if not all(running for _c, running, _r in rows):
        raise typer.Exit(1)


@keys_app.command("create")
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


@keys_app.command("list")
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


@keys_app.command("revoke")
def keys_revoke(key_id: str, mongo_uri: MongoUri = DEFAULT_MONGO) -> None:
    """Revoke an API key by its id."""
    if not asyncio.run(admin.revoke_key(mongo_uri, key_id)):
        raise fail(f"no key with id {key_id!r}", "List keys with `kith keys list`.", code=4)
    out.print(f"revoked {key_id}")


# ---- activity ---------------------------------------------------------------------------------------

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


def _key(root: Path, key: str | None) -> str:
    if key:
        return key
    key_file = root / ".local" / "dev-key"
    if key_file.exists():
        return key_file.read_text().strip()
    raise fail("no API key given and no local development key", "Pass --key or start the stack with `make run`.")


def _kafka(bootstrap: str, embedded: bool) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=bootstrap, idempotence=not embedded)


@app.command()
def simulate(
    rate: Annotated[float, typer.Option(help="Events per second")] = 20.0,
    duration: Annotated[float, typer.Option(help="Seconds to run; 0 runs until interrupted")] = 30.0,
    via: Annotated[str, typer.Option(help="http, kafka (the raw topic) or both")] = "http",
    seed: Annotated[int, typer.Option(help="Generator seed")] = 7,
    ingest_url: IngestUrl = "http://127.0.0.1:8001",
    bootstrap: Bootstrap = "127.0.0.1:19092",
    embedded: Embedded = True,
    key: Key = None,
    root: Root = Path(),
    quiet: Annotated[bool, typer.Option(help="No live display")] = False,
) -> None:
    """Drive realistic live activity into ingest over HTTP and/or the raw topic."""
    from rich.live import Live

    try:
        from kith_cli.activity import SimulationTarget, demo_config
        from kith_cli.activity import simulate as run_simulation
    except ImportError as exc:
        raise fail(f"simulated activity comes from the development kit's generator ({exc})", LOCAL_HINT) from None
    from kith_cli.client import IngestClient, RawTopicSender, Tally

    if via not in ("http", "kafka", "both"):
        raise fail(f"--via must be http, kafka or both, not {via!r}", "Pick one of them.", code=2)
    # Each run is its own source, so its events never collide with another run's (source, id).
    config = dataclasses.replace(demo_config(), seed=seed, source=f"app://kith-simulate/{uuid.uuid4().hex[:12]}")
    api_key = _key(root, key) if via != "kafka" else ""

    def line(tally: Tally, current: float) -> str:
        return (f"sent {tally.sent}  accepted {tally.accepted}  duplicate {tally.duplicate}  "
                f"rejected {tally.rejected}  rate {current:.1f}/s")  # fmt: skip

    async def go() -> Tally:
        http = IngestClient(ingest_url, api_key) if via in ("http", "both") else None
        raw = RawTopicSender(_kafka(bootstrap, embedded)) if via in ("kafka", "both") else None
        if raw is not None:
            await raw.start()
        try:
            if quiet:
                return await run_simulation(SimulationTarget(http, raw), config, rate, duration, lambda t, r: None)
            with Live(line(Tally(), 0.0), console=out, refresh_per_second=4, transient=True) as live:
                return await run_simulation(
                    SimulationTarget(http, raw), config, rate, duration, lambda t, r: live.update(line(t, r))
                )
        finally:
            if http is not None:
                await http.close()
            if raw is not None:
                await raw.stop()

    try:
        total = asyncio.run(go())
    except KeyboardInterrupt:
        out.print("stopped")
        return
    out.print(line(total, total.sent / duration if duration else 0.0))
    if total.rejected:
        raise typer.Exit(1)


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="A .jsonl (one event a line) or .csv file", exists=True, dir_okay=False)],
    tenant: Annotated[str, typer.Option(help="Tenant for lines that name none")] = "demo",
    rejects: Annotated[Path | None, typer.Option(help="Where rejected lines and reasons go")] = None,
    restart: Annotated[bool, typer.Option(help="Ignore the checkpoint and start from the first line")] = False,
    ingest_url: IngestUrl = "http://127.0.0.1:8001",
    key: Key = None,
    root: Root = Path(),
) -> None:
    """Backfill historical events through ingest; resumable, never duplicating."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from kith_cli.client import IngestClient, IngestRefused, Tally
    from kith_cli.importing import checkpoint_path, count_lines, import_file, read_lines

    api_key = _key(root, key)
    checkpoint = checkpoint_path(root / ".local", path)
    if restart:
        checkpoint.unlink(missing_ok=True)
    rejects_path = rejects or path.with_name(path.name + ".rejected.jsonl")
    total_lines = count_lines(path)
    with Progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                  TimeRemainingColumn(), console=out) as progress:  # fmt: skip
        task = progress.add_task("", total=total_lines)

        def show(line_number: int, tally: Tally) -> None:
            described = f"accepted {tally.accepted} dup {tally.duplicate} rejected {tally.rejected}"
            progress.update(task, completed=line_number, description=described)

        resume_after = int(checkpoint.read_text()) if checkpoint.exists() else 0
        checkpoint.parent.mkdir(parents=True, exist_ok=True)

        def save_checkpoint(number: int) -> None:
            checkpoint.write_text(str(number))

        async def go() -> Tally:
            client = IngestClient(ingest_url, api_key)
            try:
                with rejects_path.open("a", encoding="utf-8") as sink:

                    def reject(number: int, reason: str) -> None:
                        sink.write(json.dumps({"line": number, "reason": reason}) + "\n")
                        sink.flush()

                    return await import_file(
                        client, read_lines(path), tenant=tenant, resume_after=resume_after, reject=reject,
                        checkpoint=save_checkpoint, progress=show,
                    )  # fmt: skip
            finally:
                await client.close()

        try:
            total = asyncio.run(go())
        except IngestRefused as exc:
            raise fail(str(exc), "Fix the cause and run the same command again: it resumes where it stopped.") from None
    out.print(f"accepted {total.accepted}, duplicate {total.duplicate}, rejected {total.rejected}")
    if total.rejected:
        out.print(f"rejected lines and reasons: {rejects_path}")
        raise typer.Exit(1)


# ---- ask --------------------------------------------------------------------------------------------

ask_app = typer.Typer(help="Ask the services: suggestions for a member, metrics of a community.", no_args_is_help=True)
app.add_typer(ask_app, name="ask")


def _get(url: str, key: str, params: dict[str, str | int] | None = None) -> dict[str, object]:
    import httpx

    try:
        answer = httpx.get(url, params=params, headers={"Authorization": f"Bearer {key}"}, timeout=10.0)
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach {url}: {exc}", "Is the stack up? Try `make status`.", code=2) from None
    body = answer.json()
    if answer.status_code != 200:
        message = body.get("error", {}).get("message", answer.text) if isinstance(body, dict) else answer.text
        raise fail(f"{answer.status_code}: {message}", "Check the id and the key's scopes.", code=4)
    return dict(body)


@ask_app.command("suggestions")
def ask_suggestions(
    member: Annotated[str, typer.Argument(help="Member id")],
    limit: Annotated[int, typer.Option(help="How many")] = 10,
    recommend_url: RecommendUrl = "http://127.0.0.1:8003",
    key: Key = None,
    root: Root = Path(),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Show a member's suggested communities with the reasons."""
    body = _get(f"{recommend_url}/v1/members/{member}/suggestions", _key(root, key),
                {"limit": limit, "explain": "true"})  # fmt: skip
    if as_json:
        out.print_json(json.dumps(body))
        return
    table = Table("#", "community", "score", "why", title=f"suggestions for {member}")
    items = body.get("suggestions", [])
    for rank, item in enumerate(items if isinstance(items, list) else [], start=1):
        reasons = "; ".join(str(r.get("text", r)) if isinstance(r, dict) else str(r) for r in item.get("reasons", []))
        name = item.get("name") or item.get("community_id")
        table.add_row(str(rank), f"{name} ({item.get('community_id')})", f"{item.get('score', 0):.3f}", reasons)
    out.print(table)


@ask_app.command("metrics")
def ask_metrics(
    community: Annotated[str, typer.Argument(help="Community id")],
    window: Annotated[str, typer.Option(help="Window, e.g. 7d or 30d")] = "7d",
    scoring_url: ScoringUrl = "http://127.0.0.1:8002",
    key: Key = None,
    root: Root = Path(),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Show a community's engagement metrics."""
    body = _get(f"{scoring_url}/v1/communities/{community}/metrics", _key(root, key), {"window": window})
    if as_json:
        out.print_json(json.dumps(body, default=str))
        return
    table = Table("metric", "value", title=f"{community} over {window}")

    def add(prefix: str, value: object) -> None:
        if isinstance(value, dict):
            for name, inner in value.items():
                add(f"{prefix}{name}.", inner)
        elif isinstance(value, list):
            shown = ", ".join(
                str(v.get("member_id") or v.get("name") or v.get("topic") or v) if isinstance(v, dict) else str(v)
                for v in value[:5]
            )
            table.add_row(prefix.rstrip("."), shown)
        else:
            table.add_row(prefix.rstrip("."), f"{value:.3f}" if isinstance(value, float) else str(value))

    add("", body)
    out.print(table)


def run() -> None:
    """Run the command, turning unreachable servers into one readable line and exit code 2."""
    from aiokafka.errors import KafkaError
    from pymongo.errors import PyMongoError

    try:
        app()
    except PyMongoError as exc:
        fail(f"the database is unreachable ({type(exc).__name__})", "Is the stack up? Try `make status`.")
        raise SystemExit(2) from None
    except (KafkaError, OSError) as exc:
        fail(f"the broker is unreachable ({exc})", "Is the stack up? Try `make status`.")
        raise SystemExit(2) from None


__all__ = ["app", "run"]
