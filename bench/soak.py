"""Soak: live activity through the whole embedded stack while each service is killed and the database restarted.

``python -m bench soak [--rate 100] [--warmup 20] [--between 25] [--settle 20] [--within 300]``

Starts the embedded broker and database and the three services as processes (as ``make run`` does,
on free ports), posts the generator's live activity through ingest's HTTP batch API at a steady
``--rate`` (a batch every 100 ms, retried while ingest is down, so every event is eventually
answered), and meanwhile, every ``--between`` seconds after ``--warmup``: kills ingest, scoring and
recommend in turn with SIGKILL and starts each again, then restarts the database once. Each
service's API is polled every 200 ms all along (ingest ``/readyz``, scoring a community's metrics,
recommend a member's suggestions); the longest stretch without a 200 is the longest outage. Then
the load stops and the run checks:

- every event ingest accepted is on the activity topic (by source and id), none lost;
- every service is ready and every consumer at lag 0 again (none stuck);
- scoring's figures equal a rebuild from the activity topic (so each accepted event counted once);
- recommend's state, in its last checkpoint after a graceful stop, equals a replay of the topics.

The baseline is the same stack measured in the same run for ``--warmup`` seconds before the first
kill: its answer latencies and lag then. Prints a Markdown table and writes ``bench/results/soak.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import itertools
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from bench.measure import percentile, run_facts, write_figures
from bench.pipeline_stack import Stack
from bench.soak_checks import lag_zero_within, ready_within, recommend_matches_a_replay, topic_identities
from kith_devkit.generator import GeneratorConfig, community_id, live, member_id
from kith_devkit.servers import process_alive, start_database
from kith_scoring.rebuild import rebuild
from kith_scoring.settings import ScoringSettings
from kith_shared.settings import MongoSettings

RESULTS = Path(__file__).resolve().parent / "results" / "soak.json"
SERVICES = ("ingest", "scoring", "recommend")
#: A single recommend replica: a killed one's checkpoint lease runs out after 6 s rather than 30, so the
#: replica started after it writes checkpoints again soon (and its last one at the graceful stop).
STACK_ENV = {"RECOMMEND_CHECKPOINT_LEASE_SECONDS": "6"}
#: The generator world the load comes from (a member and a community of it are polled).
WORLD = GeneratorConfig(tenant="demo", communities=60, members=600, days=7)


@dataclass
class Outages:
    """Polls of one service's API: how many, how many failed, and the longest stretch without an answer."""

    polls: int = 0
    failed: int = 0
    longest_s: float = 0.0
    latencies: list[float] = field(default_factory=list)
    _down_since: float | None = None

    def record(self, ok: bool, at: float, latency: float) -> None:
        """Record one poll's outcome."""
        self.polls += 1
        if ok:
            self.latencies.append(latency)
            if self._down_since is not None:
                self.longest_s = max(self.longest_s, at - self._down_since)
                self._down_since = None
            return
        self.failed += 1
        if self._down_since is None:
            self._down_since = at

    def close(self, at: float) -> None:
        """End the polling (a stretch still open counts to now)."""
        if self._down_since is not None:
            self.longest_s = max(self.longest_s, at - self._down_since)
            self._down_since = None


@dataclass
class Load:
    """What the load sent and what ingest answered."""

    sent: int = 0
    accepted: set[tuple[str, str]] = field(default_factory=set)
    duplicate: int = 0
    rejected: int = 0
    retries: int = 0


def live_events(start: datetime) -> Iterator[dict[str, Any]]:
    """Yield raw live events of the soak's world, from ``start``, each run its own source (no duplicates)."""
    config = dataclasses.replace(WORLD, source=f"app://bench-soak/{uuid.uuid4().hex[:8]}")
    for event in live(config, start=start):
        yield event.model_dump(mode="json", exclude_none=True)


