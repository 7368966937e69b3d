"""``edgezoo predict``: top-k ImageNet classes for photos and raw camera frames, in any engine.

The pipeline per file: load (any image format, or a raw NV12/I420 frame) -> :func:`to_model_input`
(the card decides the tensor) -> engine -> softmax -> top-k. Decoding runs ahead in a thread pool
while the engine works, so a folder costs little more than its inference time; artifacts with a
dynamic batch axis get real batches. A file that cannot be read becomes a :class:`Failure` and the
rest go on.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PIL import Image

from edgezoo.artifact import Artifact, is_artifact_path, read_artifact
from edgezoo.errors import EdgezooError
from edgezoo.inputs.colour import DEFAULT_FULL_RANGE, read_frame_raw
from edgezoo.inputs.frames import Frame, InputSpec, stack, to_model_input
from edgezoo.inputs.preprocess import IMAGE_SUFFIXES, find_images, load_image
from edgezoo.runtime.engines import Session, has_dynamic_batch, input_spec
from edgezoo.zoo.labels import ClassLabel, labels_for

#: Raw camera frame files by suffix: the frame layout each holds (``.yuv`` is I420, as ffmpeg's
#: ``-pix_fmt yuv420p`` writes it).
FRAME_SUFFIXES: dict[str, str] = {".nv12": "nv12", ".yuv": "i420", ".i420": "i420"}
INPUT_SUFFIXES: frozenset[str] = frozenset(IMAGE_SUFFIXES | FRAME_SUFFIXES.keys())
CACHE_ENV = "EDGEZOO_CACHE"
T = TypeVar("T")
R = TypeVar("R")


# --------------------------------------------------------------------------------------------
# MODEL | ARTIFACT -> artifact (exported on the fly into a cache)
# --------------------------------------------------------------------------------------------


def cache_root() -> Path:
    """Where exports made on the fly live: ``$EDGEZOO_CACHE`` or ``~/.cache/edgezoo/artifacts``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "edgezoo" / "artifacts"


def _wanted_weights(card: Any, weights: Path | None, pretrained: bool) -> tuple[str, dict[str, Any]]:
    """A cache folder name for the requested weights, and what a matching artifact card must say."""
    from edgezoo.fsutil import sha256_file
    from edgezoo.zoo.models import DEFAULT_SEED
    from edgezoo.zoo.weights import packaged_weights_path

    if weights is not None:
        if not Path(weights).is_file():
            raise EdgezooError(f"{weights}: checkpoint file not found")
        digest = sha256_file(Path(weights))
        return f"file-{digest[:16]}", {"kind": "file", "sha256": digest}
    if pretrained:
        if card.packaged_weights and (path := packaged_weights_path(card.packaged_weights)):
            return "package", {"kind": "package", "sha256": sha256_file(path)}
        return "timm-hub", {"kind": "timm-hub"}
    return f"random-seed{DEFAULT_SEED}", {"kind": "random", "seed": DEFAULT_SEED}


def _cache_hit(path: Path, card: Any, wanted: dict[str, Any]) -> Artifact | None:
    """The cached artifact if it is intact and was made from the same model, weights and edgezoo."""
    import edgezoo
    from edgezoo.artifact import sha256_bytes

    if not path.is_file():
        return None
    try:
        artifact = read_artifact(path)
        c = artifact.card
        same = (
            c.get("model") == card.name
            and c.get("timm_name") == card.timm_name
            and c.get("precision") == "fp32"
            and list(c["input"]["shape"][-2:]) == list(card.img_size)
            and all(c.get("weights", {}).get(k) == v for k, v in wanted.items())
            and c.get("versions", {}).get("edgezoo") == edgezoo.__version__
            and c.get("sha256") == sha256_bytes(path.read_bytes())
        )
    except (EdgezooError, OSError, KeyError, TypeError):
        return None
    return artifact if same else None


def resolve_artifact(
    target: str,
    *,
    weights: Path | None = None,
    pretrained: bool = False,
    cache_dir: Path | None = None,
    log: Callable[[str], None] | None = None,
) -> Artifact:
    """An artifact path is opened as is; a model name is exported once into the cache and reused."""
    if is_artifact_path(target):
        if weights is not None or pretrained:
            raise EdgezooError(f"{target}: --weights/--pretrained choose weights for a MODEL name, not an artifact")
        return read_artifact(target)
    from edgezoo.export.to_onnx import export
    from edgezoo.zoo.registry import get_card

    card = get_card(target)
    tag, wanted = _wanted_weights(card, weights, pretrained)
    folder = (cache_dir or cache_root()) / card.name / tag
    path = folder / f"{card.name}.onnx"
    hit = _cache_hit(path, card, wanted)
    if hit is not None:
        return hit
    if log:
        log(f"exporting {card.name} ({tag}) into {folder}")
    artifact, _ = export(card, weights=weights, pretrained=pretrained, out_dir=folder)
    return artifact


# --------------------------------------------------------------------------------------------
# Files -> model inputs
# --------------------------------------------------------------------------------------------


def parse_frame_size(text: str) -> tuple[int, int]:
    """``"640x480"`` -> (640, 480), width first as cameras say it."""
    parts = text.lower().replace("*", "x").split("x")
    try:
        w, h = (int(p) for p in parts)
    except ValueError:
        raise EdgezooError(f"--frame-size '{text}': expected WIDTHxHEIGHT, e.g. 640x480") from None
    if w <= 0 or h <= 0 or w % 2 or h % 2:
        raise EdgezooError(f"--frame-size '{text}': YUV 4:2:0 frames need a positive, even width and height")
    return w, h


