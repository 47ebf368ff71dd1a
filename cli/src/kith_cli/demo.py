"""The demo tenant: a generated history loaded through ingest, then light live activity until stopped."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from kith_cli.activity import demo_config, load_history
from kith_cli.client import IngestClient, Tally
from kith_cli.stack import Component, Ports, StackState, local_dir, save_state

LIVE_RATE = 3.0


def start_demo(root: Path, state: StackState, ports: Ports, say: Callable[[str], None]) -> None:
    """Load the demo history (idempotent) and start the live simulator in the background."""
    if state.dev_key is None:
        raise ValueError("the development key is created before the demo loads")
    config = demo_config()
    say(f"demo      loading {config.communities} communities, {config.members} members, {config.days} days")
    with Progress(
        TextColumn("          "), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
        TimeElapsedColumn(), transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task("events", total=None)

        def show(tally: Tally) -> None:
            progress.update(task, completed=tally.sent, description=f"accepted {tally.accepted}, dup {tally.duplicate}")

        async def load() -> Tally:
            client = IngestClient(f"http://127.0.0.1:{ports.ingest}", state.dev_key or "")
            try:
                return await load_history(client, config, show)
            finally:
                await client.close()

        tally = asyncio.run(load())
    say(
        f"demo      {tally.sent} events sent: {tally.accepted} accepted, {tally.duplicate} already there, "
        f"{tally.rejected} rejected"
    )
    log = local_dir(root) / "logs" / "simulator.log"
    with log.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603 - our own module, fixed argv
            [sys.executable, "-m", "kith_cli", "simulate", "--rate", str(LIVE_RATE), "--duration", "0",
             "--ingest-url", f"http://127.0.0.1:{ports.ingest}", "--key", state.dev_key, "--quiet"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, cwd=root,
        )  # fmt: skip
    state.components.append(Component("simulator", process.pid, 0, str(log)))
    save_state(root, state)
    say(f"simulator live activity at {LIVE_RATE:g} events/s into ingest (log: {log.relative_to(root)})")