class Soak:
    """The stack, the load, the pollers and the chaos of one run."""

    def __init__(self, stack: Stack, key: str, args: argparse.Namespace) -> None:
        self.stack = stack
        self.key = key
        self.args = args
        self.load = Load()
        self.outages = {name: Outages() for name in SERVICES}
        self.kills: list[dict[str, Any]] = []
        self.started = time.monotonic()
        self.stopping = asyncio.Event()

    # --- load ---------------------------------------------------------------------------------------

    async def post(self, client: httpx.AsyncClient, batch: list[dict[str, Any]]) -> None:
        """Post a batch until ingest answers it (it may be down, restarting, or its database away)."""
        headers = {"Authorization": f"Bearer {self.key}"}
        while True:
            try:
                reply = await client.post(f"{self.stack.url('ingest')}/v1/events:batch", json=batch, headers=headers)
            except httpx.HTTPError:
                reply = None
            if reply is not None and reply.status_code in (200, 202):
                break
            self.load.retries += 1
            await asyncio.sleep(0.5)
        for item, result in zip(batch, reply.json()["results"], strict=True):
            if result["status"] == "accepted":
                self.load.accepted.add((item["source"], item["id"]))
            elif result["status"] == "duplicate":
                self.load.duplicate += 1  # accepted before: an answer lost with a killed ingest
                self.load.accepted.add((item["source"], item["id"]))
            else:
                self.load.rejected += 1
        self.load.sent += len(batch)

    async def drive(self) -> None:
        """Post ``--rate`` events/s, a batch every 100 ms, until stopped; every batch is answered in the end."""
        events = live_events(datetime.now(UTC) - timedelta(hours=1))
        first = [next(events)]  # the generator plans its world first: not on the clock
        events = itertools.chain(first, events)
        per_tick = max(1, round(self.args.rate / 10))
        tasks: list[asyncio.Task[None]] = []
        async with httpx.AsyncClient(timeout=30) as client:
            tick = 0
            started = time.monotonic()
            while not self.stopping.is_set():
                now = datetime.now(UTC).isoformat()
                batch = [{**next(events), "time": now} for _ in range(per_tick)]
                tasks.append(asyncio.create_task(self.post(client, batch)))
                tick += 1
                await asyncio.sleep(max(0.0, started + tick * 0.1 - time.monotonic()))
            await asyncio.gather(*tasks)

    # --- polling ------------------------------------------------------------------------------------

    async def poll(self) -> None:
        """Ask each service for an answer every 200 ms until stopped."""
        community, member = community_id(0), member_id(0)
        paths = {
            "ingest": "/readyz",
            "scoring": f"/v1/communities/{community}/metrics?window=7d",
            "recommend": f"/v1/members/{member}/suggestions?limit=5",
        }
        headers = {"Authorization": f"Bearer {self.key}"}
        async with httpx.AsyncClient(timeout=2.0, headers=headers) as client:
            while not self.stopping.is_set():
                for name, path in paths.items():
                    asked = time.monotonic()
                    try:
                        ok = (await client.get(self.stack.url(name) + path)).status_code in (200, 404)
                    except httpx.HTTPError:
                        ok = False
                    answered = time.monotonic()
                    self.outages[name].record(ok, answered - self.started, answered - asked)
                await asyncio.sleep(0.2)
        for outage in self.outages.values():
            outage.close(time.monotonic() - self.started)

    # --- chaos --------------------------------------------------------------------------------------

    def restart_service(self, name: str) -> None:
        """Kill a service with SIGKILL and start it again on the same port."""
        pid = self.stack.processes[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)  # our child: reaped, so its port is free again
        while process_alive(pid):
            time.sleep(0.05)
        self.stack.spawn(name, self.stack.ports[name])

    def restart_database(self) -> None:
        """Stop the database (SIGTERM) and start it again on the same port and data directory."""
        database = next(s for s in self.stack.servers if s.name == "database")
        database.stop()
        workdir = self.stack.workdir
        again = start_database(database.port, workdir / "db", workdir / "db.log")
        self.stack.servers[self.stack.servers.index(database)] = again

    async def chaos(self) -> None:
        """After the warm-up, kill each service in turn, then restart the database, ``--between`` s apart."""
        await asyncio.sleep(self.args.warmup)
        for target in (*SERVICES, "database"):
            at = time.monotonic() - self.started
            if target == "database":
                await asyncio.to_thread(self.restart_database)
            else:
                await asyncio.to_thread(self.restart_service, target)
            self.kills.append({"target": target, "at_s": round(at, 1)})
            await asyncio.sleep(self.args.between)
        await asyncio.sleep(self.args.settle)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run one soak: load, chaos, then the checks."""
    workdir = Path(tempfile.mkdtemp(prefix="kith-bench-soak-"))
    result: dict[str, Any] = {**run_facts("soak"), "rate_asked": args.rate}
    try:
        async with Stack(workdir, services=SERVICES, env=STACK_ENV) as stack:
            key = await stack.key("soak")
            soak = Soak(stack, key, args)
            driving = asyncio.create_task(soak.drive())
            polling = asyncio.create_task(soak.poll())
            await soak.chaos()
            soak.stopping.set()
            await driving
            await polling
            elapsed = time.monotonic() - soak.started
            ready = await ready_within(stack, SERVICES, args.within)
            lags = await lag_zero_within(stack, args.within)
            on_topic, records = await topic_identities(stack.kafka)
            scoring = ScoringSettings(kafka=stack.kafka, mongo=MongoSettings(uri=SecretStr(stack.mongo_uri)))
            compared = await rebuild(scoring, scratch_database="kith_scoring_soak_rebuild")
            recommend = await recommend_matches_a_replay(stack)
            warm = [lat for name in SERVICES for lat in soak.outages[name].latencies[: int(args.warmup / 0.2)]]
            result.update(
                {
                    "seconds": round(elapsed, 1),
                    "events_sent": soak.load.sent,
                    "events_accepted": len(soak.load.accepted),
                    "events_rejected": soak.load.rejected,
                    "answers_repeated_as_duplicates": soak.load.duplicate,
                    "batches_retried": soak.load.retries,
                    "rate_achieved": round(len(soak.load.accepted) / elapsed, 1),
                    "kills_survived": soak.kills,
                    "accepted_missing_from_topic": len(soak.load.accepted - on_topic),
                    "activity_records": records,
                    "ready_after_s": ready,
                    "lag_after": lags,
                    "scoring_equals_rebuild": compared.identical,
                    "scoring_differences": len(compared.differences),
                    "scoring_first_differences": [str(d) for d in compared.differences[:5]],
                    "scoring_events_rebuilt": compared.events,
                    "recommend_equals_replay": recommend,
                    "baseline_answer_p50_ms": round(percentile(warm, 0.5) * 1000, 1) if warm else None,
                    "outages": {
                        name: {
                            "polls": o.polls,
                            "failed": o.failed,
                            "longest_unavailable_s": round(o.longest_s, 1),
                            "answer_p50_ms": round(percentile(o.latencies, 0.5) * 1000, 1) if o.latencies else None,
                        }
                        for name, o in soak.outages.items()
                    },
                }
            )
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return result


def passed(result: dict[str, Any]) -> bool:
    """Tell whether the run kept every guarantee it checks."""
    return (
        result["accepted_missing_from_topic"] == 0
        and all(v is not None for v in result["ready_after_s"].values())
        and all(v == 0 for v in result["lag_after"].values())
        and result["scoring_equals_rebuild"]
        and result["recommend_equals_replay"]["equal"]
        and len(result["kills_survived"]) == len(SERVICES) + 1
    )


def markdown(result: dict[str, Any]) -> str:
    """Render the figures as Markdown."""
    kills = ", ".join(f"{k['target']} at {k['at_s']} s" for k in result["kills_survived"])
    lines = [
        f"Soak ({result['store']}; {result['broker']}; {result['cores']} cores; {result['seconds']} s)",
        "",
        "| figure | value |",
        "|---|---|",
        f"| events accepted by ingest (asked {result['rate_asked']}/s) | {result['events_accepted']} "
        f"({result['rate_achieved']}/s) |",
        f"| kills survived | {len(result['kills_survived'])} ({kills}) |",
        f"| accepted events missing from the activity topic | {result['accepted_missing_from_topic']} |",
        f"| scoring's figures equal a rebuild from the topic | {result['scoring_equals_rebuild']} |",
        f"| recommend's checkpoint equals a replay of the topics | {result['recommend_equals_replay']['equal']} |",
        f"| consumers' lag after the run | {result['lag_after']} |",
        f"| answer p50 before the first kill (baseline) | {result['baseline_answer_p50_ms']} ms |",
    ]
    for name, outage in result["outages"].items():
        lines.append(
            f"| {name}: longest time without an answer / p50 answer | {outage['longest_unavailable_s']} s / "
            f"{outage['answer_p50_ms']} ms ({outage['failed']} of {outage['polls']} polls failed) |"
        )
    return "\n".join(lines)


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse the soak's options."""
    parser = argparse.ArgumentParser(prog="python -m bench soak", description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=100.0, help="Events per second posted to ingest.")
    parser.add_argument("--warmup", type=float, default=20.0, help="Seconds of load before the first kill.")
    parser.add_argument("--between", type=float, default=25.0, help="Seconds between kills.")
    parser.add_argument("--settle", type=float, default=10.0, help="Seconds of load after the last restart.")
    parser.add_argument("--within", type=float, default=300.0, help="Longest wait for readiness and lag 0.")
    parser.add_argument("--keep", action="store_true", help="Keep the working directory (logs).")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    """Run the soak, print its figures, write them to bench/results/soak.json."""
    args = parse(argv)
    result = asyncio.run(run(args))
    write_figures(RESULTS, result)
    sys.stdout.write(markdown(result) + "\n")
    return 0 if passed(result) else 1
