"""Places, measured on the generator's world: local clubs suggested within the radius, and NDCG@10 with places off.

``python -m bench recommend_places [--communities 1000] [--members 10000] [--days 28] [--activity 0.5]
[--holdout 0.1] [--window test|validation] [--users N] [--variant 'NAME={"setting": value}']``

The generator's world has places: local clubs meet in one of twenty cities, hybrid ones meet there
and online, the rest are online; members live in a city (60% declare it, the others show it in the
meet-ups they attend). Its history is cut in time where the latest ``--holdout`` of all joins begin
(as self-tuning cuts it); everything before the cut-off is posted to a running ingest over HTTP
(``POST /v1/events:batch``, a key of ``events:write``) and processed by recommend's own consumer.
``--window validation`` does the same within the history before that cut-off (a second cut where
the latest ``--holdout`` of its joins begin), so that settings can be chosen there and reported on
the test window. Then each member who joined a public community after the cut-off, having joined one before it, asks
recommend's suggestions route for 10 communities, once with the shipped defaults and once with
places off (``use_places: false`` set as the tenant's own setting through ``PUT /v1/settings/ranking``),
and once per ``--variant``. Measured, per setting:

- NDCG@10 and HR@10 of the joins after the cut-off (binary relevance, as self-tuning scores them),
  and the paired difference against the defaults, member by member, with a 95% bootstrap interval;
- of the suggested ``local`` communities, the share within ``radius_km`` of where the member lives
  (the generator's truth: the centres of their city and the club's), over all evaluated members and
  over those whose place recommend knows (declared, or inferred from events and clubs): target 100%;
- members suggested at least one local club of another city.

Prints a Markdown table and writes ``bench/results/recommend_places.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.measure import finish, parser_for, run_facts
from bench.recommend_places_world import city_point, distance_km, split_in_time
from bench.recsys.metrics import bootstrap_interval
from bench.recsys.stack import EvalStack
from kith_cli.client import to_wire
from kith_devkit.generator import GeneratorConfig, World, build_world, generate
from kith_recommend.domain.params import RankingParams
from kith_recommend.domain.tuning import scores_of

RESULTS = Path(__file__).resolve().parent / "results" / "recommend_places.json"
TENANT = "places"
K = 10
#: The generator's settings that the command line chooses, and the result records.
WORLD = ("communities", "members", "days", "activity", "seed")
#: A fixed start in the past, so that every run posts the same history and ingest takes all of it.
START = datetime(2026, 9, 1, tzinfo=UTC)

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What one setting suggested to the evaluated members, and how it scores.

    ``local`` counts the local communities suggested (``suggested``), those within the radius of where the
    member lives (``within``, the generator's truth), and of those suggested to members recommend places
    (``placed``): within the radius of where they live (``placed_within``) and of where recommend places them
    (``placed_within_known``). It also counts the members shown a local club beyond the radius of where they
    live (``members_far``) and of where recommend places them (``members_far_known``). ``modes`` counts the
    suggestions by place mode.
    """

    name: str
    settings: dict[str, Any]
    hits: list[float] = field(default_factory=list)
    gains: list[float] = field(default_factory=list)
    local: Counter[str] = field(default_factory=Counter)
    modes: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def ndcg(self) -> float:
        """Return the mean NDCG@10."""
        return float(np.mean(self.gains)) if self.gains else 0.0

    @property
    def hr(self) -> float:
        """Return the mean HR@10."""
        return float(np.mean(self.hits)) if self.hits else 0.0