def collect_inputs(args: Iterable[str | Path]) -> list[Path]:
    """Files as given, folders expanded to the images and frames inside (sorted, hidden skipped).

    A path that does not exist is kept: it fails later, alone, like any unreadable file.
    """
    paths: list[Path] = []
    for arg in args:
        p = Path(arg)
        paths += find_images(p, suffixes=INPUT_SUFFIXES) if p.is_dir() else [p]
    return paths


def load_input(
    path: Path, frame_size: tuple[int, int] | None = None, full_range: bool = DEFAULT_FULL_RANGE
) -> Image.Image | Frame:
    """A photo as upright RGB, or a raw frame as stored (``frame_size`` is (W, H))."""
    fmt = FRAME_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        return load_image(path)
    if frame_size is None:
        raise EdgezooError(f"{path}: a raw {fmt} frame needs --frame-size WIDTHxHEIGHT")
    return Frame(read_frame_raw(path, frame_size[0], frame_size[1], fmt), fmt, full_range)  # type: ignore[arg-type]


def ahead(fn: Callable[[T], R], items: Iterable[T], workers: int, depth: int) -> Iterator[R]:
    """``map(fn, items)`` in order, computed by ``workers`` threads at most ``depth`` items ahead.

    Unlike ``Executor.map``, which submits everything at once, memory stays bounded on big folders.
    """
    it = iter(items)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="edgezoo-load") as pool:
        pending = deque(pool.submit(fn, item) for _, item in zip(range(max(1, depth)), it, strict=False))
        while pending:
            done = pending.popleft()
            for item in it:
                pending.append(pool.submit(fn, item))
                break
            yield done.result()


# --------------------------------------------------------------------------------------------
# Prediction
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TopClass:
    index: int
    label: str
    prob: float
    synset: str | None = None


@dataclass(frozen=True)
class Prediction:
    image: str
    topk: list[TopClass]
    ms: float  # engine time for this input (a batch's time divided by its size)

    def to_dict(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "topk": [
                {"index": t.index, "label": t.label, "prob": round(t.prob, 6)}
                | ({"synset": t.synset} if t.synset else {})
                for t in self.topk
            ],
            "ms": round(self.ms, 3),
        }


@dataclass(frozen=True)
class Failure:
    image: str
    error: str  # one line, naming the file


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64)
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def top_classes(probs: np.ndarray, k: int, labels: tuple[ClassLabel, ...]) -> list[TopClass]:
    order = np.argsort(-probs, kind="stable")[:k]
    return [TopClass(int(i), labels[i].label, float(probs[i]), labels[i].synset) for i in order]


class Predictor:
    """Runs files through one session; call it with paths, get Predictions and Failures in order."""

    def __init__(
        self,
        session: Session,
        *,
        topk: int = 5,
        letterbox: bool = False,
        frame_size: tuple[int, int] | None = None,
        full_range: bool = DEFAULT_FULL_RANGE,
        batch_size: int = 8,
        workers: int | None = None,
    ) -> None:
        if topk < 1:
            raise EdgezooError(f"--topk must be at least 1, got {topk}")
        if batch_size < 1:
            raise EdgezooError(f"--batch-size must be at least 1, got {batch_size}")
        self.session = session
        self.spec = InputSpec.from_card(session.artifact.card)
        self.topk = topk
        self.letterbox = letterbox
        self.frame_size = frame_size
        self.full_range = full_range
        self.batch_size = batch_size if has_dynamic_batch(session.artifact) else 1
        self.workers = workers or min(4, os.cpu_count() or 1)
        self._labels: tuple[ClassLabel, ...] | None = None

    def warm_up(self) -> None:
        """One untimed run, so that lazy engine set-up does not land in the first image's time."""
        shape, dtype = input_spec(self.session.artifact)
        self._classify(np.zeros(shape, dtype=dtype))

    def _classify(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        """Class probabilities for a batch, and the engine's time for it in ms."""
        start = time.perf_counter()
        logits = np.asarray(self.session.run(x))
        ms = (time.perf_counter() - start) * 1000.0
        logits = logits.reshape(x.shape[0], -1)
        if self._labels is None:
            self._labels = labels_for(self.session.artifact.card, logits.shape[1])
        return softmax(logits), ms

    def _prepare(self, path: Path) -> tuple[Path, np.ndarray | None, str | None]:
        try:
            item = load_input(path, self.frame_size, self.full_range)
            return path, to_model_input(item, self.spec, letterbox=self.letterbox), None
        except EdgezooError as exc:
            return path, None, str(exc)
        except (OSError, ValueError, MemoryError) as exc:  # anything a hostile file still manages
            return path, None, f"{path}: cannot use it ({type(exc).__name__}: {exc})"

    def __call__(self, paths: list[Path]) -> Iterator[Prediction | Failure]:
        batch: list[tuple[Path, np.ndarray]] = []
        depth = 2 * self.workers + self.batch_size
        for path, x, error in ahead(self._prepare, paths, self.workers, depth):
            if error is not None:
                yield from self._run(batch)
                batch = []
                yield Failure(str(path), error)
                continue
            batch.append((path, x))  # type: ignore[arg-type]
            if len(batch) == self.batch_size:
                yield from self._run(batch)
                batch = []
        yield from self._run(batch)

    def _run(self, batch: list[tuple[Path, np.ndarray]]) -> Iterator[Prediction]:
        if not batch:
            return
        probs, ms = self._classify(stack([b[1] for b in batch]))
        assert self._labels is not None
        k = min(self.topk, probs.shape[1])
        for (path, _), p in zip(batch, probs, strict=True):
            yield Prediction(str(path), top_classes(p, k, self._labels), ms / len(batch))


def weights_note(artifact: Artifact) -> str:
    """What the artifact's weights are, in a few words for output lines and JSON."""
    return str((artifact.card.get("weights") or {}).get("kind", "unknown"))
