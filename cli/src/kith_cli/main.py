"""The ``kith`` command: run the local stack and operate it."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from kith_cli import admin, ask, keys, members
from kith_cli import lag as lag_module
from kith_cli.options import (
    LOCAL_HINT,
    Bootstrap,
    Embedded,
    IngestUrl,
    Key,
    Root,
    api_key,
    err,
    fail,
    kafka_settings,
    out,
)
from kith_ingest import cli as ingest_cli
from kith_recommend import cli as recommend_cli
from kith_scoring import cli as scoring_cli
from kith_shared.settings import KafkaSettings

if TYPE_CHECKING:
    from kith_cli.stack import StackState

app = typer.Typer(
    help="Kith: an event-driven backend for micro-communities. Run the local stack and operate it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(keys.app, name="keys")
# Each service's own operator commands (they read the service's settings from its environment).
app.add_typer(ingest_cli.app, name="deadletters")
app.add_typer(scoring_cli.app, name="scoring")
app.add_typer(recommend_cli.app, name="recommend")
app.add_typer(ask.app, name="ask")
app.add_typer(members.app, name="members")


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
    console_port: Annotated[int, typer.Option(envvar="KITH_CONSOLE_PORT")] = 8004,
    broker_port: Annotated[int, typer.Option(envvar="KITH_BROKER_PORT")] = 19092,
    database_port: Annotated[int, typer.Option(envvar="KITH_DATABASE_PORT")] = 27027,
) -> None:
    """Start broker, database, topics, the three services and the console, and leave them running."""
    stack = _local()
    ports = stack.Ports(ingest_port, scoring_port, recommend_port, console_port, broker_port, database_port)
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
    behind = [lag for lag in _lags(stack, state, root) if lag.service != "ingest"]
    waiting = [lag for lag in behind if lag.records]
    if waiting:
        counts = ", ".join(f"{lag.service} {lag.records:,} records behind" for lag in waiting)
        done = [lag.service for lag in behind if lag.records == 0]
        counts += f" ({' and '.join(done)} caught up)" if done else ""
        out.print(f"[bold]still catching up[/bold]: {counts}; the answers fill in as they do.")
        out.print("  `make status` shows the lag falling (with its change since the last look).")
    elif behind:
        out.print("[bold]caught up[/bold]: " + ", ".join(f"{lag.service} {lag.describe()}" for lag in behind))
    out.print(f"[bold]console[/bold]: http://127.0.0.1:{console_port}  (sign in with the development key)")


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
    lags = _lags(stack, state, root)
    if as_json:
        components = [
            {"component": c.name, "address": c.url, "pid": c.pid, "running": running, "readiness": readiness}
            for c, running, readiness in rows
        ]
        out.print_json(json.dumps({"components": components, "consumer_lag": lag_module.as_json(lags)}))
        return
    table = Table("component", "address", "pid", "state")
    for component, _running, readiness in rows:
        colour = "green" if readiness in ("ready", "accepting connections") else "red"
        table.add_row(component.name, component.url, str(component.pid), f"[{colour}]{readiness}[/]")
    out.print(table)
    if lags:
        lag_table = Table("consumer", "records waiting (change since the last look)")
        for lag in lags:
            lag_table.add_row(lag.service, lag.describe())
        out.print(lag_table)
    console = state.get("console")
    if console is not None:
        out.print(f"console: {console.url}  (sign in with the key in .local/dev-key)")
    if not all(running for _c, running, _r in rows):
        raise typer.Exit(1)


def _lags(stack: ModuleType, state: StackState, root: Path) -> list[lag_module.Lag]:
    """Return the consumers' lag with its change since the last look (kept in .local/lag.json)."""
    running = {c.name: c.url for c in state.components if c.name in lag_module.CONSUMERS}
    broker = state.get("broker")
    kafka = KafkaSettings(bootstrap_servers=broker.url, idempotence=False) if broker is not None else None
    try:
        found = asyncio.run(lag_module.service_lags(running, kafka))
    except Exception as exc:  # status reports any failure to read lag instead of crashing
        err.print(f"consumer lag unavailable: {exc}")
        return []
    return lag_module.with_change(found, stack.local_dir(root.resolve()) / "lag.json")


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
    secret = api_key(root, key) if via != "kafka" else ""

    def line(tally: Tally, current: float) -> str:
        return (f"sent {tally.sent}  accepted {tally.accepted}  duplicate {tally.duplicate}  "
                f"rejected {tally.rejected}  rate {current:.1f}/s")  # fmt: skip

    async def go() -> Tally:
        http = IngestClient(ingest_url, secret) if via in ("http", "both") else None
        raw = RawTopicSender(kafka_settings(bootstrap, embedded)) if via in ("kafka", "both") else None
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

    secret = api_key(root, key)
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
            client = IngestClient(ingest_url, secret)
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
