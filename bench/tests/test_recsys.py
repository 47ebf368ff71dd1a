"""Unit tests for the offline recommendation evaluation: metrics, splitting, core filter, baselines."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bench.recsys.baselines import TUNING_BUDGET, Als, Ease, ItemCosine, MostPopular, make_baselines
from bench.recsys.data import (
    Dataset,
    core,
    hold_out_one,
    load_generator_dataset,
    load_sample,
    sample_users,
    split_for_seed,
)
from bench.recsys.evaluate import evaluate_model, load_services, run
from bench.recsys.metrics import (
    bootstrap_interval,
    coverage,
    hit,
    ndcg,
    per_user,
    rank_of,
    small_share,
    t_interval,
)
from bench.recsys.report import comparison_lines
from bench.recsys.results import SeedResult, compare, paired_difference, summarize

pytestmark = pytest.mark.unit


def _toy() -> dict[str, set[str]]:
    """Two clear clusters: {a, b, c} are joined together, {x, y, z} together; 'a' is the largest."""
    memberships: dict[str, set[str]] = {}
    for i in range(12):
        memberships[f"u{i}"] = {"a", "b", "c"}
    for i in range(8):
        memberships[f"v{i}"] = {"x", "y", "z"}
    for i in range(6):
        memberships[f"w{i}"] = {"a"}
    return memberships


def test_ndcg_and_hit_for_a_single_held_out_item() -> None:
    assert ndcg(0) == 1.0
    assert ndcg(1) == pytest.approx(1 / math.log2(3))
    assert ndcg(9) == pytest.approx(1 / math.log2(11))
    assert ndcg(10) == 0.0
    assert ndcg(None) == 0.0
    assert hit(9) == 1.0
    assert hit(10) == 0.0
    assert hit(None) == 0.0
    assert rank_of("c", ["a", "b", "c"]) == 2
    assert rank_of("z", ["a"]) is None


def test_per_user_counts_missing_lists_and_late_ranks_as_misses() -> None:
    held = {"u1": "a", "u2": "b", "u3": "c"}
    recs = {"u1": ["a", "x"], "u2": ["x", "y", "b"]}
    hits, gains = per_user(recs, held, ["u1", "u2", "u3"], k=2)
    assert hits.tolist() == [1.0, 0.0, 0.0]
    assert gains.tolist() == [1.0, 0.0, 0.0]
    hits, gains = per_user(recs, held, ["u1", "u2", "u3"], k=10)
    assert hits.tolist() == [1.0, 1.0, 0.0]
    assert gains[1] == pytest.approx(0.5)


def test_coverage_and_small_share() -> None:
    recs = {"u1": ["a", "b"], "u2": ["a", "c"]}
    assert coverage(recs, 6) == pytest.approx(0.5)
    assert small_share(recs, {"a": 100, "b": 10, "c": 49}, threshold=50) == pytest.approx(0.5)
    assert small_share({}, {}) == 0.0


def test_intervals() -> None:
    interval = t_interval([0.2, 0.3, 0.4])
    assert interval.mean == pytest.approx(0.3)
    assert interval.half_width == pytest.approx(4.302653 * 0.1 / math.sqrt(3), rel=1e-5)
    assert math.isnan(t_interval([0.5]).half_width)
    boot = bootstrap_interval([0.0, 1.0] * 50, seed=1)
    assert boot.mean == pytest.approx(0.5)
    assert 0.05 < boot.half_width < 0.15
    assert t_interval([0.1, 0.1, 0.1]).half_width == pytest.approx(0.0, abs=1e-12)


def test_hold_out_is_seeded_and_takes_exactly_one_per_member() -> None:
    memberships = {f"u{i}": {f"g{j}" for j in range(i % 5 + 1)} for i in range(200)}
    first = hold_out_one(memberships, 3)
    again = hold_out_one(memberships, 3)
    other = hold_out_one(memberships, 4)
    assert first == again
    assert first.held_out != other.held_out
    for user, items in memberships.items():
        if len(items) >= 2:
            assert first.held_out[user] in items
            assert first.train[user] == items - {first.held_out[user]}
        else:
            assert user not in first.held_out
            assert first.train[user] == items
    assert memberships["u4"] == {"g0", "g1", "g2", "g3", "g4"}, "the input is left untouched"


def test_hold_out_takes_the_latest_join_when_times_are_known() -> None:
    start = datetime(2026, 10, 1, tzinfo=UTC)
    memberships = {"u1": {"a", "b", "c"}}
    times = {("u1", "a"): start, ("u1", "b"): start + timedelta(days=2), ("u1", "c"): start + timedelta(days=1)}
    assert hold_out_one(memberships, 0, times).held_out == {"u1": "b"}


def test_validation_is_carved_from_train() -> None:
    dataset = Dataset(name="toy", memberships={f"u{i}": {f"g{j}" for j in range(4)} for i in range(20)}, friends=[])
    test, validation = split_for_seed(dataset, 0)
    for user, item in validation.held_out.items():
        assert item in test.train[user]
        assert item != test.held_out[user]
        assert validation.train[user] == test.train[user] - {item}


def test_core_filter_is_stable_and_meets_both_thresholds() -> None:
    memberships = {f"u{i}": {"big", "mid", f"tiny{i}"} for i in range(6)}
    memberships["loner"] = {"big", "mid", "other"}
    memberships["two"] = {"big", "mid"}
    dataset = Dataset(name="toy", memberships=memberships, friends=[("u0", "u1"), ("u0", "two")])
    reduced, stats = core(dataset, min_members=5, min_communities=2)
    assert set(reduced.memberships) == {*(f"u{i}" for i in range(6)), "loner", "two"}
    assert all(items == {"big", "mid"} for items in reduced.memberships.values())
    again, again_stats = core(reduced, min_members=5, min_communities=2)
    assert again.memberships == reduced.memberships
    assert again_stats.rounds == 1
    reduced3, stats3 = core(dataset, min_members=5, min_communities=3)
    assert reduced3.memberships == {}
    assert stats3.members == 0
    assert reduced.friends == [("u0", "u1"), ("u0", "two")]
    assert stats.memberships == 16


def test_popularity_ranks_by_size_and_skips_joined() -> None:
    model = MostPopular()
    model.fit(_toy(), [], {})
    recs = model.recommend(["w0", "v0", "stranger"], 3)
    assert recs["w0"][:2] == ["b", "c"]
    assert recs["w0"][2] in {"x", "y", "z"}
    assert recs["v0"] == ["a", "b", "c"]
    assert recs["stranger"][0] == "a"


@pytest.mark.parametrize("model", [ItemCosine(), Ease()])
def test_item_models_recover_co_membership(model: ItemCosine | Ease) -> None:
    train = _toy()
    train["probe"] = {"x"}
    params = model.param_grid[0]
    model.fit(train, [], params)
    recs = model.recommend(["probe", "w0"], 2)
    assert set(recs["probe"]) == {"y", "z"}
    assert set(recs["w0"]) == {"b", "c"}


def test_als_is_deterministic_and_excludes_train() -> None:
    train = _toy()
    first, second = Als(seed=1, threads=1), Als(seed=1, threads=1)
    params = {"factors": 4, "alpha": 20.0, "regularization": 0.05, "iterations": 10}
    first.fit(train, [], params)
    second.fit(train, [], params)
    a = first.recommend(["u0", "v0", "w0"], 3)
    assert a == second.recommend(["u0", "v0", "w0"], 3)
    assert not set(a["u0"]) & train["u0"]
    assert set(a["w0"][:2]) == {"b", "c"}


def test_every_baseline_gets_the_same_tuning_budget() -> None:
    sizes = {len(model.param_grid) for model in make_baselines(0) if len(model.param_grid) > 1}
    assert sizes == {TUNING_BUDGET}


def test_sample_users_is_seeded() -> None:
    users = [f"u{i}" for i in range(100)]
    assert sample_users(users, 10, 1) == sample_users(users, 10, 1)
    assert sample_users(users, 10, 1) != sample_users(users, 10, 2)
    assert sample_users(users, None, 1) == sorted(users)


class _AsyncPopular:
    """An async model, as the service path is."""

    name = "async popular"
    param_grid: tuple[dict[str, Any], ...] = ({}, {})

    def __init__(self) -> None:
        self.inner = MostPopular()
        self.fits = 0

    async def fit(self, train: dict[str, set[str]], friends: list[tuple[str, str]], params: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        self.fits += 1
        self.inner.fit(train, friends, params)

    async def recommend(self, users: list[str], k: int) -> dict[str, list[str]]:
        await asyncio.sleep(0)
        return self.inner.recommend(users, k)


async def test_driver_awaits_async_models() -> None:
    memberships = {f"u{i}": {f"g{(i + j) % 7}" for j in range(4)} for i in range(40)}
    dataset = Dataset(name="toy", memberships=memberships, friends=[])
    reduced, _ = core(dataset)
    model = _AsyncPopular()
    result = await evaluate_model(model, reduced, split_for_seed(reduced, 0), 0, None)
    assert model.fits == 3, "two validation fits, then one refit on train"
    sync = MostPopular()
    expected = await evaluate_model(sync, reduced, split_for_seed(reduced, 0), 0, None)
    assert result.ndcg == expected.ndcg
    assert result.users == 40
    assert result.joined_suggested == 0


class _Leaky(MostPopular):
    """Suggests the member's own communities first: the driver must count that."""

    name = "leaky"

    def recommend(self, users: list[str], k: int) -> dict[str, list[str]]:
        return {user: sorted(self.train.get(user, set()))[:k] for user in users}


