"""Small statistics helpers: percentiles over recorded samples."""

from __future__ import annotations

import math


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100) by nearest rank, or None for no samples."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary_ms(seconds: list[float]) -> dict:
    """p50/p95/p99/max in milliseconds and the sample count, from samples in seconds."""
    ordered = sorted(seconds)
    pick = (lambda q: percentile(ordered, q) * 1000 if ordered else None)
    return {"n": len(ordered), "p50": pick(50), "p95": pick(95), "p99": pick(99),
            "max": ordered[-1] * 1000 if ordered else None}


def ratio(ours: float | None, reference: float | None) -> float | None:
    """ours / reference, or None when either is missing or the reference is zero."""
    if ours is None or not reference:
        return None
    return ours / reference
