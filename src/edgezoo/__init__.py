"""edgezoo: efficient vision transformers from timm, exported, quantized and measured on any CPU."""

from edgezoo._compat import install

install()  # the torchvision fix, applied when torchvision is first imported (see _compat)

__version__ = "0.1.0"
