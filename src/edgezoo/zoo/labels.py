"""Class names for a model's outputs: ImageNet-1k from timm's bundled tables (no download)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any


@dataclass(frozen=True)
class ClassLabel:
    index: int
    label: str  # human name, e.g. "espresso"
    synset: str | None = None  # WordNet id, e.g. "n07920052"


@cache
def imagenet_labels() -> tuple[ClassLabel, ...]:
    """The 1000 ImageNet-1k classes in model output order (timm's ``ImageNetInfo``, shipped with timm)."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo("imagenet-1k")
    return tuple(
        ClassLabel(i, info.index_to_description(i), info.index_to_label_name(i)) for i in range(info.num_classes())
    )


def labels_for(card: dict[str, Any], num_classes: int) -> tuple[ClassLabel, ...]:
    """Names for an artifact's ``num_classes`` outputs; "class N" when the label set is unknown."""
    labels = (card.get("model_card") or {}).get("labels")
    if labels is None:  # cards without a model card (hand-made ones): go by the output size
        labels = "imagenet-1k" if num_classes == 1000 else None
    if labels == "imagenet-1k" and num_classes == 1000:
        return imagenet_labels()
    return tuple(ClassLabel(i, f"class {i}") for i in range(num_classes))
