"""Export: a timm model (reparameterized) to ONNX, checked against PyTorch.

Takes a card and weights from :mod:`edgezoo.zoo`; gives an artifact (``.onnx`` plus its JSON card,
:mod:`edgezoo.artifact`) whose logits match PyTorch's, with FastViT's grouped convolutions
rewritten exactly into depthwise ones (``rewrite``).
"""

from edgezoo._lazy import lazy_api

_API = {
    "export": "to_onnx",
    "check_against_torch": "to_onnx",
    "rewrite_grouped_conv": "rewrite",
}
__all__ = sorted(_API)
__getattr__ = lazy_api(__name__, _API)
