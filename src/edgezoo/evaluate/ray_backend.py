"""``edgezoo eval --backend ray``: shards of image paths on Ray workers, top-5 classes back.

The driver cuts the evaluated images, in dataset order, into shards of paths (never pixels: a path
is a few dozen bytes, a decoded image 600 kB). Each worker is a Ray actor that opens the artifacts
once (:class:`~edgezoo.evaluate.shards.ShardPredictor`, the code the local backend runs) and then
decodes and predicts shard after shard. The driver keeps one shard in flight per worker, so that a
failure belongs to exactly one shard, and puts the answers back in dataset order; counting happens
in :func:`edgezoo.evaluate.accuracy.evaluate`, as for the local backend.

Failures: a worker process that dies is restarted by Ray and its shard retried
(``max_restarts``/``max_task_retries``); a shard that still fails, or that raised, is reported
with its reason and the evaluation fails: an accuracy over the shards that happened to succeed is
not the accuracy of the dataset.

Artifacts reach the workers by path (a filesystem shared with the cluster) or, with
``ship_artifacts``, as bytes in Ray's object store that each worker writes to its own temporary
folder once.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import warnings
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgezoo.artifact import Artifact, read_artifact, sha256_bytes
from edgezoo.cluster import connected, worker_env
from edgezoo.errors import EdgezooError
from edgezoo.evaluate.shards import Prediction, ShardPredictor
from edgezoo.progress import track

# Test hook: a worker process exits hard (as on a lost node) when it starts a shard. Value: a marker
# file path (only the first worker to create it exits: the retried shard then succeeds) or "always".
EXIT_HOOK = "EDGEZOO_TEST_RAY_WORKER_EXIT"
MAX_SHARD = 256  # images per shard at most: a lost shard costs little to redo
SHARDS_PER_WORKER = 4  # at least, when the data allows: slow and fast workers even out


@dataclass
class RayEvalOptions:
    """Where and how to run an evaluation on Ray."""

    address: str | None = None  # None: RAY_ADDRESS, else a local instance for this run
    workers: int | None = None  # Ray actors; None: the cluster's CPUs / cpus_per_worker
    cpus_per_worker: int | None = None  # CPUs each worker reserves; None: the engine threads, else 1
    shard_size: int | None = None  # images per shard; None: see default_shard_size
    ship_artifacts: bool = False  # send artifact bytes through the object store (no shared filesystem)
    max_restarts: int = 3  # a dead worker is restarted, and its shard retried, this many times


@dataclass
class RayOutcome:
    """What the workers predicted, in the order of the paths, and the run's ``ray`` block."""

    predictions: list[Prediction]
    engines: list[str]
    info: dict[str, Any]


def default_shard_size(images: int, workers: int) -> int:
    """Enough shards for every worker to get several, none larger than :data:`MAX_SHARD`."""
    return max(1, min(MAX_SHARD, math.ceil(images / (SHARDS_PER_WORKER * max(1, workers)))))


