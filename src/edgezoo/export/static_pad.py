"""Freeze TensorFlow-style "same" padding at the export size, so the ONNX graph holds constant pads.

timm's ``tf_*`` models (EfficientNet-Lite, tf_efficientnet, tf_mobilenetv3, tf_mixnet, ...) use
``Conv2dSame`` / ``MaxPool2dSame`` / ``AvgPool2dSame``: each forward computes its padding from the
input's height and width (``ceil(x / stride)``). Traced, that becomes Shape -> Cast -> Div -> Ceil ->
... -> Pad arithmetic in the graph. ONNX Runtime evaluates the raw graph correctly, but onnxslim
0.1.98's constant folding of it does not when a stride-2 layer sees an odd size: on
tf_efficientnet_lite1 at 240 px the 5x5 stride-2 convolution on the 15x15 map got pads (1, 1)
instead of (2, 2), and the export check fell to cosine 0.9926 (lite2 at 260 px likewise). lite0 at
224 px never meets an odd size, which is why it exported fine.

An edgezoo export has a fixed height and width (only the batch axis may be dynamic), so the padding
is a constant of the export: this module runs one forward pass at the export size, records each
layer's padding with timm's own ``pad_same_arg``, and swaps the layer for its static equivalent
(a plain layer with symmetric padding, or a constant pad in front of it when the padding is
asymmetric). That is the approach of timm's ``Conv2dSameExport``, applied after the model is built.
The export check compares against the unmodified model, so it covers the swap.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _same_layers() -> tuple[type[nn.Module], ...]:
    from timm.layers.conv2d_same import Conv2dSame, Conv2dSameExport
    from timm.layers.pool2d_same import AvgPool2dSame, MaxPool2dSame

    return Conv2dSame, Conv2dSameExport, MaxPool2dSame, AvgPool2dSame


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


class _PaddedConv2d(nn.Conv2d):
    """A convolution that pads its input by a constant amount first: the asymmetric "same" case.

    Padding inside the layer's own forward keeps the ONNX node names the model had (``/conv_stem/Conv``),
    which configs address by name (tf_efficientnet_lite0.yaml keeps its stem's output in float).
    """

    def __init__(self, source: nn.Conv2d, pad: list[int]) -> None:
        super().__init__(
            source.in_channels,
            source.out_channels,
            source.kernel_size,
            stride=source.stride,
            padding=0,
            dilation=source.dilation,
            groups=source.groups,
            bias=source.bias is not None,
        )
        self.weight, self.bias = source.weight, source.bias
        self.pad = tuple(pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, self.pad))


class _PaddedMaxPool2d(nn.MaxPool2d):
    """Max pooling after a constant -inf pad (what MaxPool2dSame pads with), names kept as above."""

    def __init__(self, source: nn.MaxPool2d, pad: list[int]) -> None:
        super().__init__(source.kernel_size, source.stride, 0, source.dilation, ceil_mode=source.ceil_mode)
        self.pad = tuple(pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, self.pad, value=float("-inf")))


class _PaddedAvgPool2d(nn.AvgPool2d):
    """AvgPool2dSame: zeros padded first, then averaged over the whole window, zeros included."""

    def __init__(self, source: nn.AvgPool2d, pad: list[int]) -> None:
        super().__init__(source.kernel_size, source.stride, 0, source.ceil_mode, count_include_pad=True)
        self.pad = tuple(pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, self.pad))


def _static(module: nn.Module, pad: list[int]) -> nn.Module:
    """A layer without input-dependent padding that computes what ``module`` did at the recorded size.

    ``pad`` is F.pad's order: (left, right, top, bottom).
    """
    left, right, top, bottom = pad
    symmetric = left == right and top == bottom
    if isinstance(module, nn.Conv2d):
        if not symmetric:
            return _PaddedConv2d(module, pad)
        conv = nn.Conv2d(
            module.in_channels,
            module.out_channels,
            module.kernel_size,
            stride=module.stride,
            padding=(top, left),
            dilation=module.dilation,
            groups=module.groups,
            bias=module.bias is not None,
        )
        conv.weight = module.weight
        conv.bias = module.bias
        return conv
    if isinstance(module, nn.MaxPool2d):
        if not symmetric:
            return _PaddedMaxPool2d(module, pad)
        # MaxPool2d's own padding is -inf, exactly what MaxPool2dSame pads with; it may not exceed
        # half the kernel, which "same" padding never does.
        return nn.MaxPool2d(
            module.kernel_size, module.stride, padding=(top, left), dilation=module.dilation, ceil_mode=module.ceil_mode
        )
    return _PaddedAvgPool2d(module, pad)


def _pad_of(module: nn.Module, x: torch.Tensor) -> list[int]:
    from timm.layers.padding import pad_same_arg

    kernel = _pair(module.weight.shape[-2:] if isinstance(module, nn.Conv2d) else module.kernel_size)
    stride = _pair(module.stride)
    dilation = _pair(getattr(module, "dilation", 1))
    return [int(p) for p in pad_same_arg(list(x.shape[-2:]), list(kernel), list(stride), list(dilation))]


def freeze_same_padding(model: nn.Module, example: torch.Tensor) -> list[str]:
    """Replace, in place, every dynamic "same"-padding layer by its static form at ``example``'s size.

    Returns the names of the layers replaced (empty for models without such layers). Call it on the
    copy that is exported, never on the model the export is checked against.
    """
    kinds = _same_layers()
    found = {name: m for name, m in model.named_modules() if isinstance(m, kinds)}
    if not found:
        return []
    pads: dict[str, list[int]] = {}
    hooks = [
        m.register_forward_pre_hook(lambda m, args, name=name: pads.__setitem__(name, _pad_of(m, args[0])))
        for name, m in found.items()
    ]
    try:
        with torch.no_grad():
            model(example)
    finally:
        for h in hooks:
            h.remove()
    for name, module in found.items():
        if name not in pads:  # not on the forward path (e.g. an unused head): leave it as it is
            continue
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, attr, _static(module, pads[name]))
    return sorted(pads)
