"""Running a plan: one worker process per target, one progress bar over all combinations."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import edgezoo
from edgezoo.bench.targets import Plan, Target
from edgezoo.bench.worker import PREFIX
from edgezoo.progress import track


def combos(target: Target, threads: list[int], streams: list[int]) -> list[dict[str, int]]:
    """Every (batch, threads, streams) a target is measured at, in the order they run."""
    return [{"threads": t, "streams": k, "batch": b} for b in target.batches for t in threads for k in streams]


def _worker_env() -> dict[str, str]:
    # The worker must import this same edgezoo (a checkout's src/ may not be installed).
    src = str(Path(edgezoo.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    return env


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else ""


def run_target(target: Target, todo: list[dict[str, int]], duration: float, warmup: float) -> Iterator[dict[str, Any]]:
    """Yield one event per combination (``result`` or ``skipped``) from a worker process."""
    spec = {"target": target.to_dict(), "combos": todo, "duration": duration, "warmup": warmup}
    limit = 120 + 4 * len(todo) * (duration + warmup + 10)
    seen = 0
    with tempfile.TemporaryFile("w+", encoding="utf-8") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "edgezoo.bench.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=_worker_env(),
        )
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(spec))
        proc.stdin.close()
        try:
            for line in proc.stdout:
                if line.startswith(PREFIX):
                    seen += 1
                    yield json.loads(line[len(PREFIX) :])
            proc.wait(timeout=limit)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if seen < len(todo):
            err.seek(0)
            why = _last_line(err.read()) or f"exit code {proc.returncode}"
            for combo in todo[seen:]:
                yield {"event": "skipped", **combo, "reason": f"worker process died ({why})"}


def run_plan(
    plan: Plan, threads: list[int], streams: list[int], duration: float, warmup: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Measure every target; returns (results, skipped) as flat records."""
    work = [(t, combos(t, threads, streams)) for t in plan.targets]
    total = sum(len(c) for _, c in work)

    def events() -> Iterator[tuple[Target, dict[str, Any]]]:
        for target, todo in work:
            for event in run_target(target, todo, duration, warmup):
                yield target, event

    results: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = list(plan.skipped)
    for target, event in track(events(), "benchmark", total=total):
        kind = event.pop("event")
        base = {
            "model": target.model,
            "label": target.label,
            "variant": target.variant,
            "engine": target.engine,
            "device": target.device,
            "precision": target.precision,
        }
        if kind == "result":
            results.append(
                {**base, "artifact": target.path, "note": target.note, "size_bytes": target.size_bytes, **event}
            )
        else:
            combo = f"threads {event['threads']}, streams {event['streams']}, batch {event['batch']}"
            skipped.append({"model": target.model, "what": f"{target.label} ({combo})", "reason": event["reason"]})
    return results, skipped
