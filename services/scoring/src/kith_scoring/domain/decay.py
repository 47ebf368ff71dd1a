"""Forward decay (Cormode, Shkapenyuk, Srivastava and Xu, 2009), levels with hysteresis, streaks.

Forward decay stores ``sum(w_i * 2^((t_i - T0) / h))`` against a landmark ``T0`` and reads the score
at ``t`` as that sum times ``2^(-(t - T0) / h)``. Each event is then a plain addition, so the
stored figure is the same in any order and a batch of events is one ``$inc``.

Float range: the stored exponent grows with ``t - T0``; with one landmark for all time and a
one-day half-life it would overflow a double (2^1024) after 2.8 years. So every UTC day is its
own landmark: an event adds ``w * 2^((t - day_start) / h)`` (at most ``w * 2^(1 / h_days)``) to
its day's bucket, and the score is the sum over day buckets of ``bucket * 2^(-(t - day_start) / h)``.
Nothing grows with time, days too old to matter underflow harmlessly to zero, and the figure is
exactly forward decay. Buckets are also kept per configuration version, so a half-life change
applies from then on without rewriting the past.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Final

from kith_scoring.domain.config import TenantConfig
from kith_scoring.domain.documents import MemberCommunityDoc

DAY: Final = timedelta(days=1)
SECONDS_PER_DAY: Final = 86_400.0
#: Periods (for level demotion) are counted from a Monday, so 7-day periods are ISO weeks.
PERIOD_ORIGIN: Final = datetime(1970, 1, 5, tzinfo=UTC)
#: Digits figures are rounded to where they are shown or announced.
DIGITS: Final = 6


def rounded(value: float) -> float:
    """Return a figure rounded as it is shown or announced."""
    return round(value, DIGITS)


#: The earliest instant that exists: arithmetic reaching before it stops there rather than overflowing.
EARLIEST: Final = datetime.min.replace(tzinfo=UTC)


def earlier(instant: datetime, span: timedelta) -> datetime:
    """Return ``instant - span``, or the earliest representable instant when that lies before year 1.

    Instants of the contract may lie anywhere in years 1-9999 (in UTC), so looking back a window or
    a quiet period from an early one must not overflow: nothing happened before year 1 anyway.
    """
    try:
        return instant - span
    except OverflowError:
        return EARLIEST


def day_key(instant: datetime) -> str:
    """Return the UTC day of an instant as ``YYYYMMDD`` (always eight digits, so keys sort as days do)."""
    utc = instant.astimezone(UTC)
    # Not strftime: it writes year 1 as "1" rather than "0001" on some platforms.
    return f"{utc.year:04d}{utc.month:02d}{utc.day:02d}"


@functools.lru_cache(maxsize=65_536)
def day_start(key: str) -> datetime:
    """Return midnight UTC of a ``YYYYMMDD`` day."""
    return datetime(int(key[:4]), int(key[4:6]), int(key[6:8]), tzinfo=UTC)


def window_days(at: datetime, days: int) -> list[str]:
    """Return the ``days`` UTC days ending with the day of ``at``."""
    last = day_start(day_key(at))
    # Near year 1 the window is cut short: there are no earlier days.
    return [day_key(last - DAY * i) for i in range(min(days, (last - EARLIEST).days + 1))]


def type_key(event_type: str) -> str:
    """Return a type name usable as a document field (no dots)."""
    return event_type.replace(".", "_")


def type_name(key: str) -> str:
    """Return the event type of a field name made by :func:`type_key`."""
    return key.replace("_", ".")


def forward_term(weight: float, instant: datetime, half_life_days: float) -> float:
    """Return what one event adds to its day bucket: ``w * 2^((t - day_start) / h)``."""
    start = day_start(day_key(instant))
    exponent = (instant - start).total_seconds() / (half_life_days * SECONDS_PER_DAY)
    return float(weight * 2.0**exponent)


def bucket_field(version: int, event_type: str) -> str:
    """Return the field of a day bucket that holds one version's sum for one type."""
    return f"{version}:{type_key(event_type)}"


def score_parts(
    buckets: Mapping[str, Mapping[str, float]], config: TenantConfig, at: datetime, *, through: str | None = None
) -> dict[str, float]:
    """Return the decayed score at ``at`` by activity type, from day buckets up to ``through`` (default: ``at``)."""
    last = through or day_key(at)
    parts: dict[str, float] = {}
    for day, fields in buckets.items():
        if day > last:
            continue
        age = (at - day_start(day)).total_seconds()
        for name, value in fields.items():
            version, _, tkey = name.partition(":")
            half_life = config.by_number(int(version)).config.half_life_days * SECONDS_PER_DAY
            contribution = value * 2.0 ** (-age / half_life)
            event_type = type_name(tkey)
            parts[event_type] = parts.get(event_type, 0.0) + contribution
    return parts


def score(
    buckets: Mapping[str, Mapping[str, float]], config: TenantConfig, at: datetime, *, through: str | None = None
) -> float:
    """Return the decayed score at ``at``."""
    return sum(score_parts(buckets, config, at, through=through).values())


def period_start(instant: datetime, period_days: int) -> datetime:
    """Return the start of the level period containing ``instant``."""
    length = timedelta(days=period_days)
    # Exact integer arithmetic: float seconds lose microseconds millennia away from the origin.
    offset = length * ((instant - PERIOD_ORIGIN) // length)
    # Only the first period of year 1 can start before the earliest instant: it starts there instead.
    return PERIOD_ORIGIN + offset if offset >= EARLIEST - PERIOD_ORIGIN else EARLIEST


def level(doc: MemberCommunityDoc, config: TenantConfig, at: datetime) -> int:
    """Return the level at ``at`` with hysteresis: promoted at once, demoted only at period ends.

    At the start of a period the level is the one the score then reaches (this is the only moment
    a level can fall). Within the period it rises as soon as the score crosses a threshold: the
    score is evaluated right after each active day's last event (``lt``), so the result depends
    only on the stored figures, never on the order events arrived in.
    """
    current = config.at(at).config
    buckets = doc.get("f", {})
    start = period_start(at, current.level_period_days)
    best = 0
    if start > EARLIEST:
        before_start = day_key(start - timedelta(microseconds=1))
        best = current.level_for(score(buckets, config, start, through=before_start))
    for day, last_time in doc.get("lt", {}).items():
        if not start <= last_time <= at:
            continue
        best = max(best, current.level_for(score(buckets, config, last_time, through=day)))
    return best


def active_days(counts: Mapping[str, Mapping[str, int]]) -> list[str]:
    """Return the sorted UTC days with any activity other than leaving."""
    return sorted(
        day for day, by_type in counts.items() if any(n > 0 for t, n in by_type.items() if t != "member_left")
    )


def streak(days: Iterable[str], at: datetime) -> int:
    """Return the run of consecutive active days ending today or yesterday (0 otherwise)."""
    present = {day for day in days if day <= day_key(at)}
    cursor = day_start(day_key(at))
    if day_key(cursor) not in present:
        if cursor == EARLIEST:
            return 0
        cursor -= DAY
    run = 0
    while day_key(cursor) in present:
        run += 1
        if cursor == EARLIEST:
            break
        cursor -= DAY
    return run
