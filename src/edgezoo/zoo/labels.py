"""Class names for a model's outputs: ImageNet-1k from timm's tables, stored with edgezoo (no download).

The table (``data/imagenet1k_labels.tsv``) is timm's ``ImageNetInfo("imagenet-1k")`` written out, so that
``predict`` and ``eval`` run where timm cannot be imported: timm imports PyTorch, which a device that only
runs artifacts does not need (PyPI's aarch64 PyTorch is a CUDA build of several GB). Measured on an
emulated Cortex-A55 without PyTorch: eval's label lookup failed on the missing timm before.
tests/test_labels.py checks the table against timm wherever timm is installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class ClassLabel:
    index: int
    label: str  # human name, e.g. "espresso"
    synset: str | None = None  # WordNet id, e.g. "n07920052"


def data_lines(name: str) -> list[str]:
    """The lines of one of edgezoo's class tables (``zoo/data/NAME``), without blanks and ``#`` comments."""
    text = resources.files("edgezoo.zoo").joinpath("data", name).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


@cache
def imagenet_labels() -> tuple[ClassLabel, ...]:
    """The 1000 ImageNet-1k classes in model output order (timm's class index: sorted WordNet ids)."""
    rows = [line.split("\t", 1) for line in data_lines("imagenet1k_labels.tsv")]
    return tuple(ClassLabel(i, label, synset) for i, (synset, label) in enumerate(rows))


def labels_for(card: dict[str, Any], num_classes: int) -> tuple[ClassLabel, ...]:
    """Names for an artifact's ``num_classes`` outputs; "class N" when the label set is unknown."""
    labels = (card.get("model_card") or {}).get("labels")
    if labels is None:  # cards without a model card (hand-made ones): go by the output size
        labels = "imagenet-1k" if num_classes == 1000 else None
    if labels == "imagenet-1k" and num_classes == 1000:
        return imagenet_labels()
    return tuple(ClassLabel(i, f"class {i}") for i in range(num_classes))
