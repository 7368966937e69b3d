"""Reading weights: user checkpoints (untrusted), timm's hub, and weights shipped in a PyPI package.

User checkpoints never go through pickle's arbitrary code path: safetensors, or ``torch.load`` with
``weights_only=True``.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from edgezoo.errors import EdgezooError

_TORCH_SUFFIXES = {".pth", ".pt", ".bin", ".ckpt"}
_NESTED_KEYS = ("state_dict", "model", "model_state_dict", "state_dict_ema", "model_ema")
_PREFIXES = ("module.", "model.", "_orig_mod.")


@dataclass(frozen=True)
class WeightsSource:
    """Where a model's weights came from, as artifact cards report it."""

    kind: str  # "random" | "file" | "timm-hub" | "package"
    path: str | None = None
    sha256: str | None = None
    seed: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    def describe(self) -> str:
        if self.kind == "random":
            return f"random (seed {self.seed})"
        return f"{self.kind}: {self.path}" if self.path else self.kind


def _unwrap(obj: object, path: Path) -> dict[str, torch.Tensor]:
    """Find the state_dict inside common checkpoint wrappers and strip wrapper prefixes."""
    while isinstance(obj, Mapping) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
        inner = next((obj[k] for k in _NESTED_KEYS if k in obj and isinstance(obj[k], Mapping)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, Mapping):
        raise EdgezooError(f"{path}: not a checkpoint (expected a state_dict, found {type(obj).__name__})")
    state = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not state:
        raise EdgezooError(f"{path}: checkpoint holds no tensors")
    for prefix in _PREFIXES:
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a state_dict from .safetensors or a torch file, refusing pickled code."""
    path = Path(path)
    if not path.is_file():
        raise EdgezooError(f"{path}: checkpoint file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".safetensors":
            from safetensors.torch import load_file

            obj: object = load_file(str(path), device="cpu")
        elif suffix in _TORCH_SUFFIXES:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        else:
            raise EdgezooError(f"{path}: unsupported checkpoint type '{suffix}' (use .safetensors, .pth, .pt or .bin)")
    except EdgezooError:
        raise
    except Exception as exc:
        raise EdgezooError(f"{path}: {_explain_load_error(exc)}") from exc
    return _unwrap(obj, path)


def _explain_load_error(exc: Exception) -> str:
    """Turn torch's multi-paragraph load errors into one line a user can act on."""
    text = str(exc)
    if match := re.search(r"GLOBAL (\S+)", text):
        return (
            f"checkpoint holds pickled Python objects ({match.group(1)}) that safe loading refuses;"
            " re-save it as a plain state_dict or as .safetensors"
        )
    if "Weights only load failed" in text or "PytorchStreamReader" in text or "zip archive" in text:
        return "not a readable checkpoint (corrupt, truncated, or not a PyTorch/safetensors file)"
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return f"cannot read checkpoint ({first[:200]})"


def _preview(keys: list[str], n: int = 3) -> str:
    return ", ".join(keys[:n]) + (", ..." if len(keys) > n else "")


def load_into(model: torch.nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    """Load strictly, or refuse with the counts and the first few keys that do not fit."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise EdgezooError(
            f"{path}: checkpoint does not fit this architecture: {len(missing)} missing keys"
            f" ({_preview(missing)}), {len(unexpected)} unexpected keys ({_preview(unexpected)})"
        )
    wrong = [k for k, v in state.items() if tuple(v.shape) != tuple(own[k].shape)]
    if wrong:
        k = wrong[0]
        raise EdgezooError(
            f"{path}: checkpoint does not fit this architecture: {len(wrong)} tensors of the wrong shape"
            f" (first: {k} {tuple(state[k].shape)} vs {tuple(own[k].shape)})"
        )
    model.load_state_dict(state, strict=True)


def packaged_weights_path(spec: Mapping[str, str]) -> Path | None:
    """The weights file that a PyPI package ships, or None when the package is not installed."""
    found = importlib.util.find_spec(spec["package"])
    if found is None or found.origin is None:
        return None
    path = Path(found.origin).parent / spec["file"]
    return path if path.is_file() else None


def map_by_order(model: torch.nn.Module, state: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """Rename a state_dict whose tensors follow the model's own order under other names.

    Used for checkpoints of the same network written by another codebase (EfficientNet-PyTorch
    for tf_efficientnet_lite0); every shape is checked, so a wrong pairing cannot slip through.
    """
    own = model.state_dict()
    if len(own) != len(state):
        raise EdgezooError(f"{path}: {len(state)} tensors, the model has {len(own)}")
    mapped: dict[str, torch.Tensor] = {}
    for (name, ref), (src_name, tensor) in zip(own.items(), state.items(), strict=True):
        if tuple(ref.shape) != tuple(tensor.shape):
            raise EdgezooError(
                f"{path}: tensor order does not match at {src_name} {tuple(tensor.shape)} -> {name} {tuple(ref.shape)}"
            )
        mapped[name] = tensor
    return mapped
