"""Side-by-side latency of several ways to run a model, in interleaved rounds.

Timing one candidate after another lets a change in machine load (another process, a frequency
step) land on one of them only; running them in alternating rounds spreads it over all of them, so
their ratio holds within one call even on a shared machine. ``edgezoo tune`` and the benchmark
scripts time their candidates with this one loop.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping


def interleaved_ms(
    runs: Mapping[str, Callable[[], object]],
    *,
    rounds: int,
    per_round: int = 3,
    slice_s: float = 0.0,
    warmup: int = 3,
) -> dict[str, float]:
    """Median milliseconds of one call of each of ``runs``.

    Each round calls every candidate at least ``per_round`` times and for at least ``slice_s``
    seconds; the order reverses every other round, so no candidate always runs first after a pause.
    ``warmup`` calls per candidate come first and are not counted (first-run allocation, JIT).
    """
    for call in runs.values():
        for _ in range(warmup):
            call()
    times: dict[str, list[float]] = {k: [] for k in runs}
    keys = list(runs)
    for r in range(rounds):
        for key in keys if r % 2 == 0 else keys[::-1]:
            call = runs[key]
            end = time.perf_counter() + slice_s
            count = 0
            while count < per_round or time.perf_counter() < end:
                start = time.perf_counter()
                call()
                times[key].append((time.perf_counter() - start) * 1e3)
                count += 1
    return {k: statistics.median(v) for k, v in times.items()}
