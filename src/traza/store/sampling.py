"""Checks and bucket arithmetic for sampled metric histories, shared by the stores.

A history longer than ``max_points`` is cut into ``(max_points - 2) // 2`` buckets of equal
width along x; each bucket gives its lowest and highest point, and the series' first and last
points are added, so a chart keeps every peak and both ends and never gets more than
``max_points`` points.
"""

from __future__ import annotations

from collections.abc import Iterable

from traza.entities.ui import X_AXES
from traza.exceptions import invalid

#: Bounds of ``max_points``: enough for a bucket's min and max plus both ends; at most what a
#: browser draws comfortably.
MIN_POINTS = 4
MAX_POINTS = 100_000


def check_sampling(max_points: int, x_axis: str) -> None:
    if isinstance(max_points, bool) or not isinstance(max_points, int):
        raise invalid(f"max_points must be an integer, got {max_points!r}.")
    if not MIN_POINTS <= max_points <= MAX_POINTS:
        raise invalid(
            f"max_points must be between {MIN_POINTS} and {MAX_POINTS}, got {max_points}."
        )
    if x_axis not in X_AXES:
        raise invalid(f"Invalid x_axis {x_axis!r}: use one of {', '.join(X_AXES)}.")


def check_range(x_range: tuple[int, int] | None) -> tuple[int, int] | None:
    if x_range is None:
        return None
    if (
        not isinstance(x_range, tuple | list)
        or len(x_range) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in x_range)
    ):
        raise invalid(f"x_range must be two integers (low, high), got {x_range!r}.")
    low, high = x_range
    if low > high:
        raise invalid(f"x_range must not be reversed: its low end {low} is above {high}.")
    return int(low), int(high)


def buckets(max_points: int, lo: int, hi: int) -> tuple[int, int]:
    """``(count, width)`` of the buckets covering ``[lo, hi]``: ``(x - lo) // width < count``."""
    count = max(1, (max_points - 2) // 2)
    return count, (hi - lo) // count + 1


def merge(points: Iterable[tuple[int, float, bool]], origin: int) -> tuple[tuple[int, float], ...]:
    """Bucket extremes and end points, once each, ordered by x; NaN where ``is_nan``."""
    seen: set[tuple[int, float, bool]] = set()
    for x, value, is_nan in points:
        seen.add((x, 0.0 if is_nan else value, bool(is_nan)))
    ordered = sorted(seen, key=lambda p: (p[0], p[2], p[1]))
    return tuple((x - origin, float("nan") if n else v) for x, v, n in ordered)
