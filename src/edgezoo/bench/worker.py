"""One benchmark target in a fresh process: ``python -m edgezoo.bench.worker`` < spec.json.

A process per target keeps the measurements apart: peak resident memory is this target's alone
(``ru_maxrss`` never goes down, and freed arenas stay mapped), one engine's thread pools do not
linger while the next is timed, and PyTorch's process-wide thread setting cannot leak. The process
prints one line per combination, prefixed with :data:`PREFIX`, so that anything else the engines print
is ignored by the parent.
"""

from __future__ import annotations

import functools
import gc
import json
import sys
import time
import traceback
from typing import Any

from edgezoo.bench.measure import PeakRss, dummy_input, time_ov_async, time_single, time_threads
from edgezoo.bench.stats import relative_spread, summarize_ms
from edgezoo.bench.targets import Target
from edgezoo.errors import EdgezooError
from edgezoo.runtime import Session, SessionOptions, TorchSession, open_session

PREFIX = "EDGEZOO-BENCH "
LATENCY_FIELDS = ("min", "median", "p90", "p99", "mean")


def open_target(target: Target, threads: int, streams: int) -> Session:
    """A session for ``target`` with ``threads`` intra-op threads, ready for ``streams`` requests.

    OpenVINO compiles a model for a number of streams (parallel requests), so it gets
    ``NUM_STREAMS=streams`` and its throughput hint when more than one request is in flight; its
    ``INFERENCE_NUM_THREADS`` is then the total shared by the streams.
    """
    artifact = target.artifact()
    extra: dict[str, Any] = {}
    hint = "latency"
    if target.engine == "openvino" and streams > 1:
        hint, extra = "throughput", {"NUM_STREAMS": streams}
    options = SessionOptions(
        threads=threads, device=target.device, hint=hint, precision=target.ov_precision, extra=extra
    )
    if target.engine == "torch":
        return TorchSession(artifact, options, reparameterize=target.reparameterize)
    return open_session(artifact, target.engine, options)


def engine_precision(session: Session) -> str | None:
    """The precision the engine says it runs float operations in (OpenVINO reports it)."""
    compiled = getattr(session, "compiled", None)
    if compiled is None:
        return "f32" if session.engine == "torch" else None
    from edgezoo.bench.machine import ov_type_name

    try:
        return ov_type_name(compiled.get_property("INFERENCE_PRECISION_HINT"))
    except Exception:  # a device without the property
        return None


def measure(target: Target, threads: int, streams: int, batch: int, duration: float, warmup: float) -> dict[str, Any]:
    """One combination: load, warm up, time; latency figures in ms, memory in MiB."""
    with PeakRss() as rss:
        t0 = time.perf_counter()
        session = open_target(target, threads, streams)
        load_s = time.perf_counter() - t0
        x = dummy_input(session.artifact, batch=batch)
        session.run(x)  # fail here, before timing, when the input does not fit
        run = functools.partial(session.run, x)
        if streams == 1:
            timing = time_single(run, duration, warmup)
        elif target.engine == "openvino":
            timing = time_ov_async(session.compiled, x, streams, duration, warmup)  # type: ignore[attr-defined]
        else:
            timing = time_threads(run, streams, duration, warmup)
        precision = engine_precision(session)
    del run, session
    gc.collect()
    summary = summarize_ms(timing.latencies)
    return {
        "threads": threads,
        "streams": streams,
        "batch": batch,
        "latency_ms": {k: summary[k] for k in LATENCY_FIELDS},
        "spread": relative_spread(summary),
        "mad_ms": summary["mad"],
        "iterations": len(timing.latencies),
        "measured_s": timing.elapsed,
        "fps": timing.fps * batch,
        "load_s": load_s,
        "peak_rss_mb": rss.peak / 2**20,
        "rss_delta_mb": (rss.peak - rss.baseline) / 2**20,
        "engine_precision": precision,
    }


def _reason(exc: BaseException) -> str:
    if isinstance(exc, EdgezooError):
        return str(exc)
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200] if text else ''}".strip()


def emit(event: dict[str, Any]) -> None:
    print(PREFIX + json.dumps(event), flush=True)


def main() -> None:
    spec = json.loads(sys.stdin.read())
    target = Target.from_dict(spec["target"])
    for combo in spec["combos"]:
        try:
            emit({"event": "result", **measure(target, **combo, duration=spec["duration"], warmup=spec["warmup"])})
        except Exception as exc:  # reported per combination; the other combinations still run
            traceback.print_exc(file=sys.stderr)
            emit({"event": "skipped", **combo, "reason": _reason(exc)})


if __name__ == "__main__":
    main()
