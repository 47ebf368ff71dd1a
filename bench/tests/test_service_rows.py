"""The evaluation's Kith rows on the real broker and database: defaults through ingest, tuned onto the topic."""

from __future__ import annotations

import pytest

from bench.recsys.kith_adapter import DEFAULT_CANDIDATES, KithDefaultCandidates, KithDefaults, KithServicePath
from bench.recsys.stack import EvalStack, IngestRefusedEvents
from kith_devkit.testing.plugin import Infra
from kith_recommend.domain.params import RankingParams

pytestmark = pytest.mark.integration


def clusters() -> tuple[dict[str, set[str]], list[tuple[str, str]]]:
    """Two clusters of communities; u0 and v0 each miss one community of their cluster."""
    train: dict[str, set[str]] = {}
    for i in range(10):
        train[f"u{i}"] = {"a", "b", "c"}
        train[f"v{i}"] = {"x", "y", "z"}
    train["u0"] = {"a", "b"}
    train["v0"] = {"x", "y"}
    friends = [("u0", "u1"), ("v0", "v1"), ("u0", "nobody")]
    return train, friends


async def test_the_defaults_row_posts_to_ingest_and_ranks_with_the_shipped_defaults(infra: Infra) -> None:
    train, friends = clusters()
    row = KithDefaults(EvalStack(with_ingest=True, bootstrap=infra.bootstrap, mongo_uri=infra.mongo_uri))
    try:
        with pytest.raises(ValueError, match="takes no settings"):
            await row.fit(train, friends, {"social_weight": 0.1})
        await row.fit(train, friends, {})
        assert row.effective == RankingParams().model_dump()
        assert row.timings["events"] == sum(len(c) for c in train.values()) + 4  # two ties, both directions
        lists = await row.recommend(["u0", "v0", "u5"], 10)
        assert lists["u0"][0] == "c"
        assert lists["v0"][0] == "z"
        assert not {"a", "b", "c"} & set(lists["u5"])  # joined communities are never suggested
        # The same training set again is not posted twice: one tenant per distinct training set.
        tenant = row._tenant
        await row.fit(train, friends, {})
        assert row._tenant == tenant
        # An event ingest refuses stops the evaluation with ingest's reason, never a silent drop.
        bad = {"specversion": "1.0", "id": "bad-1", "source": "bench://recsys", "type": "member.joined",
               "time": "2007-01-15T00:00:00+00:00", "data": {"member_id": "u1"}}  # fmt: skip
        with pytest.raises(IngestRefusedEvents, match="accepted 0 of 1"):
            await row.stack.post("refused", [bad])
    finally:
        await row.close()
    assert row.stack.ingest is None


async def test_the_tuned_row_publishes_onto_the_topic_and_ranks_with_its_settings(infra: Infra) -> None:
    train, friends = clusters()
    row = KithServicePath(EvalStack(with_ingest=False, bootstrap=infra.bootstrap, mongo_uri=infra.mongo_uri))
    try:
        await row.fit(train, friends, dict(row.param_grid[1]))
        assert row.stack.recommender.ranking.social_weight == 0.3
        assert row.stack.recommender.ranking.topic_weight == 0.0
        lists = await row.recommend(["u0", "v0"], 10)
        assert lists["u0"][0] == "c"
        assert lists["v0"][0] == "z"
        # Candidate defaults are changes of the shipped defaults, not of the tuned row's base.
        candidates = KithDefaultCandidates(row.stack)
        assert candidates.param_grid[0] == {}
        assert candidates.param_grid == DEFAULT_CANDIDATES
        await candidates.fit(train, friends, {"mmr_lambda": 1.0})
        assert row.stack.recommender.ranking == RankingParams(mmr_lambda=1.0)
        assert (await candidates.recommend(["u0"], 10))["u0"][0] == "c"
    finally:
        await row.close()
