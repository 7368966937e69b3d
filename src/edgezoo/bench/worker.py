"""One benchmark target in its own process: ``python -m edgezoo.bench.worker``, driven over stdin.

A process per target keeps the measurements apart: peak resident memory is this target's alone
(``ru_maxrss`` never goes down, and freed arenas stay mapped), one engine's thread pools do not
compete while another is timed, and PyTorch's process-wide thread setting cannot leak.

The parent sends one JSON command per line and the worker answers each with one line prefixed with
:data:`PREFIX` (anything else the engines print is ignored):

* ``{"cmd": "target", "target": {...}}``: what to run.
* ``{"cmd": "open", "threads", "streams", "batch", "warmup"}``: load (timed), then warm up.
* ``{"cmd": "time", "seconds", "min_iters"}``: time one slice; samples accumulate.
* ``{"cmd": "close"}``: the combination's result record, from all its slices.

The parent interleaves slices of all of a model's targets, so that a neighbour's load on a shared
machine slows every target alike instead of whichever happened to run at the time.
"""

from __future__ import annotations

import functools
import gc
import json
import sys
import time
import traceback
from typing import Any

from edgezoo.bench.measure import OvAsync, PeakRss, dummy_input, time_single, time_threads
from edgezoo.bench.stats import relative_spread, summarize_ms
from edgezoo.bench.targets import Target
from edgezoo.errors import EdgezooError
from edgezoo.runtime.engines import Session, SessionOptions, TorchSession, engine_precision, open_session

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


class Combination:
    """One open session at (threads, streams, batch) and the samples timed on it so far."""

    def __init__(self, target: Target, threads: int, streams: int, batch: int, warmup: float) -> None:
        self.target, self.threads, self.streams, self.batch = target, threads, streams, batch
        self.rss = PeakRss().__enter__()
        try:
            t0 = time.perf_counter()
            self.session = open_target(target, threads, streams)
            self.load_s = time.perf_counter() - t0
            x = dummy_input(self.session.artifact, batch=batch)
            self.session.run(x)  # fail here, before timing, when the input does not fit
        except BaseException:
            self.rss.__exit__()
            raise
        self._ov = OvAsync(self.session.compiled, x, streams) if target.engine == "openvino" and streams > 1 else None  # type: ignore[attr-defined]
        self._run = functools.partial(self.session.run, x)
        self.latencies: list[float] = []
        self.elapsed = 0.0
        self.slice(warmup, min_iters=3)  # warm-up: timed the same way, then forgotten
        self.latencies, self.elapsed = [], 0.0

    def slice(self, seconds: float, min_iters: int) -> None:
        if self._ov is not None:
            timing = self._ov.time(seconds, min_iters)
        elif self.streams > 1:
            timing = time_threads(self._run, self.streams, seconds, min_iters)
        else:
            timing = time_single(self._run, seconds, min_iters)
        self.latencies += timing.latencies
        self.elapsed += timing.elapsed

    def close(self) -> dict[str, Any]:
        """The result record; latency figures in ms, memory in MiB."""
        precision = engine_precision(self.session)
        self.rss.__exit__()
        del self._run, self._ov, self.session
        gc.collect()
        summary = summarize_ms(self.latencies)
        return {
            "threads": self.threads,
            "streams": self.streams,
            "batch": self.batch,
            "latency_ms": {k: summary[k] for k in LATENCY_FIELDS},
            "spread": relative_spread(summary),
            "mad_ms": summary["mad"],
            "iterations": len(self.latencies),
            "measured_s": self.elapsed,
            "fps": len(self.latencies) * self.batch / self.elapsed if self.elapsed > 0 else 0.0,
            "load_s": self.load_s,
            "peak_rss_mb": self.rss.peak / 2**20,
            "rss_delta_mb": (self.rss.peak - self.rss.baseline) / 2**20,
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
    target: Target | None = None
    combo: Combination | None = None
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            if cmd["cmd"] == "target":
                target = Target.from_dict(cmd["target"])
                emit({"event": "ok"})
            elif cmd["cmd"] == "open":
                assert target is not None, "no target"
                combo = None
                combo = Combination(target, cmd["threads"], cmd["streams"], cmd["batch"], cmd["warmup"])
                emit({"event": "ok"})
            elif cmd["cmd"] == "time":
                assert combo is not None, "no open combination"
                combo.slice(cmd["seconds"], cmd["min_iters"])
                emit({"event": "ok"})
            elif cmd["cmd"] == "close":
                assert combo is not None, "no open combination"
                record, combo = combo.close(), None
                emit({"event": "result", **record})
        except Exception as exc:  # reported for this combination; the worker stays up for the next
            traceback.print_exc(file=sys.stderr)
            combo = None
            gc.collect()
            emit({"event": "error", "reason": _reason(exc)})


if __name__ == "__main__":
    main()
