"""Pipeline: a backlog, a steady load and a real-data import through the whole embedded stack.

``python -m bench pipeline [--backlog 150000] [--rate 500] [--duration 300] [--data ../shared/data]
[--phases backlog,steady,import] [--import-limit N]``

Starts the embedded broker and database and the three services as processes (as ``make run`` does,
on free ports), and measures, each figure beside a baseline measured in the same run (a read-only
consumer that reads and decodes the same records and writes nothing: the ceiling):

1. **backlog**: ``--backlog`` mixed generator events already on the activity topic (normalized and
   published directly, as ingest would); scoring and recommend start on it; the time until both are
   at lag 0, and the lag over time;
2. **steady**: ``--rate`` events/s of mixed activity through ingest's HTTP batch API for
   ``--duration`` seconds; freshness, from ingest's 202 to the change visible in scoring's metrics
   API (a new member is known) and in recommend's suggestions (the member is known), p50 and p99,
   and the lag over time;
3. **import**: the YouTube memberships and friendships of ``--data``/``youtube-groups`` posted through
   ingest's batch API into a fresh stack; the same figures.

Recommend is measured as it is on the branch that runs this: its lag comes from its consumer group's
committed offsets when it has one, else from ``kith_consumer_lag`` on its ``/metrics``.

Prints a Markdown table and writes ``bench/results/pipeline.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.measure import finish, parser_for, percentile, run_facts
from bench.pipeline_load import Probes, ceiling, live_events, post_batches, youtube_events
from bench.pipeline_stack import CaughtUp, Stack, wait_caught_up
from bench.scoring import realistic_stream
from kith_devkit.testing.kafka import publish

RESULTS = Path(__file__).resolve().parent / "results" / "pipeline.json"
#: The services the steady and import phases run, and the consumers whose lag is measured.
SERVICES = ("ingest", "scoring", "recommend")
CONSUMERS = ("scoring", "recommend")


def _freshness(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"probes": 0}
    return {"probes": len(samples), "p50_s": percentile(samples, 0.5), "p99_s": percentile(samples, 0.99),
            "max_s": max(samples)}  # fmt: skip


async def backlog_phase(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Publish the backlog, measure the read-only ceiling on it, then time scoring and recommend to lag 0."""
    events = realistic_stream(args.backlog)
    async with Stack(workdir / "backlog", services=()) as stack:
        await publish(stack.kafka, events, chunk=5_000)
        read_only = await ceiling(stack.kafka, len(events))
        started = time.monotonic()
        await stack.start_services(CONSUMERS)
        done = await wait_caught_up(stack, CONSUMERS, started, within=args.within)
    return {
        "events": len(events),
        "read_only_ceiling": read_only,
        "to_lag_zero_s": done.seconds,
        "events_per_s_through_both": _rate(len(events), done.seconds["both"]),
        "lag_over_time": done.samples,
        "peak_memory_mb": _peak_memory(done.samples),
    }


@dataclass
class Driven:
    """What one load through ingest measured: the posts' tally, its seconds, the probes and the lag samples."""

    sent: dict[str, int]
    seconds: float
    probes: Probes
    samples: list[dict[str, Any]]
    done: CaughtUp | None


async def _drive(
    stack: Stack, args: argparse.Namespace, events: Iterator[dict[str, Any]], rate: float | None, *, wait: bool
) -> Driven:
    """Post ``events`` through ingest (at ``rate`` for ``--duration`` s, or all as fast as it goes) with freshness
    probes and lag samples meanwhile; with ``wait``, also wait for both consumers to reach lag 0 before sampling stops.
    """
    key = await stack.key()
    probes = Probes(stack, key)
    await probes.prepare()
    sampling = asyncio.create_task(stack.sample_lags(CONSUMERS, every=args.sample_every))
    started = time.monotonic()
    done = None
    try:
        duration = None if rate is None else args.duration
        load = asyncio.create_task(post_batches(stack.ingest_url, key, events, rate, duration, size=1_000))
        await probes.run_until(load, every=args.probe_every)
        sent = await load
        seconds = time.monotonic() - started
        if wait:
            done = await wait_caught_up(stack, CONSUMERS, started, within=args.within)
    finally:
        sampling.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sampling
    return Driven(sent, seconds, probes, stack.samples, done)


