"""Timing loops: one request at a time (latency) and K requests in flight (throughput).

Each loop times for at least ``duration`` seconds and at least ``min_iters`` requests and returns the
per-request latencies; the caller warms up by running the same loop once and discarding it (the
first runs pay for lazy allocation, kernel selection and caches), and may call a loop several times
(slices) and pool the samples.

K requests in flight means K independent callers. For ONNX Runtime and PyTorch these are K Python
threads sharing one session (both release the GIL while computing); for OpenVINO it is an
``AsyncInferQueue`` of K infer requests on a model compiled with ``NUM_STREAMS=K``, which is how
OpenVINO is meant to be fed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgezoo.artifact import Artifact
from edgezoo.runtime.engines import input_spec

MIN_ITERS = 10


@dataclass
class Timing:
    """Per-request latencies (s), completed requests and the wall time (s) they took."""

    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def fps(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed > 0 else 0.0


def dummy_input(artifact: Artifact, batch: int = 1, seed: int = 0) -> np.ndarray:
    """A seeded input in the artifact's own format: normal noise for float, random pixels for uint8.

    Latency does not depend on the values; the dtype and shape come from the card
    (``runtime.input_spec``) so that int8 artifacts taking camera frames are fed what they expect.
    """
    shape, dtype = input_spec(artifact)
    if batch != 1:
        if not isinstance(artifact.card["input"]["shape"][0], str):
            raise ValueError(f"{artifact.onnx_path.name} has a fixed batch of {shape[0]}")
        shape = (batch, *shape[1:])
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, int(info.max) + 1, size=shape, dtype=dtype)
    return rng.standard_normal(shape).astype(dtype)


def time_single(run: Callable[[], Any], duration: float, min_iters: int = MIN_ITERS) -> Timing:
    """Latency of one request at a time."""
    timing = Timing()
    clock = time.perf_counter
    start = clock()
    while len(timing.latencies) < min_iters or clock() - start < duration:
        t0 = clock()
        run()
        timing.latencies.append(clock() - t0)
    timing.elapsed = clock() - start
    return timing


def time_threads(run: Callable[[], Any], streams: int, duration: float, min_iters: int = MIN_ITERS) -> Timing:
    """``streams`` Python threads each calling ``run`` back to back; FPS over the common window."""
    per_thread: list[list[float]] = [[] for _ in range(streams)]
    errors: list[BaseException] = []
    clock = time.perf_counter
    start = clock()
    stop_at = start + duration
    least = max(1, -(-min_iters // streams))

    def worker(out: list[float]) -> None:
        try:
            while True:
                t0 = clock()
                if t0 >= stop_at and len(out) >= least:
                    return
                run()
                out.append(clock() - t0)
        except BaseException as exc:  # re-raised by the caller after join
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(out,), daemon=True) for out in per_thread]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return Timing([x for out in per_thread for x in out], clock() - start)


class OvAsync:
    """OpenVINO's own way to keep ``streams`` requests in flight: an AsyncInferQueue.

    A request's latency runs from its submission (``start_async`` returns once a request is idle,
    so this is not queueing time) to its completion callback.
    """

    def __init__(self, compiled: Any, x: np.ndarray, streams: int) -> None:
        import openvino as ov

        self._queue = ov.AsyncInferQueue(compiled, streams)
        self._x = x
        self._latencies: list[float] = []
        self._queue.set_callback(self._done)

    def _done(self, _request: Any, submitted: float) -> None:
        self._latencies.append(time.perf_counter() - submitted)

    def time(self, duration: float, min_iters: int = MIN_ITERS) -> Timing:
        self._latencies = latencies = []
        clock = time.perf_counter
        start = clock()
        submitted = 0
        while submitted < min_iters or clock() - start < duration:
            self._queue.start_async({0: self._x}, clock())
            submitted += 1
        self._queue.wait_all()
        return Timing(list(latencies), clock() - start)


class PeakRss:
    """Samples this process's resident memory in a background thread; ``peak`` in bytes.

    ``ru_maxrss`` cannot be reset, so a per-combination peak needs sampling; 5 ms catches the
    allocations of a model load, whose buffers stay resident afterwards anyway.
    """

    def __init__(self, interval: float = 0.005) -> None:
        import psutil

        self._proc = psutil.Process()
        self._interval = interval
        self.baseline = self._proc.memory_info().rss
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            self._stop.wait(self._interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)
