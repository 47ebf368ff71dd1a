"""Date ranges for figures over time: a period of whole UTC days, cut into day, week or month buckets.

A period is compared with the one just before it, of the same length: its buckets are the period's
buckets shifted back by the period's length, so bucket ``i`` of both lines up on a chart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Final

#: Longest period asked for, in days.
MAX_PERIOD_DAYS: Final = 366
#: Most buckets one answer holds.
MAX_BUCKETS: Final = 400


class Interval(StrEnum):
    """How a period is cut for a chart."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True, slots=True)
class Span:
    """Whole UTC days from ``start`` to ``end``, both included."""

    start: date
    end: date

    @property
    def days(self) -> int:
        """Return how many days the span covers."""
        return (self.end - self.start).days + 1

    def day_keys(self) -> list[str]:
        """Return the span's days as ``YYYYMMDD``, oldest first."""
        return [day_key_of(self.start + timedelta(days=i)) for i in range(self.days)]

    def shifted(self, days: int) -> Span:
        """Return the span moved ``days`` earlier."""
        return Span(self.start - timedelta(days=days), self.end - timedelta(days=days))

    def end_instant(self, now: datetime) -> datetime:
        """Return the last instant of the span, or ``now`` when the span ends later."""
        last = datetime.combine(self.end, time.max, tzinfo=UTC)
        return min(last, now)

    def start_instant(self) -> datetime:
        """Return the first instant of the span."""
        return datetime.combine(self.start, time.min, tzinfo=UTC)


def day_key_of(day: date) -> str:
    """Return a date as the ``YYYYMMDD`` key day documents and counts use (four-digit year, whatever the year)."""
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


#: Ingest refuses events before 1970 (``INGEST_EARLIEST_EVENT_TIME``): no figure is older. The last day
#: leaves room for the buckets and the period after it to stay within the calendar.
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(9999, 11, 30)


class PeriodError(ValueError):
    """A period that cannot be shown: the message says why."""


@dataclass(frozen=True, slots=True)
class Period:
    """A span, its buckets, and the span just before it with its buckets."""

    span: Span
    interval: Interval
    buckets: list[Span]

    @property
    def previous(self) -> Span:
        """Return the span of the same length just before this one."""
        return self.span.shifted(self.span.days)

    @property
    def previous_buckets(self) -> list[Span]:
        """Return the buckets of the previous span, each lined up with one of this span's."""
        return [bucket.shifted(self.span.days) for bucket in self.buckets]

    def all_day_keys(self) -> list[str]:
        """Return every day of the previous span and of this one."""
        return Span(self.previous.start, self.span.end).day_keys()


def _bucket_start(day: date, interval: Interval) -> date:
    if interval is Interval.WEEK:
        return day - timedelta(days=day.weekday())
    if interval is Interval.MONTH:
        return day.replace(day=1)
    return day


def _next_start(start: date, interval: Interval) -> date:
    if interval is Interval.WEEK:
        return start + timedelta(days=7)
    if interval is Interval.MONTH:
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start + timedelta(days=1)


def period(start: date, end: date, interval: Interval) -> Period:
    """Return the period from ``start`` to ``end`` cut by ``interval`` (weeks start on Monday, cut at the ends).

    Raise :class:`PeriodError` when it is empty, too long, cut into too many buckets, or lies outside
    the days any figure can have (from :data:`FIRST_DAY`; the period before it must fit too).
    """
    if start < FIRST_DAY or end < FIRST_DAY:
        raise PeriodError(f"days before {FIRST_DAY.isoformat()} hold no figures: no event can be that old")
    if start > LAST_DAY or end > LAST_DAY:
        raise PeriodError(f"days after {LAST_DAY.isoformat()} cannot be shown")
    if end < start:
        raise PeriodError(f"the period ends ({end}) before it starts ({start})")
    span = Span(start, end)
    if span.days > MAX_PERIOD_DAYS:
        raise PeriodError(f"the period covers {span.days} days; at most {MAX_PERIOD_DAYS} can be shown")
    buckets: list[Span] = []
    cursor = _bucket_start(start, interval)
    while cursor <= end:
        following = _next_start(cursor, interval)
        buckets.append(Span(max(cursor, start), min(following - timedelta(days=1), end)))
        cursor = following
    if len(buckets) > MAX_BUCKETS:
        raise PeriodError(f"{len(buckets)} buckets of a {interval.value}; choose a longer interval")
    return Period(span, interval, buckets)


def default_span(today: date, days: int = 28) -> Span:
    """Return the ``days`` days ending today."""
    return Span(today - timedelta(days=days - 1), today)