async def suggest_all(
    stack: EvalStack, members: Sequence[str], held_out: dict[str, set[str]], world: World,
    placed: dict[str, tuple[float, float]], outcome: Outcome, radius_km: float,
) -> None:  # fmt: skip
    """Ask the suggestions route for every member and score the lists into ``outcome``.

    ``placed`` holds where recommend places each member it can place (declared or inferred).
    """
    client = await stack.reader(TENANT)
    gate = asyncio.Semaphore(16)
    lists: dict[str, list[dict[str, Any]]] = {}

    async def one(member: str) -> None:
        async with gate:
            response = await client.get(f"/v1/members/{member}/suggestions", params={"limit": K, "explain": "true"})
        response.raise_for_status()
        lists[member] = response.json()["suggestions"]

    started = time.perf_counter()
    await asyncio.gather(*(one(member) for member in members))
    outcome.seconds = time.perf_counter() - started
    for member in members:
        found = lists[member]
        hit, gain = scores_of([s["community_id"] for s in found], held_out[member], K)
        outcome.hits.append(hit)
        outcome.gains.append(gain)
        home = city_point(world.member(member).city)
        known = placed.get(member)
        far = far_known = False
        for s in found:
            mode = s["place"]["mode"]
            outcome.modes[mode] += 1
            city = world.community(s["community_id"]).city
            if mode != "local" or city is None:
                continue
            club = city_point(city)
            within = distance_km(home, club) <= radius_km
            far = far or not within
            outcome.local.update(suggested=1, within=within)
            if known is not None:
                within_known = distance_km(known, club) <= radius_km
                far_known = far_known or not within_known
                outcome.local.update(placed=1, placed_within=within, placed_within_known=within_known)
        outcome.local.update(members_far=far, members_far_known=far_known)


async def put_settings(stack: EvalStack, settings: dict[str, Any]) -> dict[str, Any]:
    """Set the tenant's own ranking settings (pinned) through the settings route; return what is in effect."""
    client = await stack.reader(TENANT)
    if settings:
        response = await client.put("/v1/settings/ranking", json={"settings": settings, "pinned": True})
    else:
        response = await client.delete("/v1/settings/ranking")
    response.raise_for_status()
    effective: dict[str, Any] = response.json()["effective"]
    return effective


