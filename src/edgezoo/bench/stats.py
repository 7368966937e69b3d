"""Summary statistics of timing samples: pure Python, no engine, so it is tested on synthetic data.

Latency distributions on a shared CPU are skewed (a few runs are slowed by other processes), so the
median is the headline figure, the minimum shows what the hardware can do, p90/p99 show the tail,
and the spread (interquartile range over median) says how much one run's figures can be trusted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between order statistics.

    The same definition as numpy's default ("linear"), so figures match what users compute.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile {q} outside 0..100")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50.0)


def mad(values: Sequence[float]) -> float:
    """Median absolute deviation from the median: a spread that a few outliers do not move."""
    centre = median(values)
    return median([abs(v - centre) for v in values])


def summarize_ms(seconds: Sequence[float]) -> dict[str, float]:
    """Latency figures in milliseconds from samples in seconds.

    Returns ``min, median, p90, p99, mean, max`` plus ``iqr`` and ``mad`` (both in ms).
    """
    ms = [s * 1000.0 for s in seconds]
    if not ms:
        raise ValueError("no timing samples")
    return {
        "min": min(ms),
        "median": median(ms),
        "p90": percentile(ms, 90.0),
        "p99": percentile(ms, 99.0),
        "mean": sum(ms) / len(ms),
        "max": max(ms),
        "iqr": percentile(ms, 75.0) - percentile(ms, 25.0),
        "mad": mad(ms),
    }


def relative_spread(summary: dict[str, float]) -> float:
    """Interquartile range over median: 0.05 means the middle half of runs lie within 5% of it."""
    return summary["iqr"] / summary["median"] if summary["median"] > 0 else float("nan")
