"""The quality report: a Markdown table with the core sizes and the target check, and its JSON form."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bench.recsys.evaluate import Report
from bench.recsys.results import Comparison


def markdown(report: Report) -> str:
    """Render the report as a Markdown table with the core sizes and the target check."""
    c = report.core
    lines = [
        f"### Recommendation quality: {report.dataset} (seeds {report.seeds}, "
        f"{'all' if report.users is None else report.users} test members per seed)",
        "",
        f"Core (communities >= {c.min_members} members, members in >= {c.min_communities} communities, "
        f"{c.rounds} rounds): "
        f"{c.members:,} members, {c.communities:,} communities, {c.memberships:,} memberships, "
        f"{c.friendships:,} friendships (from {c.members_before:,} / {c.communities_before:,} / "
        f"{c.memberships_before:,}).",
        "",
        "| model | HR@10 | NDCG@10 | coverage | small share | chosen params (per seed) | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in report.summaries:
        marker = " (best baseline)" if s.model == report.best_baseline else ""
        if s.model in report.services:
            marker = ROW_NOTES.get(s.model, "")
        chosen = [", ".join(f"{k}={v}" for k, v in p.items()) or "-" for p in s.params]
        params = chosen[0] if len(set(chosen)) == 1 else "; ".join(chosen)
        lines.append(
            f"| {s.model}{marker} | {s.hr.format()} | {s.ndcg.format()} | {s.coverage.format(3)} "
            f"| {s.small_share.format(3)} | {params} | {s.seconds:.0f} |"
        )
    interval = report.summaries[0].interval if report.summaries else ""
    lines += [
        "",
        f"Hold-out: {report.holdout}. Intervals: {interval}. "
        "Every community the member has not joined is ranked (no sampled negatives). "
        f"Small community: {report.small_definition}. Coverage: share of the core's communities in anyone's top 10.",
        f"Service: {report.service_note}. Target: {report.headline.get('target')}.",
        f"Total time {report.seconds:.0f} s.",
    ]
    if report.comparisons:
        lines += ["", *comparison_lines(report.comparisons)]
    for name in report.services:
        lines += validation_lines(report, name)
    for r in report.results:
        if r.joined_suggested:
            lines.append(
                f"WARNING: {r.model} (seed {r.seed}) suggested {r.joined_suggested} already-joined communities."
            )
    return "\n".join(lines)


#: What each service row is, after its name in the table.
ROW_NOTES: dict[str, str] = {
    "kith defaults": " (shipped defaults, through ingest)",
    "kith tuned": " (tuned, onto the topic)",
    "kith default candidates": " (candidate defaults, chosen on validation, onto the topic)",
}


def validation_lines(report: Report, model: str) -> list[str]:
    """Render a row's NDCG@10 on the validation split for each configuration it tried, per seed and mean."""
    results = sorted((r for r in report.results if r.model == model and len(r.validation) > 1), key=lambda r: r.seed)
    if not results:
        return []
    configs: dict[str, list[float]] = {}
    for r in results:
        for params, score in r.validation:
            configs.setdefault(", ".join(f"{k}={v}" for k, v in params.items()) or "(as shipped)", []).append(score)
    best = max(configs, key=lambda name: sum(configs[name]) / len(configs[name]))
    lines = [
        "",
        f"{model}: NDCG@10 on the validation split (carved from each seed's train; the test split is never used):",
        "",
        "| configuration | " + " | ".join(f"seed {r.seed}" for r in results) + " | mean |",
        "|---|" + "---|" * len(results) + "---|",
    ]
    for name, scores in configs.items():
        mean = f"{sum(scores) / len(scores):.4f}"
        mark = f"**{mean}**" if name == best else mean
        lines.append(f"| {name} | " + " | ".join(f"{v:.4f}" for v in scores) + f" | {mark} |")
    return lines


def to_json(report: Report) -> dict[str, Any]:
    """Return the report as JSON-ready data (without per-user arrays)."""
    data = asdict(report)
    for result in data["results"]:
        result.pop("user_ids", None)
        result.pop("hits", None)
        result.pop("gains", None)
    return data


def comparison_lines(comparisons: list[Comparison]) -> list[str]:
    """Render each service row's paired NDCG@10 difference against the reference baseline as a table."""
    if not comparisons:
        return []
    seeds = sorted({seed for c in comparisons for seed in c.per_seed})
    against = comparisons[0].against
    lines = [
        f"NDCG@10 minus {against}'s on the same members (paired):",
        "",
        "| model | " + " | ".join(f"seed {seed}" for seed in seeds) + " | over seeds (95% t) "
        "| over members (95% paired bootstrap) | at least on every seed | small share (vs " + against + ") |",
        "|---|" + "---|" * len(seeds) + "---|---|---|---|",
    ]
    for c in comparisons:
        cells = " | ".join(f"{c.per_seed[seed]:+.4f}" if seed in c.per_seed else "-" for seed in seeds)
        lines.append(
            f"| {c.model} | {cells} | {_signed(c.over_seeds.mean, c.over_seeds.half_width)} "
            f"| {_signed(c.over_members.mean, c.over_members.half_width)} "
            f"| {'yes' if c.at_least_on_every_seed else '**no**'} | {c.small_share:.3f} ({c.against_small_share:.3f}) |"
        )
    return lines


def _signed(mean: float, half_width: float) -> str:
    if half_width != half_width:  # NaN: one seed, no interval
        return f"{mean:+.4f}"
    return f"{mean:+.4f} ± {half_width:.4f}"
