"""The demo tenant: a generated history loaded through ingest, then light live activity until stopped."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from kith_cli.activity import demo_config, load_history
from kith_cli.client import IngestClient, Tally
from kith_cli.options import out
from kith_cli.stack import Component, Ports, StackState, local_dir, save_state
from kith_devkit.generator import generate

LIVE_RATE = 3.0


def start_demo(root: Path, state: StackState, ports: Ports, say: Callable[[str], None]) -> None:
    """Load the demo history (idempotent) and start the live simulator in the background."""
    if state.dev_key is None:
        raise ValueError("the development key is created before the demo loads")
    config = demo_config()
    events = list(generate(config))
    say(
        f"demo      loading {config.communities} communities, {config.members} members, {config.days} days: "
        f"{len(events):,} events through ingest"
    )

    async def load(show: Callable[[Tally], None]) -> Tally:
        client = IngestClient(f"http://127.0.0.1:{ports.ingest}", state.dev_key or "")
        try:
            return await load_history(client, config, show, events)
        finally:
            await client.close()

    started = time.monotonic()
    if out.is_terminal:
        with Progress(
            TextColumn("          "), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
            TimeElapsedColumn(), console=out, transient=True,
        ) as progress:  # fmt: skip
            task = progress.add_task("events", total=len(events))

            def bar(tally: Tally) -> None:
                described = f"accepted {tally.accepted}, dup {tally.duplicate}"
                progress.update(task, completed=tally.sent, description=described)

            tally = asyncio.run(load(bar))
    else:
        step = max(1, len(events) // 10)
        shown = [0]

        def lines(tally: Tally) -> None:  # one line per tenth: readable in a log or a CI transcript
            if tally.sent - shown[0] >= step or tally.sent == len(events):
                shown[0] = tally.sent
                say(f"demo      {tally.sent:,} of {len(events):,} events sent ({time.monotonic() - started:.0f} s)")

        tally = asyncio.run(load(lines))
    say(
        f"demo      {tally.sent:,} events sent in {time.monotonic() - started:.0f} s: {tally.accepted:,} accepted, "
        f"{tally.duplicate:,} already there, {tally.rejected} rejected"
    )
    log = local_dir(root) / "logs" / "simulator.log"
    with log.open("ab") as sink:
        process = subprocess.Popen(  # noqa: S603 - our own module, fixed argv
            [sys.executable, "-m", "kith_cli", "simulate", "--rate", str(LIVE_RATE), "--duration", "0",
             "--ingest-url", f"http://127.0.0.1:{ports.ingest}", "--key", state.dev_key, "--quiet"],
            stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, cwd=root,
        )  # fmt: skip
    state.components.append(Component("simulator", process.pid, 0, str(log)))
    save_state(root, state)
    say(f"simulator live activity at {LIVE_RATE:g} events/s into ingest (log: {log.relative_to(root)})")