async def test_driver_counts_suggestions_of_joined_communities() -> None:
    memberships = {f"u{i}": {f"g{(i + j) % 7}" for j in range(4)} for i in range(40)}
    reduced, _ = core(Dataset(name="toy", memberships=memberships, friends=[]))
    result = await evaluate_model(_Leaky(), reduced, split_for_seed(reduced, 0), 0, None)
    assert result.joined_suggested == 40 * 3
    assert result.hr == 0.0


DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.mark.skipif(not (DATA / "youtube-sample").is_dir(), reason="shared sample data not present")
async def test_run_on_the_sample_data_names_the_best_baseline() -> None:
    report = await run(load_sample(DATA), [0], max_configs=1, services=())
    assert report.core.members > 0
    names = [s.model for s in report.summaries]
    assert names == [m.name for m in make_baselines(0)]
    assert report.best_baseline in names
    assert all(0.0 <= s.ndcg.mean <= s.hr.mean <= 1.0 for s in report.summaries)


def _result(seed: int, users: list[str], gains: list[float]) -> SeedResult:
    return SeedResult(
        model="m",
        seed=seed,
        params={},
        validation=[],
        users=len(users),
        hr=sum(g > 0 for g in gains) / len(gains),
        ndcg=sum(gains) / len(gains),
        coverage=0.5,
        small_share=0.5,
        fit_seconds=0.0,
        recommend_seconds=0.0,
        tune_seconds=0.0,
        user_ids=users,
        hits=[float(g > 0) for g in gains],
        gains=gains,
    )


