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
def _zoo_index() -> dict[str, Any]:
    return yaml.safe_load(resources.files(_CARD_PACKAGE).joinpath("zoo.yaml").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class UnavailableModel:
    """A model of the RDK Model Zoo that edgezoo cannot build, kept so `edgezoo list` can say why."""

    rdk_name: str
    family: str
    reason: str
    rdk_x5: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": None,
            "rdk_name": self.rdk_name,
            "family": self.family,
            "available": False,
            "reason": self.reason,
            "reference": {"rdk_x5": dict(self.rdk_x5)},
        }


@cache
def unavailable_models() -> list[UnavailableModel]:
    """The ``unavailable:`` entries of ``cards/zoo.yaml``: zoo models with no timm architecture."""
    entries = _zoo_index().get("unavailable") or []
    try:
        return [UnavailableModel(**entry) for entry in entries]
    except TypeError as exc:
        raise EdgezooError(f"cards/zoo.yaml: invalid 'unavailable' entry ({exc})") from exc


@cache
def zoo_cards() -> dict[str, ModelCard]:
    """The cards shipped with the package, by name, in the order ``cards/zoo.yaml`` gives."""
    folder = resources.files(_CARD_PACKAGE)
    order = _zoo_index()["models"]
    cards: dict[str, ModelCard] = {}
    for name in order:
        data = yaml.safe_load(folder.joinpath(f"{name}.yaml").read_text(encoding="utf-8"))
        cards[name] = _card_from_mapping(data, f"cards/{name}.yaml")
    return cards


@cache
def _packaged_weights() -> dict[str, dict[str, str]]:
    """PyPI packages that ship real weights for card-less timm models (``data/packaged_weights.yaml``)."""
    text = resources.files("edgezoo.zoo").joinpath("data", "packaged_weights.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text) or {}


def _pretrained_cfg(name: str) -> Any:
    """timm's pretrained config for ``name`` (``arch`` or ``arch.tag``), or a one-line error for a bad tag."""
    import timm

    arch, _, tag = name.partition(".")
    try:
        return timm.models.get_pretrained_cfg(name)
    except RuntimeError as exc:  # timm: "Invalid pretrained tag (...) for arch."
        tags = [t.partition(".")[2] for t in timm.list_pretrained(f"{arch}.*")]
        close = difflib.get_close_matches(tag, tags, n=3, cutoff=0.4)
        known = close or tags[:5]
        hint = (
            f"; did you mean {', '.join(f'{arch}.{t}' for t in known)}?"
            if known
            else f"; timm has no pretrained weights for {arch} (use the bare name for random weights)"
        )
        raise EdgezooError(f"unknown pretrained tag '{tag}' for timm model {arch}{hint}") from exc


def _timm_card(name: str) -> ModelCard | None:
    """Derive a card from timm's pretrained config for a classifier outside the zoo."""
    import timm

    if not name or not timm.is_model(name.partition(".")[0]):
        return None
    cfg = _pretrained_cfg(name)
    cfg_dict = cfg.to_dict() if cfg is not None else {}
    timm_name = f"{cfg.architecture}.{cfg.tag}" if cfg is not None and cfg.tag else name
    # The size timm's pretrained config gives (240 for tf_efficientnet_lite1, 260 for lite2, 384 for
    # some ViTs): the size the weights were trained and evaluated at, so the default export size.
    input_size = tuple(cfg_dict.get("input_size", (3, 224, 224)))
    num_classes = int(cfg_dict.get("num_classes", 1000) or 0)
    if num_classes <= 0:
        raise EdgezooError(
            f"{timm_name}: these weights have no classifier head (num_classes 0, a feature extractor);"
            " pick a classification tag or the bare architecture name"
        )
    return ModelCard(
        name=name.replace("/", "_"),
        timm_name=timm_name,
        family=timm_name.split(".")[0].split("_")[0],
        input_size=input_size,  # type: ignore[arg-type]
        mean=tuple(cfg_dict.get("mean", (0.485, 0.456, 0.406))),  # type: ignore[arg-type]
        std=tuple(cfg_dict.get("std", (0.229, 0.224, 0.225))),  # type: ignore[arg-type]
        crop_pct=float(cfg_dict.get("crop_pct", 0.875)),
        interpolation=str(cfg_dict.get("interpolation", "bicubic")),
        num_classes=num_classes,
        labels="imagenet-1k" if num_classes == 1000 else "unknown",
        license=cfg_dict.get("license"),
        source=cfg_dict.get("origin_url") or None,
        packaged_weights=_packaged_weights().get(timm_name),
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
    arch = name.partition(".")[0]
    if arch in cards and cards[arch].timm_name == name:  # a zoo model named with its own tag
        return cards[arch]
    by_rdk_name = {c.rdk_name.lower(): c for c in cards.values() if c.rdk_name}
    if name.lower() in by_rdk_name:  # the RDK Model Zoo's own name, e.g. EfficientViT_MSRA_m5
        return by_rdk_name[name.lower()]
    for missing in unavailable_models():
        if name.lower() == missing.rdk_name.lower():
            why = f"is in the RDK Model Zoo, not available here: {missing.reason}"
            raise EdgezooError(f"'{name}' ({missing.rdk_name}) {why}")
    card = _timm_card(name)
    if card is None:
        hint = suggest(name.partition(".")[0] or name)  # a tag never helps find the architecture
        tail = f"; did you mean {', '.join(hint)}?" if hint else "; `edgezoo list` shows the zoo"
        raise EdgezooError(f"unknown model '{name}'{tail}")
    return card
