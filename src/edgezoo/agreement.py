"""How closely two models' outputs agree: logit cosine, top-1 agreement, top-5 overlap, and how near a
tie the reference was wherever top-1 changed.

Shared by every stage that compares a model with its source: ``export`` (ONNX against PyTorch),
``quantize`` (int8 against float) and the benchmarks, so it sits below all of them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

TOP_K = 5
# Float-margin bands (top-1 minus top-2 softmax probability) for agreement by band: a near-tie's top-1
# flips under any change of arithmetic, a clear image's should not flip at all.
MARGIN_BANDS = (0.0, 0.05, 0.1, 0.2)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two tensors, flattened, in float64 (logits can be nearly parallel)."""
    a64, b64 = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a64 @ b64 / max(np.linalg.norm(a64) * np.linalg.norm(b64), 1e-30))


def top2_margin(logits: np.ndarray) -> float:
    """Softmax probability of the top class minus that of the runner-up: how near a tie it is."""
    z = logits.ravel().astype(np.float64)
    p = np.exp(z - z.max())
    top = np.sort(p / p.sum())[-2:]
    return float(top[1] - top[0])


def compare_logits(reference: Sequence[np.ndarray], quantized: Sequence[np.ndarray]) -> dict[str, Any]:
    """End-to-end agreement of two models' logits over the same inputs (batch 1 each).

    Beside the agreement it says how close to a tie the reference was where top-1 changed: a
    change on an image whose top two classes were 0.02 apart is noise any arithmetic change makes
    (bf16 does it too); one on a confident image is a real defect.
    """
    cos = [cosine(r, q) for r, q in zip(reference, quantized, strict=True)]
    top1 = [int(np.argmax(r)) == int(np.argmax(q)) for r, q in zip(reference, quantized, strict=True)]
    margins = [top2_margin(r) for r in reference]
    changed = [m for m, same in zip(margins, top1, strict=True) if not same]
    overlap = [
        len(set(np.argsort(r.ravel())[-TOP_K:]) & set(np.argsort(q.ravel())[-TOP_K:])) / TOP_K
        for r, q in zip(reference, quantized, strict=True)
    ]
    n = len(cos)
    return {
        "images": n,
        "logit_cosine_mean": float(np.mean(cos)) if n else None,
        "logit_cosine_min": float(np.min(cos)) if n else None,
        "top1_agreement": float(np.mean(top1)) if n else None,
        "top1_disagreements": int(n - sum(top1)),
        "top5_overlap": float(np.mean(overlap)) if n else None,
        "float_margin_median": float(np.median(margins)) if n else None,
        "disagreements_float_margin_max": max(changed) if changed else None,
        "top1_agreement_by_float_margin": agreement_by_margin(margins, top1),
    }


def agreement_by_margin(margins: Sequence[float], same: Sequence[bool]) -> list[dict[str, Any]]:
    """Top-1 agreement among the images whose float margin is at least each of ``MARGIN_BANDS``
    (bands with no image left out): separates near-tie flips from changes on clear images."""
    m, agree = np.asarray(margins, dtype=np.float64), np.asarray(same, dtype=bool)
    return [
        {
            "float_margin_at_least": band,
            "images": int((m >= band).sum()),
            "top1_agreement": float(agree[m >= band].mean()),
        }
        for band in MARGIN_BANDS
        if (m >= band).any()
    ]


def band_at(fidelity: dict[str, Any], margin: float) -> dict[str, Any] | None:
    """The ``top1_agreement_by_float_margin`` entry of a :func:`compare_logits` result for ``margin``
    (one of ``MARGIN_BANDS``), or None where no image's float margin reaches it."""
    bands = fidelity.get("top1_agreement_by_float_margin") or []
    return next((b for b in bands if b["float_margin_at_least"] == margin), None)


def wilson_interval(p: float | None, n: int | None, z: float = 1.96) -> list[float] | None:
    """95% Wilson score interval of an agreement ``p`` over ``n`` independent images. A bar such as
    0.99 on 44 images is met or missed by a single near-threshold image; the interval says how much
    the count can tell. Views cropped from one photo are not independent trials, so for them the
    interval is narrower than the truth."""
    if p is None or not n:
        return None
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)]
