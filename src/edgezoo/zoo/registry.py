"""The zoo: one model card per model, read from data files, and cards derived from timm for the rest.

A card is everything the pipeline needs to know about a model (timm name, deployment input size,
preprocessing, parameter count, reference results and where they come from). Code never branches on
a model's name: it reads the card.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml

from edgezoo.errors import EdgezooError

_CARD_PACKAGE = "edgezoo.zoo.cards"


@dataclass(frozen=True)
class ModelCard:
    """What edgezoo knows about one classifier: how to build it, feed it and judge it."""

    name: str
    timm_name: str
    family: str
    input_size: tuple[int, int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    crop_pct: float
    interpolation: str
    num_classes: int
    rdk_name: str | None = None  # the model's name in the RDK Model Zoo, when it is one of the zoo's
    labels: str = "imagenet-1k"
    params: int | None = None
    gmacs: float | None = None
    paper: dict[str, str] = field(default_factory=dict)
    source: str | None = None
    license: str | None = None
    quantize_config: str | None = None
    packaged_weights: dict[str, str] | None = None
    reference: dict[str, dict[str, Any]] = field(default_factory=dict)
    zoo: bool = True  # False for cards derived from timm's pretrained config

    @property
    def img_size(self) -> tuple[int, int]:
        """(H, W) of the deployed input."""
        return self.input_size[1], self.input_size[2]

    def preprocessing(self) -> dict[str, Any]:
        """The preprocessing block that artifact cards carry, so a device needs nothing else."""
        return {
            "resize": "short side to size / crop_pct, then centre crop",
            "crop_pct": self.crop_pct,
            "interpolation": self.interpolation,
            "mean": list(self.mean),
            "std": list(self.std),
            "scale": "pixels / 255 before mean/std",
            "colour": "RGB",
        }

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        d["mean"] = list(self.mean)
        d["std"] = list(self.std)
        return d


_FIELDS = set(ModelCard.__dataclass_fields__)


def _card_from_mapping(data: dict[str, Any], origin: str) -> ModelCard:
    unknown = set(data) - _FIELDS
    if unknown:
        raise EdgezooError(f"{origin}: unknown card field(s) {sorted(unknown)}")
    try:
        data = dict(data)
        data["input_size"] = tuple(int(v) for v in data["input_size"])
        data["mean"] = tuple(float(v) for v in data["mean"])
        data["std"] = tuple(float(v) for v in data["std"])
        return ModelCard(**data)
    except (KeyError, TypeError, ValueError) as exc:
        raise EdgezooError(f"{origin}: invalid model card ({exc})") from exc


def card_from_dict(data: dict[str, Any], origin: str) -> ModelCard:
    """A card from its ``to_dict()`` form, e.g. the copy an artifact card embeds."""
    return _card_from_mapping(data, origin)


@cache
def zoo_cards() -> dict[str, ModelCard]:
    """The cards shipped with the package, by name, in the order ``cards/zoo.yaml`` gives."""
    folder = resources.files(_CARD_PACKAGE)
    order = yaml.safe_load(folder.joinpath("zoo.yaml").read_text(encoding="utf-8"))["models"]
    cards: dict[str, ModelCard] = {}
    for name in order:
        data = yaml.safe_load(folder.joinpath(f"{name}.yaml").read_text(encoding="utf-8"))
        cards[name] = _card_from_mapping(data, f"cards/{name}.yaml")
    return cards


def _timm_card(name: str) -> ModelCard | None:
    """Derive a card from timm's pretrained config for a classifier outside the zoo."""
    import timm

    if not timm.is_model(name):
        return None
    cfg = timm.models.get_pretrained_cfg(name)
    cfg_dict = cfg.to_dict() if cfg is not None else {}
    timm_name = f"{cfg.architecture}.{cfg.tag}" if cfg is not None and cfg.tag else name
    input_size = tuple(cfg_dict.get("input_size", (3, 224, 224)))
    return ModelCard(
        name=name.replace("/", "_"),
        timm_name=timm_name,
        family=timm_name.split(".")[0].split("_")[0],
        input_size=input_size,  # type: ignore[arg-type]
        mean=tuple(cfg_dict.get("mean", (0.485, 0.456, 0.406))),  # type: ignore[arg-type]
        std=tuple(cfg_dict.get("std", (0.229, 0.224, 0.225))),  # type: ignore[arg-type]
        crop_pct=float(cfg_dict.get("crop_pct", 0.875)),
        interpolation=str(cfg_dict.get("interpolation", "bicubic")),
        num_classes=int(cfg_dict.get("num_classes", 1000)),
        labels="imagenet-1k" if cfg_dict.get("num_classes", 1000) == 1000 else "unknown",
        license=cfg_dict.get("license"),
        source=cfg_dict.get("origin_url") or None,
        zoo=False,
    )


def suggest(name: str, limit: int = 3) -> list[str]:
    """Closest known names: the zoo first, then timm's registry."""
    import timm

    zoo = list(zoo_cards())
    close = difflib.get_close_matches(name, zoo, n=limit, cutoff=0.5)
    if len(close) < limit:
        more = difflib.get_close_matches(name, timm.list_models(), n=limit, cutoff=0.6)
        close += [m for m in more if m not in close][: limit - len(close)]
    return close


def get_card(name: str) -> ModelCard:
    """The card for a zoo model, or one derived from timm for any other timm classifier."""
    cards = zoo_cards()
    if name in cards:
        return cards[name]
    card = _timm_card(name)
    if card is None:
        hint = suggest(name)
        tail = f"; did you mean {', '.join(hint)}?" if hint else "; `edgezoo list` shows the zoo"
        raise EdgezooError(f"unknown model '{name}'{tail}")
    return card
