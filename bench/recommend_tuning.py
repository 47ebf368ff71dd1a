"""Self-tuning's cost on a large tenant: time and memory of one evaluation, beside a model compile.

``python -m bench recommend_tuning [--communities 10000] [--members 100000] [--evaluated 1000]``

Builds a tenant at scale (``kith_devkit.scale``), applies it to a ranking state, then runs what the
service's scheduled evaluation runs: the split in time with the model compiled before the cut-off
(this part holds the consumer's lock), and every candidate setting ranked for the sampled members
(this part holds no lock). The baseline, in the same run, is one ordinary compile of the whole
tenant. Memory is the peak of what Python allocated during each part (``tracemalloc``) and the
process's resident set before and after. Prints a Markdown table and writes
``bench/results/recommend_tuning.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
import tracemalloc
from pathlib import Path
from typing import Any

from kith_devkit.scale import tenant_at_scale
from kith_recommend.domain.changes import changes_for
from kith_recommend.domain.model import TenantState, compile_model
from kith_recommend.domain.params import RankingParams
from kith_recommend.domain.tuning import TuningParams, candidates, decide, evaluate, prepare

RESULTS = Path(__file__).resolve().parent / "results" / "recommend_tuning.json"


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _measured(work: Any) -> tuple[Any, float, float]:
    """Run ``work()``; return its result, wall seconds and peak MB allocated meanwhile."""
    gc.collect()
    tracemalloc.start()
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, seconds, peak / 1e6


def run(communities: int, members: int, evaluated: int) -> dict[str, Any]:
    """Build the tenant and measure a compile, then one self-tuning evaluation."""
    state = TenantState("bench")
    events = 0
    started = time.perf_counter()
    for generated in tenant_at_scale(communities, members):
        state.apply_all(changes_for(generated))
        events += 1
    applied = time.perf_counter() - started
    rss_state = _rss_mb()
    params = RankingParams()
    tuning = TuningParams(max_members=evaluated)
    _, compile_seconds, compile_peak = _measured(lambda: compile_model(state))
    prepared, prepare_seconds, prepare_peak = _measured(lambda: prepare(state, params, tuning))
    tried = candidates(params, params)
    trials, evaluate_seconds, evaluate_peak = _measured(lambda: evaluate(prepared, params, tried))
    decision = decide(trials, len(prepared.profiles), sum(len(h) for h in prepared.held_out), tuning)
    return {
        "communities": communities,
        "members": members,
        "events": events,
        "apply_seconds": applied,
        "rss_with_state_mb": rss_state,
        "rss_after_mb": _rss_mb(),
        "compile_seconds": compile_seconds,
        "compile_peak_mb": compile_peak,
        "prepare_seconds": prepare_seconds,
        "prepare_peak_mb": prepare_peak,
        "evaluate_seconds": evaluate_seconds,
        "evaluate_peak_mb": evaluate_peak,
        "eligible_members": prepared.eligible_members,
        "evaluated_members": len(prepared.profiles),
        "held_out_joins": sum(len(h) for h in prepared.held_out),
        "configurations": [{"name": t.name, "hr_at_10": t.hr, "ndcg_at_10": t.ndcg} for t in trials],
        "decision": decision.status,
        "why": decision.why,
    }


def markdown(r: dict[str, Any]) -> str:
    """Render the figures as a Markdown table."""
    total = r["prepare_seconds"] + r["evaluate_seconds"]
    ratio = r["evaluate_seconds"] / r["compile_seconds"]
    lines = [
        f"### Self-tuning on {r['members']:,} members, {r['communities']:,} communities ({r['events']:,} events)",
        "",
        "| part | seconds | peak MB allocated | ratio to one compile |",
        "|---|---|---|---|",
        f"| one model compile (baseline) | {r['compile_seconds']:.2f} | {r['compile_peak_mb']:.0f} | 1.00 |",
        f"| split by time + compile before the cut-off (holds the consumer's lock) | {r['prepare_seconds']:.2f} "
        f"| {r['prepare_peak_mb']:.0f} | {r['prepare_seconds'] / r['compile_seconds']:.2f} |",
        f"| rank {r['evaluated_members']:,} members x {len(r['configurations'])} settings (no lock) "
        f"| {r['evaluate_seconds']:.2f} | {r['evaluate_peak_mb']:.0f} | {ratio:.2f} |",
        f"| **one evaluation** | **{total:.2f}** | | {total / r['compile_seconds']:.2f} |",
        "",
        f"Process resident set: {r['rss_with_state_mb']:.0f} MB with the tenant's state, {r['rss_after_mb']:.0f} MB "
        f"after. {r['eligible_members']:,} members had held-out joins ({r['held_out_joins']:,} joins evaluated). "
        f"Decision: {r['decision']} ({r['why']}).",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Run the benchmark, print its table and write its JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench recommend_tuning", description=__doc__.splitlines()[0])
    parser.add_argument("--communities", type=int, default=10_000)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--evaluated", type=int, default=TuningParams().max_members, help="members evaluated")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    result = run(args.communities, args.members, args.evaluated)
    print(markdown(result))
    result["command"] = "python -m bench recommend_tuning " + " ".join(argv)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0
