"""Running a plan: a worker process per target, slices interleaved per model, one progress bar.

For each model and each (batch, threads, streams) combination, every target of the model opens its
session in its own worker, then the targets take turns: ``slices`` rounds of ``duration / slices``
seconds each, the order rotating every round. On a shared machine the background load drifts over
seconds; interleaving spreads that drift over all targets, so that the ratios between them (the
claims) stay fair even when the absolute figures are disturbed.
"""

from __future__ import annotations

import json
import math
import os
import queue
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import edgezoo
from edgezoo.bench.targets import Plan, Target
from edgezoo.bench.worker import PREFIX
from edgezoo.progress import track

SLICE_S = 0.5  # seconds per turn when interleaving
OPEN_TIMEOUT_S = 600  # building an eager model or compiling a large one on a busy machine


class WorkerDied(RuntimeError):
    """The worker process exited or stopped answering."""


def combos(target: Target, threads: list[int], streams: list[int]) -> list[tuple[int, int, int]]:
    """Every (batch, threads, streams) a target is measured at, in the order they run."""
    return [(b, t, k) for b in target.batches for t in threads for k in streams]


def _worker_env() -> dict[str, str]:
    # The worker must import this same edgezoo (a checkout's src/ may not be installed).
    src = str(Path(edgezoo.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    return env


class WorkerProcess:
    """A worker for one target and a synchronous call interface to it."""

    def __init__(self, target: Target) -> None:
        self._err = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - lives as long as the worker
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "edgezoo.bench.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            text=True,
            env=_worker_env(),
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.call({"cmd": "target", "target": target.to_dict()}, timeout=OPEN_TIMEOUT_S)

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            if line.startswith(PREFIX):
                self._lines.put(line[len(PREFIX) :])
        self._lines.put(None)  # end of output: the process is gone

    def alive(self) -> bool:
        """False once the process has exited or been stopped (after a timeout): it takes no more calls."""
        return self._proc.poll() is None and self._proc.stdin is not None and not self._proc.stdin.closed

    def _why(self) -> str:
        if self._err.closed:
            return f"stopped earlier, exit code {self._proc.poll()}"
        self._err.seek(0)
        lines = [ln for ln in self._err.read().strip().splitlines() if ln.strip()]
        code = self._proc.poll()
        return (lines[-1][:200] if lines else "") or f"exit code {code}"

    def call(self, command: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps(command) + "\n")
            self._proc.stdin.flush()
            line = self._lines.get(timeout=timeout)
        except (OSError, ValueError):  # the pipe is broken, or closed by stop() after a timeout
            line = None
        except queue.Empty:
            self.stop()
            raise WorkerDied(f"no answer within {timeout:.0f} s") from None
        if line is None:
            raise WorkerDied(f"worker process died ({self._why()})")
        return json.loads(line)

    def stop(self) -> None:
        if self._proc.poll() is None:
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.close()
                self._proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()
        self._err.close()


def _measure_model(
    targets: list[Target], threads: list[int], streams: list[int], duration: float, warmup: float
) -> Iterator[tuple[Target, tuple[int, int, int], dict[str, Any]]]:
    """Events (result, or error with reason) for every combination of one model's targets."""
    slices = max(1, round(duration / SLICE_S))
    per_slice = duration / slices
    min_iters = max(1, math.ceil(10 / slices))
    workers: dict[int, WorkerProcess] = {}
    try:
        for i, target in enumerate(targets):
            try:
                workers[i] = WorkerProcess(target)
            except WorkerDied as exc:
                for c in combos(target, threads, streams):
                    yield target, c, {"event": "error", "reason": str(exc)}
        order = list(dict.fromkeys(c for t in targets for c in combos(t, threads, streams)))
        for combo in order:
            batch, n_threads, n_streams = combo
            live: list[int] = []
            for i, target in enumerate(targets):
                if i not in workers or batch not in target.batches:
                    continue
                if not workers[i].alive():  # it timed out or died on an earlier combination: a fresh one
                    workers[i].stop()
                    try:
                        workers[i] = WorkerProcess(target)
                    except WorkerDied as exc:
                        yield target, combo, {"event": "error", "reason": str(exc)}
                        continue
                cmd = {"cmd": "open", "threads": n_threads, "streams": n_streams, "batch": batch, "warmup": warmup}
                event = _safe_call(workers[i], cmd, OPEN_TIMEOUT_S)
                if event["event"] == "ok":
                    live.append(i)
                else:
                    yield target, combo, event
            for r in range(slices):
                for i in live[r % len(live) :] + live[: r % len(live)] if live else []:
                    cmd = {"cmd": "time", "seconds": per_slice, "min_iters": min_iters}
                    event = _safe_call(workers[i], cmd, 60 + 20 * per_slice)
                    if event["event"] != "ok":
                        live.remove(i)
                        yield targets[i], combo, event
            for i in live:
                yield targets[i], combo, _safe_call(workers[i], {"cmd": "close"}, 60)
    finally:
        for w in workers.values():
            w.stop()


def _safe_call(worker: WorkerProcess, command: dict[str, Any], timeout: float) -> dict[str, Any]:
    try:
        return worker.call(command, timeout)
    except WorkerDied as exc:
        return {"event": "error", "reason": str(exc)}


def run_plan(
    plan: Plan, threads: list[int], streams: list[int], duration: float, warmup: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Measure every target; returns (results, skipped) as flat records."""
    by_model: dict[str, list[Target]] = {}
    for t in plan.targets:
        by_model.setdefault(t.model, []).append(t)
    total = sum(len(combos(t, threads, streams)) for t in plan.targets)

    def events() -> Iterator[tuple[Target, tuple[int, int, int], dict[str, Any]]]:
        for targets in by_model.values():
            yield from _measure_model(targets, threads, streams, duration, warmup)

    results: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = list(plan.skipped)
    for target, (batch, n_threads, n_streams), event in track(events(), "benchmark", total=total):
        kind = event.pop("event")
        base = {
            "model": target.model,
            "label": target.label,
            "variant": target.variant,
            "engine": target.engine,
            "device": target.device,
            "precision": target.precision,
            "deployed": target.deployed,
        }
        if kind == "result":
            ran = event.get("engine_precision")
            if target.precision in ("bf16", "f16") and ran and ran != target.precision:
                # The engine took the bf16/f16 hint and ran something else: name what ran.
                base["precision"] = "fp32" if ran == "f32" else ran
                base["label"] = f"{target.label} (ran {ran})"
            results.append(
                {**base, "artifact": target.path, "note": target.note, "size_bytes": target.size_bytes, **event}
            )
        else:
            what = f"{target.label} (threads {n_threads}, streams {n_streams}, batch {batch})"
            skipped.append({"model": target.model, "what": what, "reason": event.get("reason", kind)})
    return results, skipped
