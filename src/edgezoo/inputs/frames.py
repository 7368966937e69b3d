"""A loaded image or a raw camera frame -> exactly the tensor an artifact's card asks for.

predict, eval and bench all feed models through :func:`to_model_input`, so an artifact sees the
same pixels whoever calls it. The card's ``input`` block decides everything:

========================  ==========  ======  ==========================  ============================
``format``                ``layout``  dtype   shape                       content
========================  ==========  ======  ==========================  ============================
``rgb_normalized``        NCHW/NHWC   float32 [N,3,H,W] / [N,H,W,3]     ``(pixel/255 - mean) / std``
``rgb``, ``bgr``          NHWC/NCHW   uint8   [N,H,W,3] / [N,3,H,W]     raw pixels, that channel order
``nv12``, ``i420``        NV12/I420   uint8   [N,H*3/2,W]               YUV 4:2:0 frame (BT.601)
========================  ==========  ======  ==========================  ============================

Geometry: images (and frames of another size than the model's) get the card's preprocessing
(resize the short side to ``size / crop_pct``, centre crop; or ``letterbox``). A raw frame that
already has the model's size is taken as the camera delivered it, with no resize or crop, as on a
device; an NV12 frame of that size and colour range goes to an NV12-input artifact byte for byte.

Colour for YUV inputs: BT.601; the card's ``colour`` string says ``full range`` (the default, as
the RDK toolchain assumes) or ``video range`` (16..235).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from edgezoo.errors import EdgezooError
from edgezoo.inputs.colour import DEFAULT_FULL_RANGE, FRAME_FORMATS, frame_to_rgb, rgb_to_i420, rgb_to_nv12
from edgezoo.inputs.preprocess import letterbox as letterbox_image
from edgezoo.inputs.preprocess import normalize, resize_crop

RGB_FORMATS = ("rgb_normalized", "rgb", "bgr")
FORMATS = (*RGB_FORMATS, *FRAME_FORMATS)
_ENCODE_FRAME = {"nv12": rgb_to_nv12, "i420": rgb_to_i420}


@dataclass(frozen=True)
class Frame:
    """A raw YUV 4:2:0 camera frame as stored: uint8 ``[H*3//2, W]`` in ``fmt`` (nv12 | i420)."""

    data: np.ndarray
    fmt: str = "nv12"
    full_range: bool = DEFAULT_FULL_RANGE

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of the picture."""
        return self.data.shape[0] // 3 * 2, self.data.shape[1]

    def to_rgb(self) -> np.ndarray:
        return frame_to_rgb(self.data, self.fmt, full_range=self.full_range)  # type: ignore[arg-type]


def parse_colour(colour: str | None) -> bool:
    """``full_range`` from a card's colour string ("BT.601 full range", "BT.601 video range")."""
    if colour is None:
        return DEFAULT_FULL_RANGE
    text = colour.lower()
    if "601" not in text:
        raise EdgezooError(f"unsupported colour standard '{colour}': edgezoo converts BT.601 frames only")
    if "video" in text or "limited" in text or "tv" in text.split():
        return False
    if "full" in text:
        return True
    return DEFAULT_FULL_RANGE


@dataclass(frozen=True)
class InputSpec:
    """What an artifact's card says its input is, checked and in one place."""

    format: str
    layout: str
    dtype: np.dtype
    height: int
    width: int
    batch: int | None  # None: any batch size
    full_range: bool
    crop_pct: float
    interpolation: str
    mean: tuple[float, float, float] | None
    std: tuple[float, float, float] | None
    name: str | None = None

    @classmethod
    def from_card(cls, card: dict[str, Any]) -> InputSpec:
        spec = card.get("input")
        what = f"artifact card of {card.get('model', '?')}"
        if not isinstance(spec, dict):
            raise EdgezooError(f"{what}: no input block")
        fmt = str(spec.get("format", "rgb_normalized")).lower()
        if fmt not in FORMATS:
            raise EdgezooError(f"{what}: input format '{fmt}' is not supported ({', '.join(FORMATS)})")
        dtype = np.dtype(spec.get("dtype", "float32"))
        want = np.float32 if fmt == "rgb_normalized" else np.uint8
        if dtype != want:
            raise EdgezooError(f"{what}: input format {fmt} must be {np.dtype(want)}, the card says {dtype}")
        layout = str(spec.get("layout", "NV12" if fmt in FRAME_FORMATS else "NCHW")).upper()
        shape = list(spec.get("shape", []))
        height, width = _geometry(what, fmt, layout, shape)
        pre = card.get("preprocessing") or {}
        mean, std = pre.get("mean"), pre.get("std")
        if fmt == "rgb_normalized" and (mean is None or std is None):
            raise EdgezooError(f"{what}: float input needs preprocessing mean and std in the card")
        return cls(
            format=fmt,
            layout=layout,
            dtype=dtype,
            height=height,
            width=width,
            batch=None if isinstance(shape[0], str) else int(shape[0]),
            # Only YUV frames have a colour range to honour; RGB/BGR cards say "sRGB".
            full_range=parse_colour(spec.get("colour")) if fmt in FRAME_FORMATS else DEFAULT_FULL_RANGE,
            crop_pct=float(pre.get("crop_pct", 0.875)),
            interpolation=str(pre.get("interpolation", "bicubic")),
            mean=tuple(mean) if mean is not None else None,  # type: ignore[arg-type]
            std=tuple(std) if std is not None else None,  # type: ignore[arg-type]
            name=spec.get("name"),
        )

    @property
    def size(self) -> tuple[int, int]:
        return self.height, self.width


def _geometry(what: str, fmt: str, layout: str, shape: list[Any]) -> tuple[int, int]:
    """Picture (H, W) from the card's shape and layout."""
    try:
        if fmt in FRAME_FORMATS:
            if layout not in ("NV12", "I420", "NHW"):
                raise ValueError(f"layout {layout} for a {fmt} input")
            rows, width = int(shape[-2]), int(shape[-1])
            if rows % 3:
                raise ValueError(f"{rows} rows is not H*3/2")
            return rows // 3 * 2, width
        if layout == "NCHW" and int(shape[1]) == 3:
            return int(shape[2]), int(shape[3])
        if layout == "NHWC" and int(shape[3]) == 3:
            return int(shape[1]), int(shape[2])
        raise ValueError(f"layout {layout} with shape {shape}")
    except (ValueError, IndexError, TypeError) as exc:
        raise EdgezooError(f"{what}: cannot read the input geometry ({exc})") from None


def spec_of(card_or_spec: dict[str, Any] | InputSpec) -> InputSpec:
    return card_or_spec if isinstance(card_or_spec, InputSpec) else InputSpec.from_card(card_or_spec)


def to_model_input(
    item: Image.Image | np.ndarray | Frame,
    card: dict[str, Any] | InputSpec,
    *,
    letterbox: bool = False,
) -> np.ndarray:
    """A loaded image (PIL, or HxWx3 uint8 RGB) or a raw :class:`Frame` -> the artifact's input, batch 1.

    ``card`` is the artifact's card (or an :class:`InputSpec` made from it once, for speed).
    """
    spec = spec_of(card)
    if isinstance(item, Frame):
        if item.size == spec.size and item.fmt == spec.format and item.full_range == spec.full_range:
            return np.ascontiguousarray(item.data)[None]  # the camera's bytes, as the device gets them
        rgb = item.to_rgb()
        hwc = rgb if rgb.shape[:2] == spec.size else _geometry_of(rgb, spec, letterbox)
    else:
        hwc = _geometry_of(item, spec, letterbox)
    return _encode(hwc, spec)


def _geometry_of(img: Image.Image | np.ndarray, spec: InputSpec, letterbox: bool) -> np.ndarray:
    if letterbox:
        return letterbox_image(img, spec.size, interpolation=spec.interpolation)
    return resize_crop(img, spec.size, spec.crop_pct, spec.interpolation)


def _encode(hwc: np.ndarray, spec: InputSpec) -> np.ndarray:
    """HxWx3 uint8 RGB at the model's size -> the card's format and layout, batch 1."""
    if spec.format == "rgb_normalized":
        x = normalize(hwc, spec.mean, spec.std)  # type: ignore[arg-type]  # [1,3,H,W]
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if spec.layout == "NHWC" else x
    if spec.format in RGB_FORMATS:
        a = hwc[..., ::-1] if spec.format == "bgr" else hwc
        a = a.transpose(2, 0, 1) if spec.layout == "NCHW" else a
        return np.ascontiguousarray(a)[None]
    return _ENCODE_FRAME[spec.format](hwc, spec.full_range)[None]


def stack(inputs: list[np.ndarray]) -> np.ndarray:
    """Batch-1 inputs -> one batch, for artifacts with a dynamic batch axis."""
    return inputs[0] if len(inputs) == 1 else np.concatenate(inputs, axis=0)
