"""The zoo: what models there are and how to build them.

Takes a model name (a card shipped in ``cards/``, or any timm classifier) and gives its card
(input size, preprocessing, reference figures), the timm model with real or random weights, and
class labels. Everything after this stage reads the card, never timm's config directly.
Add a model: a YAML file in ``cards/`` and its name in ``cards/zoo.yaml``.
"""

from edgezoo._lazy import lazy_api

_API = {
    "ModelCard": "registry",
    "get_card": "registry",
    "zoo_cards": "registry",
    "unavailable_models": "registry",
    "UnavailableModel": "registry",
    "suggest": "registry",
    "card_from_dict": "registry",
    "build_model": "models",
    "reparameterized": "models",
    "count_params": "models",
    "WeightsSource": "weights",
    "read_checkpoint": "weights",
    "imagenet_labels": "labels",
}
__all__ = sorted(_API)
__getattr__ = lazy_api(__name__, _API)
