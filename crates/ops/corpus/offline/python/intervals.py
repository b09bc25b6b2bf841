"""Interval arithmetic on closed integer ranges: merging, gaps, intersection."""

from typing import List, Optional, Tuple

Interval = Tuple[int, int]


def normalize(interval: Interval) -> Interval:
    """Return the interval with start <= end; raise on non-integers."""
    start, end = interval
    if not isinstance(start, int) or not isinstance(end, int):
        raise TypeError("interval bounds must be integers")
    return (start, end) if start <= end else (end, start)


def merge(intervals: List[Interval]) -> List[Interval]:
    """Merge overlapping or touching intervals: [(1, 3), (4, 6)] -> [(1, 6)]."""
    if not intervals:
        return []
    ordered = sorted(normalize(i) for i in intervals)
    merged = [ordered[0]]
    for start, end in ordered[1:]:
        last_start, last_end = merged[-1]
        if start <= last_end + 1:
            merged[-1] = (last_start, max(last_end, end))
        else:
            merged.append((start, end))
    return merged


def intersection(a: Interval, b: Interval) -> Optional[Interval]:
    """The common part of two intervals, or None when they are disjoint."""
    a, b = normalize(a), normalize(b)
    start = max(a[0], b[0])
    end = min(a[1], b[1])
    if start > end:
        return None
    return (start, end)


def gaps(intervals: List[Interval], lower: int, upper: int) -> List[Interval]:
    """The parts of [lower, upper] not covered by any interval."""
    if lower > upper:
        raise ValueError("lower must not exceed upper")
    result: List[Interval] = []
    cursor = lower
    for start, end in merge(intervals):
        if end < lower or start > upper:
            continue
        if start > cursor:
            result.append((cursor, start - 1))
        cursor = max(cursor, end + 1)
    if cursor <= upper:
        result.append((cursor, upper))
    return result


def total_length(intervals: List[Interval]) -> int:
    """Number of integers covered by the union of the intervals."""
    return sum(end - start + 1 for start, end in merge(intervals))


def contains(intervals: List[Interval], point: int) -> bool:
    """Binary search for ``point`` in the merged intervals."""
    merged = merge(intervals)
    lo, hi = 0, len(merged) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        start, end = merged[mid]
        if point < start:
            hi = mid - 1
        elif point > end:
            lo = mid + 1
        else:
            return True
    return False