def test_summaries_use_seed_means_or_a_per_user_bootstrap() -> None:
    results = [_result(0, ["a", "b"], [1.0, 0.0]), _result(1, ["a", "b"], [0.5, 0.0])]
    by_seed = summarize(results, by_seed=True)
    assert by_seed.ndcg.mean == pytest.approx(0.375)
    assert by_seed.ndcg.n == 2
    by_user = summarize(results, by_seed=False)
    assert by_user.ndcg.mean == pytest.approx(0.375)
    assert by_user.ndcg.n == 2, "one value per member, averaged over the seeds"
    assert "bootstrap" in by_user.interval


def test_paired_difference_compares_the_same_members() -> None:
    a = [_result(0, ["a", "b"], [1.0, 0.5]), _result(1, ["a", "b"], [1.0, 0.0])]
    b = [_result(0, ["a", "b"], [0.5, 0.5]), _result(1, ["a", "b"], [0.5, 0.0])]
    by_seed = paired_difference(a, b, by_seed=True)
    assert by_seed.mean == pytest.approx(0.25)
    assert by_seed.half_width == pytest.approx(0.0, abs=1e-12)
    by_user = paired_difference(a, b, by_seed=False)
    assert by_user.mean == pytest.approx(0.25)
    assert by_user.n == 2


def test_a_service_row_is_compared_with_ease_seed_by_seed_and_member_by_member() -> None:
    mine = [_result(0, ["a", "b"], [1.0, 0.5]), _result(1, ["a", "b"], [0.0, 0.5])]
    theirs = [_result(0, ["a", "b"], [0.5, 0.5]), _result(1, ["a", "b"], [0.5, 0.5])]
    for r in mine:
        r.model = "kith defaults"
    for r in theirs:
        r.model, r.small_share = "EASE", 0.25
    comparison = compare([*mine, *theirs], "kith defaults", "EASE", by_seed=True)
    assert comparison is not None
    assert comparison.per_seed == {0: pytest.approx(0.25), 1: pytest.approx(-0.25)}
    assert comparison.at_least_on_every_seed is False
    assert comparison.over_members.mean == pytest.approx(0.0)
    assert (comparison.small_share, comparison.against_small_share) == (0.5, 0.25)
    table = "\n".join(comparison_lines([comparison]))
    assert "| kith defaults | +0.2500 | -0.2500 |" in table
    assert "**no**" in table
    assert compare(mine, "kith defaults", "EASE", by_seed=True) is None


def test_service_rows_are_named_and_unknown_ones_refused() -> None:
    assert load_services([]) == ([], "service path skipped")
    with pytest.raises(ValueError, match="unknown service rows"):
        load_services(["nonsense"])


def test_generator_memberships_are_joins_minus_leaves_with_times() -> None:
    dataset = load_generator_dataset(members=150, communities=20, days=5)
    assert dataset.joined_at is not None
    assert dataset.memberships
    for user, items in dataset.memberships.items():
        assert items
        for item in items:
            assert (user, item) in dataset.joined_at
    test = hold_out_one(dataset.memberships, 0, dataset.joined_at)
    for user, item in test.held_out.items():
        latest = max(dataset.joined_at[(user, other)] for other in dataset.memberships[user])
        assert dataset.joined_at[(user, item)] == latest
