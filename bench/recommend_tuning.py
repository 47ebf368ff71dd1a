"""Self-tuning's cost on a large tenant: time and memory of one evaluation, beside a model compile.

``python -m bench recommend_tuning [--communities 10000] [--members 100000] [--evaluated 1000]``
``python -m bench recommend_tuning --data ../shared/data [--evaluated 1000] [--seed 0]`` (a YouTube-shaped tenant)

Builds a tenant at scale (``kith_devkit.scale``), applies it to a ranking state, then runs what the
service's scheduled evaluation runs: the split in time with the model compiled before the cut-off
(this part holds the consumer's lock), and every candidate setting ranked for the sampled members
(this part holds no lock). The baseline, in the same run, is one ordinary compile of the whole
tenant. Memory is the peak of what Python allocated during each part (``tracemalloc``) and the
process's resident set before and after. Prints a Markdown table and writes
``bench/results/recommend_tuning.json``.

With ``--data``, what self-tuning would choose for a tenant shaped like the YouTube data instead
(``bench.recsys``: its core of memberships and its friendships, no text, no places, no activity).
That data has no join times, so each membership gets a seeded random time within 30 days, which
makes the tuner's cut in time a random hold-out of the latest tenth of joins. The tuner starts from
the shipped defaults (as a new tenant does) and from each of its own named variations in turn, so the
table shows whether it reaches the setting this data favours from anywhere. Writes
``bench/results/recommend_tuning_youtube.json``.
"""

from __future__ import annotations

import gc
import random
import sys
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.measure import finish, parser_for, run_facts
from bench.recsys.data import Dataset, core, load_dataset
from kith_devkit.scale import tenant_at_scale
from kith_recommend.domain.changes import changes_for
from kith_recommend.domain.compiled import compile_model
from kith_recommend.domain.model import TenantState
from kith_recommend.domain.params import RankingParams
from kith_recommend.domain.tuning import VARIATIONS, Trial, TuningParams, candidates, decide, evaluate, prepare
from kith_shared.events import SCHEMA_VERSION, Event
from kith_shared.events import data as d
from kith_shared.events import types as t

RESULTS = Path(__file__).resolve().parent / "results" / "recommend_tuning.json"
RESULTS_YOUTUBE = RESULTS.with_name("recommend_tuning_youtube.json")
#: The YouTube-shaped tenant's joins spread over this many days from this start (the data has no times).
SPREAD_DAYS = 30
SPREAD_START = datetime(2007, 1, 1, tzinfo=UTC)


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


def youtube_shaped(dataset: Dataset, seed: int, tenant: str = "youtube") -> Iterator[Event]:
    """Yield a data set's memberships as joins at seeded random times, and its friendships as follows."""
    rng = random.Random(seed)
    common: dict[str, Any] = {"source": "bench://tuning", "tenant": tenant, "schemaversion": SCHEMA_VERSION}
    n = 0
    for a, b in sorted(dataset.friends):
        for x, y in ((a, b), (b, a)):
            n += 1
            data = d.MemberFollowed(member_id=x, followed_member_id=y)
            yield t.MemberFollowedEvent(id=f"f{n}", time=SPREAD_START, receivedtime=SPREAD_START, **common, data=data)
    joins = [(user, item) for user in sorted(dataset.memberships) for item in sorted(dataset.memberships[user])]
    timed = sorted((SPREAD_START + timedelta(seconds=rng.uniform(0, SPREAD_DAYS * 86_400)), u, c) for u, c in joins)
    for at, user, item in timed:
        n += 1
        data_join = d.MemberJoined(member_id=user, community_id=item)
        yield t.MemberJoinedEvent(id=f"j{n}", time=at, receivedtime=at, **common, data=data_join)


def _key(settings: dict[str, float]) -> tuple[tuple[str, float], ...]:
    return tuple(sorted(settings.items()))


