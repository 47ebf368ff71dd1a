"""Offline recommendation quality: HR@10 and NDCG@10 on held-out memberships, against baselines.

``python -m bench recommend_quality --data ../shared/data [--dataset youtube|sample|generator]
[--seeds 3] [--users N] [--services defaults,tuned] [--quick]``

Two Kith rows beside the baselines, on the same splits and the same members: ``kith defaults`` (the
shipped defaults, with the data posted to a running ingest over HTTP) and ``kith tuned`` (settings
tuned on the validation split, the data published straight onto the activity topic). Prints a
Markdown table (mean ± 95% interval over seeds), each Kith row's paired NDCG@10 difference against
EASE (per seed, over seeds, over members) and writes ``bench/results/recommend_quality.json``.
``--services candidates`` adds a row that compares candidate defaults (changes of the shipped ones)
on the validation split and prints each one's validation NDCG@10, which is how defaults are chosen.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from bench.measure import parser_for, run_facts, write_figures
from bench.recsys.data import load_dataset
from bench.recsys.evaluate import SERVICE_CLASSES, run_sync
from bench.recsys.report import markdown, to_json

RESULTS = Path(__file__).resolve().parent / "results" / "recommend_quality.json"


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse the command line."""
    parser = parser_for("recommend_quality", __doc__.splitlines()[0], RESULTS)
    parser.add_argument(
        "--data", type=Path, default=Path("../shared/data"), help="data directory (default ../shared/data)"
    )
    parser.add_argument("--dataset", choices=("youtube", "sample", "generator"), default="youtube")
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds, 0..N-1 (default 3; 1 with --quick)")
    parser.add_argument("--users", type=int, default=None, help="evaluate a seeded sample of N members per seed")
    parser.add_argument("--min-members", type=int, default=5, help="core: communities with at least this many members")
    parser.add_argument(
        "--min-communities",
        type=int,
        default=None,
        help="core: members in at least this many communities (default 3; 2 for the generator)",
    )
    parser.add_argument(
        "--services",
        default="defaults,tuned",
        help="Kith rows, comma-separated: defaults (through ingest), tuned, candidates (onto the topic); "
        "default: defaults,tuned",
    )
    parser.add_argument("--no-service", action="store_true", help="run the baselines only")
    parser.add_argument(
        "--quick", action="store_true", help="one seed, 2,000 sampled members, the first 2 configurations per model"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    """Run the evaluation, print the Markdown table and write the JSON figures."""
    args = parse(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr)
    seeds = args.seeds if args.seeds is not None else (1 if args.quick else 3)
    users = args.users if args.users is not None else (2000 if args.quick else None)
    max_configs = 2 if args.quick else None
    services = [] if args.no_service else [name.strip() for name in args.services.split(",") if name.strip()]
    unknown = sorted(set(services) - set(SERVICE_CLASSES))
    if unknown:
        sys.stderr.write(f"recommend_quality: unknown --services {unknown}; choose from {list(SERVICE_CLASSES)}\n")
        return 2
    try:
        dataset = load_dataset(args.dataset, args.data)
    except (FileNotFoundError, ValueError) as error:
        sys.stderr.write(f"recommend_quality: cannot load {args.dataset!r} from {args.data}: {error}\n")
        return 2
    report = run_sync(
        dataset,
        list(range(seeds)),
        users=users,
        max_configs=max_configs,
        min_members=args.min_members,
        min_communities=args.min_communities,
        services=services,
    )
    print(markdown(report))
    for comparison in report.comparisons:
        seeds = ", ".join(f"{value:+.4f}" for _, value in sorted(comparison.per_seed.items()))
        print(
            f"\n{comparison.model}: NDCG@10 minus {comparison.against}'s per seed {seeds}; at least "
            f"{comparison.against}'s on every seed: {'met' if comparison.at_least_on_every_seed else 'NOT met'}."
        )
    if report.service is not None:
        head = report.headline
        print(
            f"\nTarget ({report.service} beats {head['best_baseline']} on NDCG@10 and suggests more small communities "
            f"than popularity): {head['target']}. NDCG@10 {head['service_ndcg']:.4f} vs "
            f"{head['best_baseline_ndcg']:.4f}, paired difference {head['ndcg_difference']:+.4f} "
            f"± {head['ndcg_difference_half_width']:.4f} "
            f"({'excludes' if head['difference_excludes_zero'] else 'includes'} zero); small share "
            f"{head['service_small_share']:.3f} vs {head['popularity_small_share']:.3f}."
        )
    write_figures(args.output, to_json(report) | run_facts("recommend_quality", argv))
    return 0
