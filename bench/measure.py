"""What benchmarks measure with: percentiles, the CPU each process spends, servers in subprocesses, figures written."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from kith_devkit.servers import stop_process, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
#: The servers every figure here ran on, as the results name them.
STORE = "embedded SecantusDB (MongoDB wire protocol)"
BROKER = "embedded tansu (Kafka protocol, memory only)"


def percentile(values: list[float], q: float) -> float:
    """Return the ``q`` quantile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def process_cpu_seconds(pid: int) -> float:
    """Return the CPU time (user + system) a process used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds each process of a measurement used (this one included), per event."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.start: dict[str, float] = {}

    def __enter__(self) -> CpuMeter:
        self.start = self._now()
        return self

    def __exit__(self, *_: object) -> None:
        now = self._now()
        self.used = {name: now[name] - self.start[name] for name in now}

    def _now(self) -> dict[str, float]:
        return {"bench client": time.process_time()} | {n: process_cpu_seconds(p) for n, p in self.pids.items()}

    def per_event_us(self, events: int) -> dict[str, float]:
        """Return the CPU microseconds per event of each process, and their total."""
        shares = {name: seconds / events * 1e6 for name, seconds in self.used.items()}
        return shares | {"total": sum(shares.values())}


class Server:
    """A uvicorn server in a subprocess (its own process group), stopped at the end."""

    def __init__(self, argv: list[str], env: dict[str, str], port: int, log: Path) -> None:
        with log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
                argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    async def listening(self, within: float = 120.0) -> None:
        """Wait until the server's port takes connections (it may not be ready yet)."""
        await asyncio.to_thread(wait_for_port, "127.0.0.1", self.port, within, self.process)

    @classmethod
    def service(cls, name: str, env: dict[str, str], port: int, log: Path) -> Server:
        """Start a service of this repository (``python -m kith_<name>``) on ``port``."""
        return cls([sys.executable, "-m", f"kith_{name}"], env, port, log)

    @asynccontextmanager
    async def serving(
        self, key: str, concurrency: int, request_timeout: float, *, within: float = 120.0, stop_within: float = 10.0
    ) -> AsyncIterator[httpx.AsyncClient]:
        """Wait until the server listens; yield a client of it holding ``key``, with a connection for each of
        ``concurrency`` callers; stop the server on the way out.
        """
        try:
            await self.listening(within)
            async with httpx.AsyncClient(
                base_url=self.url,
                headers={"Authorization": f"Bearer {key}"},
                limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
                timeout=request_timeout,
            ) as client:
                yield client
        finally:
            self.stop(stop_within)

    async def ready(self, within: float = 60.0) -> None:
        """Wait until /readyz (or the port, for the minimal app) answers."""
        await self.listening(within)
        async with httpx.AsyncClient(base_url=self.url) as client:
            for _ in range(int(within / 0.2)):
                if (await client.get("/readyz")).status_code in (200, 404):
                    return
                await asyncio.sleep(0.2)
        raise TimeoutError(f"{self.url} was not ready within {within:g}s")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server and its children (SIGTERM, then SIGKILL after ``timeout`` seconds)."""
        stop_process(self.process.pid, timeout)


async def load_paths(client: httpx.AsyncClient, paths: list[str], concurrency: int) -> tuple[list[float], float, int]:
    """Run ``paths`` through ``concurrency`` clients; return per-request seconds, wall time and errors."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for path in paths:
        queue.put_nowait(path)
    timings: list[float] = []
    errors = 0

    async def worker() -> None:
        nonlocal errors
        while not queue.empty():
            target = queue.get_nowait()
            began = time.perf_counter()
            response = await client.get(target)
            timings.append(time.perf_counter() - began)
            if response.status_code != 200:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return timings, time.perf_counter() - started, errors


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]], align: str) -> list[str]:
    """Return the lines of a Markdown table: ``header``, its rule (``align``: ``l`` or ``r`` a column), ``rows``."""
    rule = {"l": "---", "r": "---:"}
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(rule[side] for side in align) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def parser_for(benchmark: str, description: str, output: Path | None) -> argparse.ArgumentParser:
    """Return the parser of ``python -m bench <benchmark>``, with its ``--output``: where the JSON figures go."""
    parser = argparse.ArgumentParser(prog=f"python -m bench {benchmark}", description=description)
    parser.add_argument("--output", type=Path, default=output, help="where to write the JSON figures")
    return parser


def run_facts(benchmark: str, argv: Sequence[str] | None = None, *, embedded: bool = True) -> dict[str, Any]:
    """Return what a result records of its run: when, the command that repeats it, the cores, and the servers
    it ran on when ``embedded``.

    ``argv`` are the benchmark's own arguments; without them, those of this process when it runs ``benchmark``.
    """
    if argv is None:
        argv = sys.argv[2:] if sys.argv[1:2] == [benchmark] else []
    facts: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(),
        "command": " ".join(["python -m bench", benchmark, *argv]),
    }
    if embedded:
        facts.update(store=STORE, broker=BROKER)
    return facts | {"cores": os.cpu_count()}


def write_figures(path: Path, figures: dict[str, Any]) -> None:
    """Write a benchmark's figures to ``path`` as JSON, making its folder if need be."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2, default=str) + "\n", encoding="utf-8")


def finish(result: dict[str, Any], output: Path, table: str, *, note: str = "") -> None:
    """Write the figures to ``output``; print their table, the run's total time (if it has one) and where they went."""
    write_figures(output, result)
    print(table)
    took = f"Total time {result['seconds']:.0f} s{note}. " if "seconds" in result else ""
    print(f"\n{took}Figures written to {output}.")
