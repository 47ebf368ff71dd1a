"""Unit tests for the community-detection scores: average best-match F1 and overlapping NMI."""

from __future__ import annotations

import math

import pytest

from bench.communities.metrics import average_f1, best_match_f1, f1, overlapping_nmi

pytestmark = pytest.mark.unit


def s(*members: str) -> frozenset[str]:
    return frozenset(members)


def test_f1_of_two_sets() -> None:
    assert f1(s("a", "b"), s("a", "b", "c")) == pytest.approx(0.8)
    assert f1(s("a"), s("b")) == 0.0


def test_average_f1_by_hand() -> None:
    detected = [s("a", "b"), s("c", "d")]
    truth = [s("a", "b", "c")]
    # detected side: (0.8 + 0.4) / 2 = 0.6; truth side: 0.8; mean 0.7
    assert best_match_f1(detected, truth) == pytest.approx([0.8, 0.4])
    assert average_f1(detected, truth) == pytest.approx(0.7)
    assert average_f1(truth, truth) == pytest.approx(1.0)
    assert average_f1([], truth) == 0.0


def test_overlapping_nmi_identical_and_disjoint_covers() -> None:
    cover = [s("a", "b"), s("b", "c", "d")]
    assert overlapping_nmi(cover, cover, 4) == pytest.approx(1.0)
    assert overlapping_nmi([s("a", "b")], [s("c", "d")], 4) == pytest.approx(0.0)


def test_overlapping_nmi_by_hand() -> None:
    # N = 4, X = {a, b}, Y = {a, b, c}: H(X) = 1, H(Y) = h(3/4) + h(1/4), joint cells 1/2, 0, 1/4, 1/4.
    def h(p: float) -> float:
        return -p * math.log2(p)

    h_y = h(0.75) + h(0.25)
    joint = h(0.5) + h(0.25) + h(0.25)
    mutual = 0.5 * ((1.0 - (joint - h_y)) + (h_y - (joint - 1.0)))
    assert overlapping_nmi([s("a", "b")], [s("a", "b", "c")], 4) == pytest.approx(mutual / 1.0)
    assert mutual == pytest.approx(0.311278, abs=1e-6)
