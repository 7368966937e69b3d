"""edgezoo: efficient vision transformers from timm, exported, quantized and measured on any CPU."""

from edgezoo._compat import ensure_torchvision_importable

ensure_torchvision_importable()

__version__ = "0.1.0"
