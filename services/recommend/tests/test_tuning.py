"""Self-tuning as pure functions: the split in time, the candidates, the evaluation and the decision."""

from __future__ import annotations

import pytest

from kith_devkit.events import community, event, join
from kith_recommend.domain.changes import Edge, changes_for
from kith_recommend.domain.model import TenantState
from kith_recommend.domain.params import RankingParams
from kith_recommend.domain.tuning import (
    VARIATIONS,
    Trial,
    TuningParams,
    candidates,
    decide,
    evaluate,
    merged,
    prepare,
    scores_of,
    split_by_time,
    too_small,
)
from kith_shared.events import Event

pytestmark = pytest.mark.unit

#: A setting that ranks by size alone: what a tenant's operator might have left behind.
POPULARITY_ONLY = {
    "co_membership_weight": 0.0,
    "social_weight": 0.0,
    "topic_weight": 0.0,
    "trending_weight": 0.0,
    "popularity_weight": 1.0,
}


def clustered(clusters: int = 12, members: int = 20) -> list[Event]:
    """Clusters of three communities; members join two early and the third late. Clusters 0 and 1 are the largest."""
    events: list[Event] = []
    for k in range(clusters):
        events += [community(f"c-{k}-{j}", f"Club {k}-{j}", [f"topic{k}"]) for j in range(3)]
    for k in range(clusters):
        size = members * (3 if k < 2 else 1)
        for i in range(size):
            m = f"m-{k}-{i}"
            first, second, late = (i % 3, (i + 1) % 3, (i + 2) % 3)
            events += [join(m, f"c-{k}-{first}", day=1), join(m, f"c-{k}-{second}", day=2)]
            events.append(join(m, f"c-{k}-{late}", day=20 + i % 5))
    return events


def state_of(events: list[Event]) -> TenantState:
    state = TenantState("acme")
    for e in events:
        state.apply_all(changes_for(e))
    return state


def test_join_times_are_kept_and_the_split_holds_out_the_latest_joins() -> None:
    state = state_of(clustered())
    # m-2-4 joined c-2-0 and c-2-1 on days 1 and 2, and c-2-2 on day 24: among the latest joins.
    assert state.edges[Edge.JOINED_AT]["m-2-4"]["c-2-0"] > state.edges[Edge.JOINED_AT]["m-2-4"]["c-2-2"] - 86_400 * 30
    holdout = split_by_time(state, 0.3)
    assert holdout is not None
    assert holdout.held_out["m-2-4"] == {"c-2-0"}
    assert "c-2-0" not in holdout.train.edges[Edge.MEMBER]["m-2-4"]
    assert "c-2-0" in state.edges[Edge.MEMBER]["m-2-4"]  # the live state is untouched
    assert "m-2-0" not in holdout.held_out  # its late join, on day 20, is before the cut-off
    assert holdout.train.now == holdout.cutoff
    state.apply_all(changes_for(event("member.left", {"member_id": "m-2-4", "community_id": "c-2-0"})))
    assert "c-2-0" not in state.edges[Edge.JOINED_AT]["m-2-4"]


def test_a_clearly_better_setting_is_adopted_with_the_reason() -> None:
    state = state_of(clustered())
    defaults = RankingParams()
    current = merged(defaults, POPULARITY_ONLY, None)
    tuning = TuningParams(holdout_share=0.3, min_members=20)
    prepared = prepare(state, current, tuning)
    assert too_small(prepared, tuning) is None
    tried = candidates(defaults, current)
    assert [c.name for c in tried][:2] == ["current", "defaults"]
    trials = evaluate(prepared, current, tried)
    assert trials[0].ndcg < 0.4
    assert max(t.ndcg for t in trials[1:]) > 0.8
    decision = decide(trials, len(prepared.profiles), sum(map(len, prepared.held_out)), tuning)
    assert decision.status == "adopted"
    assert decision.chosen != "current"
    assert decision.difference is not None
    assert decision.difference.low > tuning.margin
    assert "margin" in decision.why
    assert f"{len(prepared.profiles)} members" in decision.why


def test_noise_never_moves_the_settings() -> None:
    tuning = TuningParams(margin=0.01)
    current = Trial("current", {}, 0.5, 0.30, [0.3, 0.2, 0.4, 0.3] * 10)
    slightly = Trial("more social", {}, 0.5, 0.305, [0.3, 0.2, 0.42, 0.3] * 10)
    decision = decide([current, slightly], 40, 40, tuning)
    assert decision.status == "kept"
    assert "under the margin" in decision.why
    noisy = Trial("no diversity", {}, 0.5, 0.33, [0.0, 1.0, 0.0, 0.32] * 10)
    decision = decide([current, noisy], 40, 40, TuningParams(margin=0.0))
    assert decision.status == "kept"
    assert "interval reaches zero" in decision.why
    assert decide([current], 40, 40, tuning).status == "kept"


def test_a_tenant_too_small_to_evaluate_says_why() -> None:
    state = state_of(clustered(clusters=2, members=6))
    prepared = prepare(state, RankingParams(), TuningParams(holdout_share=0.3, min_members=50))
    reason = too_small(prepared, TuningParams(min_members=50))
    assert reason is not None
    assert "50 are needed" in reason
    assert len(prepared.profiles) == len(prepared.held_out) > 0
    (trial,) = evaluate(prepared, RankingParams(), candidates(RankingParams(), RankingParams())[:1])
    assert (trial.hr, trial.ndcg) == (0.0, 0.0)
    assert too_small(prepare(TenantState("empty"), RankingParams(), TuningParams()), TuningParams()) is not None


def test_scores_of_a_list() -> None:
    assert scores_of(["a", "b"], {"a"}) == (1.0, 1.0)
    hr, ndcg = scores_of(["x", "a"], {"a", "b"})
    assert hr == 1.0
    assert 0 < ndcg < 1
    assert scores_of(["x"], {"a"}) == (0.0, 0.0)


def test_every_named_variation_moves_away_from_the_shipped_defaults() -> None:
    defaults = RankingParams()
    tried = candidates(defaults, defaults)
    assert [c.name for c in tried] == ["current", *(name for name, _ in VARIATIONS)]
    for name, delta in VARIATIONS:
        assert defaults.model_copy(update=delta) != defaults, f"{name} is what the defaults already are"