async def run(args: argparse.Namespace, variants: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Generate the world, post the history before the cut-off through ingest, and rank with each setting."""
    config = GeneratorConfig(start=START, tenant=TENANT, **{name: getattr(args, name) for name in WORLD})
    world = build_world(config)
    events = list(generate(config))
    split = split_in_time(events, world, args.holdout)
    if args.window == "validation":
        events = split.train
        split = split_in_time(events, world, args.holdout)
    members = sorted(split.held_out)
    if args.users is not None and args.users < len(members):
        members = sorted(random.Random(f"{args.seed}:places").sample(members, args.users))
    log.info("%d events, %d before the cut-off %s; %d members evaluated", len(events), len(split.train),
             split.cutoff.isoformat(), len(members))  # fmt: skip
    stack = EvalStack(with_ingest=True)
    outcomes: list[Outcome] = []
    try:
        await stack.start()
        since = stack.recommender.records
        started = time.perf_counter()
        tally = await stack.post(TENANT, (to_wire(e) for e in split.train))
        await stack.applied(tally.accepted, since)
        ingest_seconds = time.perf_counter() - started
        await stack.compiled(TENANT)
        state = stack.recommender.state(TENANT)
        placed = {m: (where.lat, where.lon) for m in members if (where := state.location(m)) is not None}
        defaults = RankingParams()
        for name, settings in variants:
            effective = await put_settings(stack, settings)
            expected = defaults.model_copy(update=settings).model_dump()
            if effective != expected:
                raise RuntimeError(f"{name}: the settings in effect are {effective}, not {expected}")
            outcome = Outcome(name, settings)
            await suggest_all(stack, members, split.held_out, world, placed, outcome, float(effective["radius_km"]))
            still = (await (await stack.reader(TENANT)).get("/v1/settings/ranking")).json()["effective"]
            if still != expected:
                raise RuntimeError(f"{name}: the settings changed while ranking, to {still}")
            outcomes.append(outcome)
            log.info("%s: NDCG@10 %.4f", name, outcome.ndcg)
    finally:
        await stack.close()
    base = outcomes[0]
    rows = []
    for outcome in outcomes:
        difference = bootstrap_interval(np.asarray(outcome.gains) - np.asarray(base.gains), seed=args.seed)
        local = outcome.local
        rows.append(
            {
                "name": outcome.name,
                "settings": outcome.settings,
                "ndcg_at_10": outcome.ndcg,
                "hr_at_10": outcome.hr,
                "ndcg_difference": difference.mean,
                "ndcg_difference_half_width": difference.half_width,
                "local_suggested": local["suggested"],
                "local_within_radius_share": _ratio(local["within"], local["suggested"]),
                "local_suggested_placed": local["placed"],
                "local_within_radius_share_placed": _ratio(local["placed_within"], local["placed"]),
                "local_within_radius_of_known_place_share": _ratio(local["placed_within_known"], local["placed"]),
                "members_with_far_local": local["members_far"],
                "members_with_far_local_known": local["members_far_known"],
                "modes": dict(outcome.modes),
                "seconds": outcome.seconds,
            }
        )
    modes = {c.mode: 0 for c in world.communities}
    for c in world.communities:
        modes[c.mode] += 1
    return {
        "window": args.window,
        "world": {name: getattr(config, name) for name in WORLD} | {"modes": modes},
        "events": len(events),
        "events_before_cutoff": len(split.train),
        "cutoff": split.cutoff.isoformat(),
        "joins_after_cutoff": split.joins_after,
        "members_evaluated": len(members),
        "members_placed": len(placed),
        "held_out_joins": sum(len(split.held_out[m]) for m in members),
        "ingest_seconds": ingest_seconds,
        "radius_km": defaults.radius_km,
        "rows": rows,
    }


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def markdown(result: dict[str, Any]) -> str:
    """Render the figures as a Markdown table."""
    w = result["world"]
    lines = [
        f"### Places on the generator's world ({w['communities']} communities: {w['modes'].get('local', 0)} local, "
        f"{w['modes'].get('hybrid', 0)} hybrid, {w['modes'].get('online', 0)} online; {w['members']:,} members; "
        f"{w['days']} days)",
        "",
        f"Window: {result['window']}. {result['events_before_cutoff']:,} of {result['events']:,} events "
        "before the cut-off "
        f"({result['cutoff']}), posted through ingest in {result['ingest_seconds']:.0f} s; "
        f"{result['members_evaluated']:,} members evaluated on {result['held_out_joins']:,} later joins; "
        f"recommend knows where {result['members_placed']:,} of them live.",
        "",
        f"Local communities suggested within {result['radius_km']:g} km (`radius_km`) of: (a) where recommend "
        "places the member, (b) where the member lives (the generator's truth), for members recommend places, "
        "(c) where the member lives, for all evaluated members. Members shown a local club beyond the radius: "
        "from (a) / from where they live.",
        "",
        "| setting | NDCG@10 | HR@10 | NDCG@10 vs defaults (95% paired bootstrap) | (a) within radius "
        "of the known place | (b) within radius of home, placed members | (c) within radius of home, all "
        "| members shown a far local club |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        difference = f"{r['ndcg_difference']:+.4f} ± {r['ndcg_difference_half_width']:.4f}"
        lines.append(
            f"| {r['name']} | {r['ndcg_at_10']:.4f} | {r['hr_at_10']:.4f} | {difference} "
            f"| {_share(r['local_within_radius_of_known_place_share'])} of {r['local_suggested_placed']:,} "
            f"| {_share(r['local_within_radius_share_placed'])} "
            f"| {_share(r['local_within_radius_share'])} of {r['local_suggested']:,} "
            f"| {r['members_with_far_local_known']:,} / {r['members_with_far_local']:,} |"
        )
    return "\n".join(lines)


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """Parse ``NAME={"setting": value}`` into a name and ranking settings (checked against their bounds)."""
    name, _, body = text.partition("=")
    settings = json.loads(body)
    if not name or not isinstance(settings, dict):
        raise ValueError(f"a variant is NAME={{json object}}, got {text!r}")
    RankingParams.model_validate(settings)
    return name, settings


def main(argv: list[str]) -> int:
    """Run the benchmark, print its table and write its JSON."""
    parser = parser_for("recommend_places", __doc__.splitlines()[0], RESULTS)
    parser.add_argument("--communities", type=int, default=1_000)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--activity", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--holdout", type=float, default=0.1, help="share of the latest joins held out (default 0.1)")
    parser.add_argument(
        "--window",
        choices=("test", "validation"),
        default="test",
        help="test: the joins after the cut-off; validation: the same within the history before it",
    )
    parser.add_argument("--users", type=int, default=None, help="evaluate a seeded sample of N members")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help='more settings to measure, as NAME={"setting": value} (repeatable)',
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr)
    try:
        extra = [parse_variant(text) for text in args.variant]
    except ValueError as error:
        sys.stderr.write(f"recommend_places: {error}\n")
        return 2
    variants = [("shipped defaults", {}), ("places off", {"use_places": False}), *extra]
    result = asyncio.run(run(args, variants))
    result.update(run_facts("recommend_places", argv))
    finish(result, args.output, markdown(result))
    return 0
