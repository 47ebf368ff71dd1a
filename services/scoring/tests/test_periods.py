"""Periods cut into day, week and month buckets, lined up with the period before."""

from __future__ import annotations

from datetime import date

import pytest

from kith_scoring.domain.periods import Interval, PeriodError, day_key_of, period

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("start", "end", "interval", "buckets"),
    [
        pytest.param(
            date(2026, 10, 8), date(2026, 10, 20), Interval.WEEK,
            [("2026-10-08", "2026-10-11"), ("2026-10-12", "2026-10-18"), ("2026-10-19", "2026-10-20")],
            id="weeks-start-on-monday",
        ),
        pytest.param(
            date(2026, 1, 15), date(2026, 3, 2), Interval.MONTH,
            [("2026-01-15", "2026-01-31"), ("2026-02-01", "2026-02-28"), ("2026-03-01", "2026-03-02")],
            id="months-follow-the-calendar",
        ),
    ],
)  # fmt: skip
def test_buckets_follow_the_calendar_cut_at_the_ends(
    start: date, end: date, interval: Interval, buckets: list[tuple[str, str]]
) -> None:
    chosen = period(start, end, interval)
    assert [(b.start.isoformat(), b.end.isoformat()) for b in chosen.buckets] == buckets


def test_the_period_before_is_as_long_and_cut_the_same_way() -> None:
    chosen = period(date(2026, 10, 8), date(2026, 10, 20), Interval.WEEK)
    assert (chosen.previous.start, chosen.previous.end) == (date(2026, 9, 25), date(2026, 10, 7))
    assert chosen.previous_buckets[0].start == date(2026, 9, 25)
    assert len(chosen.all_day_keys()) == 26


def test_days_are_one_bucket_each() -> None:
    chosen = period(date(2026, 12, 30), date(2027, 1, 2), Interval.DAY)
    assert [b.start.isoformat() for b in chosen.buckets] == ["2026-12-30", "2026-12-31", "2027-01-01", "2027-01-02"]
    assert chosen.span.day_keys() == ["20261230", "20261231", "20270101", "20270102"]


def test_empty_or_too_long_periods_are_refused_with_a_reason() -> None:
    with pytest.raises(PeriodError, match="ends"):
        period(date(2026, 10, 8), date(2026, 10, 1), Interval.DAY)
    with pytest.raises(PeriodError, match="at most 366"):
        period(date(2024, 1, 1), date(2026, 1, 1), Interval.MONTH)


def test_days_no_figure_can_have_are_refused_and_keys_keep_four_digit_years() -> None:
    with pytest.raises(PeriodError, match="1970"):
        period(date(223, 8, 6), date(223, 9, 2), Interval.WEEK)
    with pytest.raises(PeriodError, match="cannot be shown"):
        period(date(9999, 12, 1), date(9999, 12, 31), Interval.DAY)
    assert day_key_of(date(223, 9, 2)) == "02230902"
    assert period(date(1970, 1, 1), date(1970, 1, 3), Interval.DAY).previous.start == date(1969, 12, 29)
