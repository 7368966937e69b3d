"""``edgezoo bench``: latency, throughput, load time, size and memory of edgezoo's artifacts on every
engine and precision, with the peers a user would otherwise run, in one run on one machine.

Layout: :mod:`stats` (pure statistics), :mod:`machine` (what it ran on), :mod:`targets` (what to
measure), :mod:`measure` (timing loops), :mod:`worker` (one target in its own process),
:mod:`run` (workers + progress bar), :mod:`report` (ratios, targets, JSON, markdown).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgezoo.bench.targets import PEERS, PlanRequest
from edgezoo.runtime.engines import ENGINES

DEFAULT_DURATION_S = 2.0
DEFAULT_WARMUP_S = 0.5


def default_threads() -> list[int]:
    """1 thread (the seeds' latency column) and every usable core."""
    from edgezoo.bench.machine import machine_info

    cores = machine_info()["cpu"]["usable_cores"] or 1
    return sorted({1, cores})


@dataclass
class BenchOptions:
    """Everything ``edgezoo bench`` accepts, as a notebook would pass it."""

    items: list[str]
    engines: list[str] = field(default_factory=lambda: list(ENGINES))
    precisions: list[str] = field(default_factory=list)  # empty: targets.default_precisions()
    threads: list[int] | None = None  # None: default_threads()
    streams: list[int] | None = None  # None: 1 and the largest thread count
    batch_sizes: list[int] | None = None
    devices: list[str] = field(default_factory=lambda: ["auto"])
    peers: list[str] = field(default_factory=lambda: list(PEERS))
    duration: float = DEFAULT_DURATION_S
    warmup: float = DEFAULT_WARMUP_S
    artifacts_dir: Path = Path("artifacts")
    calib: Path | None = None


def bench(options: BenchOptions) -> dict[str, Any]:
    """Run a whole benchmark and return its JSON document (see docs/bench.md)."""
    from edgezoo.artifact import command_line, now_iso
    from edgezoo.bench.machine import machine_info
    from edgezoo.bench.report import document
    from edgezoo.bench.run import SLICE_S, run_plan
    from edgezoo.bench.targets import make_plan
    from edgezoo.errors import EdgezooError

    if options.duration <= 0 or options.warmup < 0:
        raise EdgezooError("--duration must be > 0 and --warmup >= 0 seconds")
    threads = sorted(set(options.threads or default_threads()))
    streams = sorted(set(options.streams or {1, max(threads)}))
    if min(threads) < 1 or min(streams) < 1 or min(options.batch_sizes or [1]) < 1:
        raise EdgezooError("--threads, --streams and --batch-sizes take positive integers")
    created = now_iso()
    machine = machine_info()  # before the plan: the load average is the one the run started under
    plan = make_plan(
        PlanRequest(
            items=tuple(options.items),
            engines=tuple(options.engines),
            precisions=tuple(options.precisions),
            peers=tuple(options.peers),
            devices=tuple(options.devices),
            batch_sizes=tuple(options.batch_sizes) if options.batch_sizes else None,
            artifacts_dir=options.artifacts_dir,
            calib=options.calib,
        )
    )
    results, skipped = run_plan(plan, threads, streams, options.duration, options.warmup)
    settings = {
        "threads": threads,
        "streams": streams,
        "batch_sizes": options.batch_sizes,
        "duration_s": options.duration,
        "warmup_s": options.warmup,
        "engines": options.engines,
        "precisions": options.precisions,
        "peers": options.peers,
        "devices": options.devices,
        "artifacts_dir": str(options.artifacts_dir),
        "calibration": str(options.calib) if options.calib else None,
        "isolation": "one worker process per target; slices interleaved across a model's targets",
        "slice_s": SLICE_S,
        "targets": [t.to_dict() for t in plan.targets],
    }
    return document(results, skipped, machine, settings, command_line(), created)
