"""One shard of an evaluation: decode a list of image paths and give each artifact's top-5 classes.

This is the unit every backend runs. The local backend feeds :meth:`ShardPredictor.predict` images
decoded by its process pool; a Ray worker calls :meth:`ShardPredictor.predict_shard` on the paths it
is sent and decodes them itself. Both use the same decoding, the same engines and the same top-k
rule, and the driver counts hits the same way for both, so the backends cannot disagree on a score.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from edgezoo.artifact import Artifact
from edgezoo.errors import EdgezooError
from edgezoo.inputs.frames import to_model_input
from edgezoo.inputs.preprocess import load_image
from edgezoo.runtime.engines import SessionOptions, open_session

TOP_K = 5

Decoded = tuple[list[np.ndarray] | None, str | None]  # inputs per distinct spec, or the error
# Top-k class indices of each artifact, in the order the artifacts were given, or why the image
# could not be read.
Prediction = tuple[list[list[int]] | None, str | None]


def _input_key(card: dict[str, Any]) -> str:
    """Artifacts with equal keys take identical input: decode and convert once for all of them."""
    return json.dumps([card["input"], card.get("preprocessing")], sort_keys=True)


def input_specs(artifacts: Sequence[Artifact]) -> tuple[list[dict[str, Any]], list[int]]:
    """The distinct input specs of ``artifacts`` and, for each artifact, the index of its spec."""
    keys: list[str] = []
    specs: list[dict[str, Any]] = []
    index: list[int] = []
    for a in artifacts:
        key = _input_key(a.card)
        if key not in keys:
            keys.append(key)
            specs.append({k: a.card[k] for k in ("input", "preprocessing", "file", "model_card") if k in a.card})
        index.append(keys.index(key))
    return specs, index


def decode_shard(paths: Sequence[str], specs: list[dict[str, Any]]) -> list[Decoded]:
    """Load each image once and convert it for every distinct input spec; unreadable ones say why."""
    out: list[Decoded] = []
    for p in paths:
        try:
            image = load_image(p)
            out.append(([to_model_input(image, s) for s in specs], None))
        except EdgezooError as exc:
            out.append((None, str(exc)))
    return out


def top_k(logits: np.ndarray, k: int = TOP_K) -> list[int]:
    """The k best classes, best first; ties go to the lower class index."""
    scores = np.asarray(logits, dtype=np.float64).reshape(-1)
    return [int(i) for i in np.argsort(-scores, kind="stable")[:k]]


class ShardPredictor:
    """Sessions for a set of artifacts, opened once, that turn decoded images into top-k classes."""

    def __init__(self, artifacts: Sequence[Artifact], engine: str = "auto", threads: int | None = None) -> None:
        self.artifacts = list(artifacts)
        self.specs, self.spec_index = input_specs(self.artifacts)
        self.sessions = [open_session(a, engine, SessionOptions(threads=threads)) for a in self.artifacts]

    @property
    def engines(self) -> list[str]:
        """The engine that actually runs each artifact (``auto`` resolved)."""
        return [s.engine for s in self.sessions]

    def predict(self, decoded: Iterable[Decoded]) -> Iterator[Prediction]:
        """Top-k per artifact for each decoded image, in the order given."""
        for inputs, error in decoded:
            if inputs is None:
                yield None, error
                continue
            yield [top_k(s.run(inputs[i])) for s, i in zip(self.sessions, self.spec_index, strict=True)], None

    def predict_shard(self, paths: Sequence[str]) -> list[Prediction]:
        """Decode ``paths`` here and predict them: what a remote worker does with one shard."""
        return list(self.predict(decode_shard(paths, self.specs)))