def _exit_hook() -> None:
    value = os.environ.get(EXIT_HOOK)
    if not value:
        return
    if value != "always":
        try:
            os.close(os.open(value, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
    os._exit(1)


class ShardWorker:
    """A Ray actor: the artifacts' sessions on one worker, opened once, predicting shard after shard."""

    def __init__(self, sources: list[Any], shipped: bool, engine: str, threads: int | None) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if shipped:
            import ray

            self._tmp = tempfile.TemporaryDirectory(prefix="edgezoo-ray-")
            artifacts = [self._write(*blob) for blob in ray.get(sources)]
        else:
            try:
                artifacts = [read_artifact(p) for p in sources]
            except EdgezooError as exc:
                raise EdgezooError(
                    f"{exc} on a Ray worker: put the artifacts on a filesystem the workers share, or pass"
                    " --ship-artifacts"
                ) from exc
        self._predictor = ShardPredictor(artifacts, engine, threads)

    def _write(self, stem: str, onnx_bytes: bytes, card_text: str) -> Artifact:
        """Write one shipped artifact into this worker's folder, checked against its card's sha256."""
        assert self._tmp is not None
        folder = Path(self._tmp.name)
        (folder / f"{stem}.onnx").write_bytes(onnx_bytes)
        (folder / f"{stem}.json").write_text(card_text, encoding="utf-8")
        artifact = read_artifact(folder / f"{stem}.onnx")
        expected = artifact.card.get("sha256")
        if expected is not None and sha256_bytes(onnx_bytes) != expected:
            raise EdgezooError(f"{stem}.onnx: shipped bytes do not match the card's sha256")
        return artifact

    def predict_shard(self, paths: list[str]) -> dict[str, Any]:
        """Top-5 classes per artifact for each path, and whether Ray restarted this worker (for the record)."""
        import ray

        _exit_hook()
        predictions = self._predictor.predict_shard(paths)
        with warnings.catch_warnings():  # Ray 2.60 warns about its own use of a deprecated property here
            warnings.simplefilter("ignore", DeprecationWarning)
            restarted = ray.get_runtime_context().was_current_actor_reconstructed
        return {
            "predictions": predictions,
            "engines": self._predictor.engines,
            "restarted": restarted,
            "artifacts": [str(a.onnx_path) for a in self._predictor.artifacts],  # where this worker read them
        }


def _reason(exc: BaseException) -> str:
    """One line from a Ray error: edgezoo's own message when there is one."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, EdgezooError):
        return str(cause)
    text = str(exc)
    ours = re.findall(r"EdgezooError: (.+)", text)
    if ours:
        return ours[-1].strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return f"{type(exc).__name__}: {lines[0][:300] if lines else ''}".strip()


def _artifact_blob(artifact: Artifact) -> tuple[str, bytes, str]:
    return (
        artifact.onnx_path.stem,
        artifact.onnx_path.read_bytes(),
        artifact.card_path.read_text(encoding="utf-8"),
    )


def predict_on_ray(
    artifacts: Sequence[Artifact],
    paths: Sequence[Path],
    *,
    engine: str = "auto",
    threads: int | None = None,
    options: RayEvalOptions | None = None,
) -> RayOutcome:
    """Top-5 classes of every artifact for every image in ``paths``, computed by Ray workers.

    Raises EdgezooError when Ray is missing or unreachable, or when any shard failed after Ray's
    retries (naming how many, and the first one's images and reason).
    """
    o = options or RayEvalOptions()
    cpus = o.cpus_per_worker or threads or 1  # a worker reserves the cores its engines run on
    if cpus < 1 or (o.workers is not None and o.workers < 1) or (o.shard_size or 1) < 1:
        raise EdgezooError("--workers, the CPUs per worker and --shard-size must be positive")
    with connected(o.address) as (ray, cluster):
        from ray.exceptions import RayActorError, RayError

        largest = max(cluster["node_cpus"] or [0])
        if cpus > largest:  # such a worker would wait for a node that never comes
            raise EdgezooError(f"a Ray worker would need {cpus} CPUs (--threads) but the largest node has {largest}")
        n_workers = o.workers or max(1, cluster["cpus"] // cpus)
        size = o.shard_size or default_shard_size(len(paths), n_workers)
        absolute = [os.path.abspath(p) for p in paths]
        shards = [absolute[i : i + size] for i in range(0, len(absolute), size)]
        n_workers = max(1, min(n_workers, len(shards)))
        if o.ship_artifacts:
            sources: list[Any] = [ray.put(_artifact_blob(a)) for a in artifacts]
        else:
            sources = [str(a.onnx_path.resolve()) for a in artifacts]
        worker = ray.remote(ShardWorker).options(
            num_cpus=cpus,
            max_restarts=o.max_restarts,
            max_task_retries=o.max_restarts,
            runtime_env={"env_vars": worker_env()},
        )
        actors = [worker.remote(sources, o.ship_artifacts, engine, threads or cpus) for _ in range(n_workers)]
        answers: list[dict[str, Any] | None] = [None] * len(shards)
        failures: dict[int, str] = {}
        restarted: set[int] = set()  # workers that answered after Ray restarted them

        def completed() -> Iterator[int]:
            todo = deque(range(len(shards)))
            running: dict[Any, tuple[int, int]] = {}  # ref -> (shard, worker)

            def give(w: int) -> None:
                if todo:
                    s = todo.popleft()
                    running[actors[w].predict_shard.remote(shards[s])] = (s, w)

            for w in range(n_workers):
                give(w)
            while running:
                [ref], _ = ray.wait(list(running), num_returns=1)
                s, w = running.pop(ref)
                try:
                    answers[s] = ray.get(ref)
                    if answers[s]["restarted"]:  # type: ignore[index]
                        restarted.add(w)
                    give(w)
                except RayActorError as exc:  # dead beyond its restarts: its queue goes to the others
                    failures[s] = _reason(exc)
                    if not running and todo:
                        for left in todo:
                            failures[left] = f"no Ray worker left ({failures[s]})"
                        todo.clear()
                except RayError as exc:  # the shard raised: the worker itself is fine
                    failures[s] = _reason(exc)
                    give(w)
                yield s

        try:
            for _ in track(completed(), f"eval on Ray: {len(shards)} shards", total=len(shards), unit="shards"):
                pass
        finally:
            for a in actors:
                ray.kill(a)
        if failures:
            first = min(failures)
            shard = shards[first]
            raise EdgezooError(
                f"Ray: {len(failures)} of {len(shards)} shards failed after retries, no results"
                f" (first: shard {first}, images {shard[0]} .. {shard[-1]}: {failures[first]})"
            )
        done = [a for a in answers if a is not None]
        info = {
            **cluster,
            "workers": n_workers,
            "cpus_per_worker": cpus,
            "threads_per_worker": threads or cpus,
            "shards": len(shards),
            "shard_size": size,
            "ship_artifacts": o.ship_artifacts,
            "max_restarts": o.max_restarts,
            "workers_restarted": len(restarted),
            "artifacts_on_workers": done[0]["artifacts"],
        }
        return RayOutcome([p for a in done for p in a["predictions"]], done[0]["engines"], info)
