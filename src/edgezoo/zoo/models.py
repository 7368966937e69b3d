"""Building a model from its card: timm's ``create_model`` plus one of three weight sources."""

from __future__ import annotations

from pathlib import Path

import timm
import torch

from edgezoo.errors import EdgezooError
from edgezoo.fsutil import sha256_file
from edgezoo.zoo.registry import ModelCard
from edgezoo.zoo.weights import (
    WeightsSource,
    load_into,
    map_by_order,
    packaged_weights_path,
    read_checkpoint,
)

DEFAULT_SEED = 0


def _create(card: ModelCard, pretrained: bool) -> torch.nn.Module:
    # exportable=True makes timm pick export-friendly layers (plain attention instead of
    # scaled_dot_product_attention), which every ONNX opset from 11 up can express.
    if pretrained:  # _from_hub explains hub failures itself
        return timm.create_model(card.timm_name, pretrained=True, exportable=True)
    try:
        return timm.create_model(card.timm_name, pretrained=False, exportable=True)
    except Exception as exc:  # a registered name timm cannot build as asked: one line, not a traceback
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise EdgezooError(f"{card.timm_name}: timm cannot build this model ({reason})") from exc


def _hub_reachable(card: ModelCard) -> bool:
    """True when the weights are cached or the hub's host resolves.

    Without this, an offline machine spends about a minute in the hub client's retries before
    the same failure.
    """
    import os
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import try_to_load_from_cache

    repo = f"timm/{card.timm_name}"
    if any(isinstance(try_to_load_from_cache(repo, f), str) for f in ("model.safetensors", "pytorch_model.bin")):
        return True
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return False
    return True


def _from_hub(card: ModelCard) -> torch.nn.Module:
    hint = "pass --weights PATH to use a local checkpoint"
    if not _hub_reachable(card):
        raise EdgezooError(
            f"{card.timm_name}: pretrained weights are not cached and the hub is unreachable (offline?); {hint}"
        )
    try:
        return _create(card, pretrained=True)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise EdgezooError(f"{card.timm_name}: cannot fetch pretrained weights ({reason}); {hint}") from exc


def build_model(
    card: ModelCard,
    weights: str | Path | None = None,
    pretrained: bool = False,
    seed: int = DEFAULT_SEED,
) -> tuple[torch.nn.Module, WeightsSource]:
    """The eval-mode model for ``card`` and where its weights came from.

    ``weights`` (a local checkpoint) wins over ``pretrained``; with neither, the weights are
    random but seeded, so two runs give the same model.
    """
    if weights is not None and pretrained:
        raise EdgezooError("--weights and --pretrained exclude each other")
    if weights is not None:
        path = Path(weights)
        state = read_checkpoint(path)
        model = _create(card, pretrained=False)
        load_into(model, state, path)
        source = WeightsSource("file", str(path), sha256_file(path))
    elif pretrained and card.packaged_weights and (path := packaged_weights_path(card.packaged_weights)):
        model = _create(card, pretrained=False)
        state = read_checkpoint(path)
        if card.packaged_weights.get("key_map") == "by_order":
            state = map_by_order(model, state, path)
        load_into(model, state, path)
        source = WeightsSource(
            "package", f"{card.packaged_weights['package']}/{card.packaged_weights['file']}", sha256_file(path)
        )
    elif pretrained:
        model = _from_hub(card)
        source = WeightsSource("timm-hub", card.timm_name)
    else:
        torch.manual_seed(seed)
        model = _create(card, pretrained=False)
        source = WeightsSource("random", seed=seed)
    return model.eval(), source


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_gmacs(model: torch.nn.Module, input_size: tuple[int, int, int]) -> float:
    """Multiply-accumulates of one forward pass (conv and matmul), in billions."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, *input_size))
    return counter.get_total_flops() / 2e9


def reparameterized(model: torch.nn.Module) -> torch.nn.Module:
    """The deploy-time form: FastViT's parallel branches folded into single convolutions.

    A no-op for models without reparameterizable blocks. Returns a new module; the input is kept
    intact so that exports can be checked against it.
    """
    from timm.utils.model import reparameterize_model

    return reparameterize_model(model, inplace=False).eval()