def run_youtube(root: Path, evaluated: int, seed: int) -> dict[str, Any]:
    """Run self-tuning's evaluation on the YouTube-shaped tenant, from the defaults and from each variation."""
    dataset, stats = core(load_dataset("youtube", root))
    members = set(dataset.memberships)
    friends = [(a, b) for a, b in dataset.friends if a in members and b in members and a != b]
    dataset = replace(dataset, friends=friends)
    state = TenantState("youtube")
    for event in youtube_shaped(dataset, seed):
        state.apply_all(changes_for(event))
    defaults = RankingParams()
    tuning = TuningParams(max_members=evaluated)
    prepared = prepare(state, defaults, tuning, seed)
    held_out = sum(len(h) for h in prepared.held_out)
    # Every setting the tuner can try from any start: the defaults and their named variations, ranked once.
    trials = evaluate(prepared, defaults, candidates(defaults, defaults))
    trials[0].name = "defaults"
    cache = {_key(trial.settings): trial for trial in trials}
    runs = []
    for name, delta in [("defaults", {}), *VARIATIONS]:
        current = defaults.model_copy(update=delta)
        if name != "defaults" and current == defaults:
            continue  # a variation the defaults already are
        tried = candidates(defaults, current)
        known = [cache[_key(c.settings)] for c in tried]
        ordered = [Trial(c.name, c.settings, k.hr, k.ndcg, k.gains) for c, k in zip(tried, known, strict=True)]
        decision = decide(ordered, len(prepared.profiles), held_out, tuning)
        chosen = name if decision.status == "kept" else decision.chosen
        settled = cache[_key(decision.chosen_settings)].ndcg
        runs.append({"start": name, "status": decision.status, "chosen": chosen, "why": decision.why,
                     "start_ndcg": ordered[0].ndcg, "chosen_ndcg": settled})  # fmt: skip
    return {
        "dataset": "youtube (shaped: seeded random join times over 30 days)",
        "core": {"members": stats.members, "communities": stats.communities, "memberships": stats.memberships},
        "friendships": len(dataset.friends),
        "seed": seed,
        "eligible_members": prepared.eligible_members,
        "evaluated_members": len(prepared.profiles),
        "held_out_joins": held_out,
        "configurations": [
            {"name": tr.name, "settings": tr.settings, "hr_at_10": tr.hr, "ndcg_at_10": tr.ndcg} for tr in trials
        ],
        "runs": runs,
    }


def markdown_youtube(r: dict[str, Any]) -> str:
    """Render what self-tuning chooses on the YouTube-shaped tenant."""
    c = r["core"]
    lines = [
        f"### Self-tuning on a YouTube-shaped tenant ({c['members']:,} members, {c['communities']:,} communities, "
        f"{c['memberships']:,} memberships, {r['friendships']:,} friendships; random join times, seed {r['seed']})",
        "",
        f"{r['evaluated_members']:,} of {r['eligible_members']:,} members with held-out joins evaluated "
        f"({r['held_out_joins']:,} joins).",
        "",
        "| setting | HR@10 | NDCG@10 |",
        "|---|---|---|",
    ]
    best = max(r["configurations"], key=lambda x: x["ndcg_at_10"])["name"]
    for x in r["configurations"]:
        name = "shipped defaults" if x["name"] == "defaults" else x["name"]
        ndcg = f"**{x['ndcg_at_10']:.4f}**" if x["name"] == best else f"{x['ndcg_at_10']:.4f}"
        lines.append(f"| {name} | {x['hr_at_10']:.4f} | {ndcg} |")
    lines += ["", "| tenant starts from | NDCG@10 | decision | settles on | NDCG@10 |", "|---|---|---|---|---|"]
    for run_ in r["runs"]:
        lines.append(
            f"| {run_['start']} | {run_['start_ndcg']:.4f} | {run_['status']} | {run_['chosen']} "
            f"| {run_['chosen_ndcg']:.4f} |"
        )
    return "\n".join(lines)


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
    parser = parser_for("recommend_tuning", __doc__.splitlines()[0], None)
    parser.add_argument("--communities", type=int, default=10_000)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--evaluated", type=int, default=TuningParams().max_members, help="members evaluated")
    parser.add_argument("--data", type=Path, default=None, help="tune a YouTube-shaped tenant from this data root")
    parser.add_argument("--seed", type=int, default=0, help="seed of the YouTube-shaped join times and sample")
    args = parser.parse_args(argv)
    if args.data is not None:
        try:
            result = run_youtube(args.data, args.evaluated, args.seed)
        except (FileNotFoundError, ValueError) as error:
            sys.stderr.write(f"recommend_tuning: {error}\n")
            return 2
        table, output = markdown_youtube(result), args.output or RESULTS_YOUTUBE
    else:
        result = run(args.communities, args.members, args.evaluated)
        table, output = markdown(result), args.output or RESULTS
    result.update(run_facts("recommend_tuning", argv, embedded=False))
    finish(result, output, table)
    return 0