async def steady_phase(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Drive ``--rate`` events/s through ingest's HTTP API with probes of freshness, sampling the lag."""
    async with Stack(workdir / "steady", services=SERVICES) as stack:
        driven = await _drive(stack, args, live_events(), args.rate, wait=False)
        after = await wait_caught_up(stack, CONSUMERS, time.monotonic(), within=args.within)
        read_only = await ceiling(stack.kafka, None)
    samples = driven.samples
    return {
        "rate_asked": args.rate,
        "duration_s": args.duration,
        "sent": driven.sent,
        "rate_achieved": driven.sent["accepted"] / driven.seconds,
        **_freshness_of(driven.probes),
        "lag_over_time": samples,
        "peak_memory_mb": _peak_memory(samples),
        "lag_max": {name: _highest(samples, name) for name in CONSUMERS},
        "to_lag_zero_after_load_s": after.seconds,
        "read_only_ceiling": read_only,
    }


async def import_phase(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Post the YouTube memberships and friendships through ingest's batch API; time both consumers to lag 0."""
    events = youtube_events(args.data / "youtube-groups", args.import_limit)
    async with Stack(workdir / "import", services=SERVICES, tenant="youtube") as stack:
        driven = await _drive(stack, args, iter(events), None, wait=True)
        read_only = await ceiling(stack.kafka, None)
    assert driven.done is not None
    done, accepted = driven.done, driven.sent["accepted"]
    return {
        "events": len(events),
        "sent": driven.sent,
        "import_s": driven.seconds,
        "import_events_per_s": accepted / driven.seconds,
        "to_lag_zero_s": done.seconds,
        "events_per_s_through_both": _rate(accepted, done.seconds["both"]),
        **_freshness_of(driven.probes),
        "lag_over_time": driven.samples + done.samples,
        "peak_memory_mb": _peak_memory(driven.samples + done.samples),
        "read_only_ceiling": read_only,
    }


def _freshness_of(probes: Probes) -> dict[str, Any]:
    return {
        "freshness_scoring": _freshness(probes.scoring),
        "freshness_recommend": _freshness(probes.recommend),
        "probes_unseen": probes.unseen,
    }


def _rate(events: int, seconds: float | None) -> float | None:
    return None if seconds is None else events / max(seconds, 1e-9)


def _peak_memory(samples: list[dict[str, Any]]) -> dict[str, float]:
    peak: dict[str, float] = {}
    for sample in samples:
        for name, size in sample.get("rss_mb", {}).items():
            peak[name] = max(peak.get(name, 0.0), size)
    return peak


def _highest(samples: list[dict[str, Any]], name: str) -> int | None:
    values = [sample[name] for sample in samples if sample.get(name) is not None]
    return max(values) if values else None


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the chosen phases, each on its own fresh stack."""
    workdir = Path(tempfile.mkdtemp(prefix="kith-bench-pipeline-"))
    result: dict[str, Any] = {
        **run_facts("pipeline"),
        "load_average_at_start": os.getloadavg(),
        "workdir": str(workdir),
    }
    phases = {"backlog": backlog_phase, "steady": steady_phase, "import": import_phase}
    try:
        for name in args.phases:
            result[name] = await phases[name](args, workdir)
            result[name]["load_average_at_end"] = os.getloadavg()
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return result


def markdown(result: dict[str, Any]) -> str:
    """Render the figures as Markdown."""
    lines = [
        f"Pipeline benchmark ({result['store']}; {result['broker']}; {result['cores']} cores; load average "
        f"{result['load_average_at_start'][0]:.1f} at the start)",
        "",
        "| phase | measure | figure | baseline (read-only consumer) |",
        "|---|---|---|---|",
    ]
    backlog = result.get("backlog")
    if backlog:
        ceiling_rate = backlog["read_only_ceiling"]["events_per_s"]
        lag = backlog["to_lag_zero_s"]
        lines += [
            f"| backlog ({backlog['events']:,} events) | to lag 0: scoring / recommend / both | "
            f"{_s(lag['scoring'])} / {_s(lag['recommend'])} / **{_s(lag['both'])}** (target < 90 s) | "
            f"{backlog['events'] / ceiling_rate:.1f} s |",
            f"| | events/s through both | **{backlog['events_per_s_through_both'] or 0:,.0f}** (target >= 1,700) | "
            f"{ceiling_rate:,.0f} |",
            f"| | peak memory | {_memory(backlog['peak_memory_mb'])} | |",
        ]
    for name in ("steady", "import"):
        phase = result.get(name)
        if not phase:
            continue
        if name == "steady":
            label = f"steady ({phase['rate_asked']:g} events/s asked, {phase['rate_achieved']:.0f} sent, "
            label += f"{phase['duration_s']:g} s)"
        else:
            label = f"import ({phase['events']:,} events)"
        fs, fr = phase["freshness_scoring"], phase["freshness_recommend"]
        base = f"{phase['read_only_ceiling']['events_per_s']:,.0f} events/s"
        lines.append(f"| {label} | freshness p50 / p99: scoring | {_fresh(fs)} (target p99 < 2 s) | {base} |")
        lines.append(f"| | freshness p50 / p99: recommend | {_fresh(fr)} (target p99 < 2 s) | |")
        if name == "steady":
            peak = phase["lag_max"]
            lines.append(f"| | highest lag: scoring / recommend | {peak['scoring']} / {peak['recommend']} | |")
            lines.append(f"| | peak memory | {_memory(phase['peak_memory_mb'])} | |")
        else:
            lag = phase["to_lag_zero_s"]
            lines += [
                f"| | import through ingest | {phase['import_s']:.0f} s ({phase['import_events_per_s']:,.0f} "
                f"events/s) | |",
                f"| | to lag 0 from the first post: scoring / recommend / both | {_s(lag['scoring'])} / "
                f"{_s(lag['recommend'])} / **{_s(lag['both'])}** | |",
                f"| | peak memory | {_memory(phase['peak_memory_mb'])} | |",
            ]
    return "\n".join(lines)


def _memory(peak: dict[str, float]) -> str:
    return ", ".join(f"{name} {size:.0f} MB" for name, size in sorted(peak.items())) or "-"


def _s(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.0f} s"


def _fresh(figures: dict[str, float]) -> str:
    if not figures.get("probes"):
        return "no probe seen"
    return f"{figures['p50_s']:.2f} / **{figures['p99_s']:.2f} s** ({figures['probes']:.0f} probes)"


def main(argv: list[str]) -> int:
    """Run the pipeline benchmark, print the table and write the JSON figures."""
    parser = parser_for("pipeline", __doc__.splitlines()[0], RESULTS)
    parser.add_argument("--backlog", type=int, default=150_000, help="events already on the topic (default 150000)")
    parser.add_argument("--rate", type=float, default=500.0, help="steady events/s through ingest (default 500)")
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of steady load (default 300)")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), help="folder holding youtube-groups/")
    parser.add_argument("--import-limit", type=int, default=None, help="import only the first N events")
    parser.add_argument(
        "--phases",
        type=lambda text: [part for part in text.split(",") if part],
        default=["backlog", "steady", "import"],
        help="which phases to run, comma-separated (default backlog,steady,import)",
    )
    parser.add_argument("--probe-every", type=float, default=1.0, help="seconds between freshness probes")
    parser.add_argument("--sample-every", type=float, default=3.0, help="seconds between lag samples")
    parser.add_argument("--within", type=float, default=1_800.0, help="longest wait for lag 0, in seconds")
    parser.add_argument("--keep", action="store_true", help="keep the servers' logs and data (printed folder)")
    args = parser.parse_args(argv)
    unknown = set(args.phases) - {"backlog", "steady", "import"}
    if unknown:
        parser.error(f"unknown phases: {sorted(unknown)}")
    result = asyncio.run(run(args))
    finish(result, args.output, markdown(result))
    if args.keep:
        print(f"\nlogs and data kept in {result['workdir']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
