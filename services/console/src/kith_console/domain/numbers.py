"""Figures as a person reads them: counts with separators, shares as percentages, durations in words."""

from __future__ import annotations

from collections.abc import Sequence

DASH = "–"


def count(value: float | None) -> str:
    """Return a count with thousands separators (a dash when unknown)."""
    if value is None:
        return DASH
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def share(value: float | None) -> str:
    """Return a 0-1 share as a percentage."""
    return DASH if value is None else f"{value * 100:.0f}%"


def change(now: float | None, before: float | None) -> str:
    """Return the relative change from ``before`` to ``now`` (``+12%``), or a dash when it cannot be told."""
    if now is None or before is None or before == 0:
        return DASH
    delta = (now - before) / before * 100
    return f"{delta:+.0f}%"


def growth(value: float | None) -> str:
    """Return a growth ratio (0.25 means +25%) as a signed percentage."""
    return DASH if value is None else f"{value * 100:+.0f}%"


def duration(seconds: float | None) -> str:
    """Return a duration in the largest sensible unit: ``45 s``, ``12 min``, ``3.5 h``, ``2.1 days``."""
    if seconds is None:
        return DASH
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def score(value: float | None) -> str:
    """Return a score or health figure with one decimal."""
    return DASH if value is None else f"{value:,.1f}"


def nice_ceiling(values: Sequence[float]) -> float:
    """Return a round number at least the largest value (the top of a chart's axis)."""
    top = max([v for v in values if v is not None] or [0.0])
    if top <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(top))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if top <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)
