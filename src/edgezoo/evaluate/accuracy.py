"""Accuracy: run a model's artifacts over a labelled dataset and count Top-1 and Top-5.

Float and INT8 artifacts of one model are evaluated on the same decoded pixels in one pass, so their
accuracies and their agreement (same top-1 class) compare like with like. Images are decoded and
cropped in worker processes while the main process runs the engines; results come back in dataset
order, so a run is deterministic whatever the number of workers.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgezoo.artifact import Artifact, command_line, is_artifact_path, now_iso, read_artifact, versions
from edgezoo.errors import EdgezooError
from edgezoo.evaluate.datasets import Dataset, Sample, balanced_subset, imagenet_synsets, load_dataset
from edgezoo.evaluate.shards import Decoded, Prediction, ShardPredictor, decode_shard
from edgezoo.progress import track
from edgezoo.runtime.engines import artifact_path_for

if TYPE_CHECKING:
    from edgezoo.evaluate.ray_backend import RayEvalOptions

EVAL_FORMAT = 1
BACKENDS = ("local", "ray")
_CHUNK = 8  # images per worker task: large enough to amortise the pipe, small enough to stream


# --------------------------------------------------------------------------------------------
# Parallel decoding (the local backend)
# --------------------------------------------------------------------------------------------


def _context() -> multiprocessing.context.BaseContext:
    # fork starts workers in milliseconds (spawn would re-import torch in each); the workers only use
    # Pillow and NumPy, as torch's own DataLoader workers do.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def decode(paths: Sequence[Path], specs: list[dict[str, Any]], workers: int) -> Iterator[Decoded]:
    """Decoded inputs in the order of ``paths``; ``workers`` processes (0: in this process).

    At most two chunks per worker are in flight, so memory stays bounded however slow the engine is.
    """
    chunks = [[str(p) for p in paths[i : i + _CHUNK]] for i in range(0, len(paths), _CHUNK)]
    if workers <= 0:
        for chunk in chunks:
            yield from decode_shard(chunk, specs)
        return
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=_context())
    try:
        todo = iter(chunks)
        pending: deque[Future[list[Decoded]]] = deque()
        for chunk in todo:
            pending.append(pool.submit(decode_shard, chunk, specs))
            if len(pending) >= 2 * workers:
                break
        while pending:
            done = pending.popleft().result()
            nxt = next(todo, None)
            if nxt is not None:
                pending.append(pool.submit(decode_shard, nxt, specs))
            yield from done
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


# --------------------------------------------------------------------------------------------
# Which artifacts
# --------------------------------------------------------------------------------------------


def _same_weights(source: dict[str, Any], weights: Path | None, pretrained: bool) -> bool:
    """Whether an artifact was made from the weights the user asks for now."""
    kind = source.get("kind")
    if weights is not None:
        return kind == "file" and Path(str(source.get("path"))).resolve() == weights.resolve()
    if pretrained:
        return kind in {"timm-hub", "package"}
    return kind == "random"


def resolve_artifacts(
    targets: Sequence[str],
    *,
    weights: Path | None = None,
    pretrained: bool = False,
    artifacts_dir: Path = Path("artifacts"),
) -> tuple[list[Artifact], list[str]]:
    """Artifacts for MODEL|ARTIFACT arguments.

    A file argument is read as it is. A model name takes ``artifacts_dir/MODEL.onnx`` and, when there,
    ``MODEL.int8.onnx``, if they were made from the requested weights; otherwise the float model is
    exported first (a stale INT8 artifact is then left out, with no way to re-quantize here).
    Returns the artifacts and notes for the user about what was exported or left out.
    """
    from edgezoo.zoo.registry import get_card

    found: list[Artifact] = []
    notes: list[str] = []
    for target in targets:
        if is_artifact_path(target):  # a file is evaluated as it is: no export stage (nor PyTorch) needed
            found.append(read_artifact(target))
            continue
        from edgezoo.export.to_onnx import export

        card = get_card(target)
        float_path = artifact_path_for(card.name, artifacts_dir, "fp32")
        float_art = read_artifact(float_path) if float_path.is_file() else None
        if float_art is None or not _same_weights(float_art.card.get("weights", {}), weights, pretrained):
            float_art, _ = export(card, weights=weights, pretrained=pretrained, out_dir=artifacts_dir)
            notes.append(f"exported {float_art.onnx_path} for this evaluation")
        found.append(float_art)
        int8_path = artifact_path_for(card.name, artifacts_dir, "int8")
        if int8_path.is_file():
            int8_art = read_artifact(int8_path)
            if int8_art.card.get("weights") == float_art.card.get("weights"):
                found.append(int8_art)
            else:
                notes.append(f"left out {int8_path}: made from other weights (re-run `edgezoo quantize`)")
        else:
            notes.append(f"no INT8 artifact {int8_path} (`edgezoo quantize {card.name}` or `edgezoo run` makes it)")
    seen: set[Path] = set()
    unique = []
    for a in found:
        if a.onnx_path.resolve() not in seen:
            seen.add(a.onnx_path.resolve())
            unique.append(a)
    return unique, notes


def _classes(artifact: Artifact) -> tuple[int, tuple[str, ...] | None]:
    """Number of output classes and, for ImageNet-1k models, their WordNet ids in index order."""
    card = artifact.card
    num = int(card.get("output", {}).get("shape", [0, 0])[-1] or card.get("model_card", {}).get("num_classes", 0))
    labels = card.get("model_card", {}).get("labels")
    if labels is None:
        from edgezoo.zoo.registry import get_card

        labels = get_card(artifact.model_name).labels
    return num, imagenet_synsets() if labels == "imagenet-1k" and num == 1000 else None


# --------------------------------------------------------------------------------------------
# Counting
# --------------------------------------------------------------------------------------------


@dataclass
class _Run:
    """One artifact being evaluated: the engine that ran it and what it predicted, image by image."""

    artifact: Artifact
    engine: str
    top1: list[int] = field(default_factory=list)
    topk: list[list[int]] = field(default_factory=list)
    correct1: int = 0
    correct5: int = 0

    def observe(self, order: list[int], label: int) -> None:
        """Count one image from its top-k classes, best first (see :func:`edgezoo.evaluate.shards.top_k`)."""
        self.top1.append(order[0])
        self.topk.append(order)
        self.correct1 += int(order[0] == label)
        self.correct5 += int(label in order)


def _pct(k: int, n: int) -> float | None:
    return round(100.0 * k / n, 4) if n else None


def _subset_info(samples: list[Sample], chosen: list[Sample], limit: int | None) -> dict[str, Any] | None:
    if limit is None:
        return None
    per_class: dict[int, int] = {}
    for s in chosen:
        per_class[s.label] = per_class.get(s.label, 0) + 1
    return {
        "limit": limit,
        "images": len(chosen),
        "of": len(samples),
        "classes": len(per_class),
        "per_class_min": min(per_class.values()),
        "per_class_max": max(per_class.values()),
        "method": "class-balanced, fixed: round-robin over classes in index order, files in sorted path order",
    }


def describe_subset(info: dict[str, Any] | None) -> str | None:
    """The sentence that says which subset was evaluated, for printouts."""
    if info is None:
        return None
    if info["images"] == info["of"]:
        return f"--limit {info['limit']}: all {info['of']} labelled images used (no more available)"
    return (
        f"--limit {info['limit']}: a fixed class-balanced subset of {info['images']} of {info['of']} images"
        f" ({info['classes']} classes, {info['per_class_min']}-{info['per_class_max']} per class;"
        " round-robin over classes in index order, files in sorted order)"
    )


def evaluate(
    artifacts: Sequence[Artifact],
    data: Path,
    *,
    fmt: str = "auto",
    labels: Path | None = None,
    limit: int | None = None,
    engine: str = "auto",
    threads: int | None = None,
    workers: int | None = None,
    skip_invalid: bool = False,
    backend: str = "local",
    ray: RayEvalOptions | None = None,
    per_image: bool = False,
) -> dict[str, Any]:
    """Top-1/Top-5 of every artifact on ``data``, and each non-float artifact's agreement with float.

    ``backend="local"`` decodes in ``workers`` processes and runs the engines here; ``"ray"`` sends
    shards of image paths to Ray workers (``ray`` says where and how, see
    :mod:`edgezoo.evaluate.ray_backend`). Both count the same per-image top-5 classes in dataset
    order, so they give the same document apart from its ``backend``, ``ray``, ``workers`` and timing.
    ``per_image`` adds every image's top-5 classes per artifact. Returns the results document (see
    docs/eval.md). Raises EdgezooError for bad data or artifacts, and for shards that failed on Ray.
    """
    if backend not in BACKENDS:
        raise EdgezooError(f"unknown backend '{backend}': choose from {', '.join(BACKENDS)}")
    if not artifacts:
        raise EdgezooError("nothing to evaluate: name a model or an artifact")
    spaces = {_classes(a) for a in artifacts}
    if len(spaces) > 1:
        raise EdgezooError("the artifacts have different classes; evaluate them separately")
    num_classes, synsets = spaces.pop()
    dataset: Dataset = load_dataset(
        data, fmt=fmt, labels=labels, num_classes=num_classes, synsets=synsets, skip_invalid=skip_invalid
    )
    chosen = balanced_subset(dataset.samples, limit) if limit is not None else dataset.samples

    ray_info: dict[str, Any] | None = None
    started = time.perf_counter()
    if backend == "ray":
        from edgezoo.evaluate.ray_backend import RayEvalOptions, predict_on_ray

        outcome = predict_on_ray(
            artifacts, [s.path for s in chosen], engine=engine, threads=threads, options=ray or RayEvalOptions()
        )
        engines, ray_info, n_workers = outcome.engines, outcome.info, outcome.info["workers"]
        predictions: Iterator[Prediction] = iter(outcome.predictions)
    else:
        predictor = ShardPredictor(artifacts, engine, threads)
        engines, n_workers = predictor.engines, default_workers() if workers is None else workers
        decoded = decode([s.path for s in chosen], predictor.specs, n_workers)
        predictions = track(
            predictor.predict(decoded), f"eval on {len(chosen)} images", total=len(chosen), unit="images"
        )
    runs = [_Run(a, e) for a, e in zip(artifacts, engines, strict=True)]

    unreadable: list[str] = []
    evaluated: list[Sample] = []
    for sample, (orders, error) in zip(chosen, predictions, strict=True):
        if orders is None:
            if not skip_invalid:
                raise EdgezooError(f"{error}; pass --skip-invalid to skip unreadable images")
            unreadable.append(str(error))
            continue
        evaluated.append(sample)
        for run, order in zip(runs, orders, strict=True):
            run.observe(order, sample.label)
    seconds = time.perf_counter() - started
    if not evaluated:
        raise EdgezooError(f"{data}: no image could be read")
    doc = _report(dataset, chosen, evaluated, unreadable, runs, limit, engine, seconds, n_workers)
    doc.update(backend=backend, ray=ray_info)
    if per_image:
        doc["dataset"]["images"] = [str(s.path.relative_to(dataset.root)) for s in evaluated]
        by_artifact = {str(r.artifact.onnx_path): r for r in runs}
        for result in (r for m in doc["models"] for r in m["results"]):
            result["top5_per_image"] = by_artifact[result["artifact"]].topk
    return doc


def _report(
    dataset: Dataset,
    chosen: list[Sample],
    evaluated: list[Sample],
    unreadable: list[str],
    runs: list[_Run],
    limit: int | None,
    engine: str,
    seconds: float,
    workers: int,
) -> dict[str, Any]:
    n = len(evaluated)
    models: dict[str, dict[str, Any]] = {}
    for run in runs:
        card = run.artifact.card
        entry = models.setdefault(run.artifact.model_name, {"model": run.artifact.model_name, "results": []})
        reference = next(
            (
                r
                for r in runs
                if r.artifact.model_name == run.artifact.model_name and r.artifact.card["precision"] == "fp32"
            ),
            None,
        )
        agree = None
        if reference is not None and reference is not run:
            agree = sum(a == b for a, b in zip(run.top1, reference.top1, strict=True))
        entry["results"].append(
            {
                "artifact": str(run.artifact.onnx_path),
                "precision": card.get("precision", "fp32"),
                "engine": run.engine,
                "weights": card.get("weights"),
                "images": n,
                "correct_top1": run.correct1,
                "correct_top5": run.correct5,
                "top1": _pct(run.correct1, n),
                "top5": _pct(run.correct5, n),
                "agreement_top1": _pct(agree, n) if agree is not None else None,
                "agreement_with": str(reference.artifact.onnx_path) if agree is not None else None,
                # A board recipe read from an RDK YAML: this int8 result estimates the board's.
                "note": ((card.get("quantization") or {}).get("config") or {}).get("rdk", {}).get("note"),
            }
        )
    subset = _subset_info(dataset.samples, chosen, limit)
    return {
        "edgezoo_eval": EVAL_FORMAT,
        "created": now_iso(),
        "command": command_line(),
        "versions": versions(),
        "dataset": {
            **dataset.to_dict(),
            "subset": subset,
            "subset_text": describe_subset(subset),
            "evaluated": n,
            "unreadable": len(unreadable),
            "unreadable_first": unreadable[0] if unreadable else None,
        },
        "engine": engine,
        "workers": workers,
        "seconds": round(seconds, 3),
        "images_per_s": round(n / seconds, 2) if seconds > 0 else None,
        "models": list(models.values()),
    }
