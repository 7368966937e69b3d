"""RGB <-> NV12 / I420 camera frames, BT.601, as the RDK boards feed them to a deployed model.

Why this module exists: the RDK model zoo compiles its classifiers with ``input_type_rt: nv12`` and
``input_type_train: rgb``, so the deployed model takes a YUV 4:2:0 frame and converts it to RGB
inside the graph. To reproduce that accuracy on a CPU we must produce the same frames and undo them
with the same numbers; :func:`yuv_coefficients` is the single source of those numbers for the
ONNX graph that edgezoo builds.

Layouts (``H`` and ``W`` must be even; both are stored as a uint8 array of shape ``[H*3//2, W]``):

* NV12: ``H`` rows of Y, then ``H/2`` rows of interleaved chroma ``U V U V ...`` (the RDK layout).
* I420: the Y plane, then the U plane (``H/2 x W/2``), then the V plane, back to back.

Chroma: going down, each 2x2 block of U and V is averaged (chroma sited at the block centre).
Going up, each chroma sample is repeated over its 2x2 block (nearest neighbour), which is what
OpenCV's ``COLOR_YUV2RGB_NV12`` does and what a graph can do with a cheap ``Resize(nearest)``.

Range default, ``full_range=True`` (Y, U, V all in 0..255, the JPEG/JFIF matrix). Evidence:

* The Horizon/D-Robotics toolchain (hb_mapper ``input_parameters``) has ``input_space_and_range``
  with values ``regular`` ("the common yuv420 format, range [0,255]") and ``bt601_video``
  ("[16,235]"); the default is ``regular`` and the docs say not to set it unless needed
  (D-Robotics/rdk_doc, docs/07_Advanced_development/04_toolchain_development/intermediate/
  ptq_process.md).
* The FastViT and EfficientFormer configs of D-Robotics/rdk_model_zoo (demos/classification/*/yaml)
  do not set it, so those deployed models expect full-range NV12, as a full-range ISP produces.

Caveat, and why ``full_range=False`` exists: the zoo's Python samples make NV12 from files with
OpenCV's ``cv2.COLOR_BGR2YUV_I420`` (samples/_shared/image.py), which is BT.601 *video* range
(Y = 16 + 0.257 R + 0.504 G + 0.098 B, chroma taken from the top-left pixel of each 2x2 block).
The newer zoo samples say so and compile with ``input_space_and_range: bt601_video``
(samples/vision/mobilenetv2/conversion/ptq_x5.yaml). A model compiled with the default but fed
OpenCV-made frames sees slightly washed-out colours; ``full_range=False`` reproduces that input.
Our video-range matrix is the exact BT.601 one; OpenCV and Horizon round it to three decimals,
which moves a value by at most one code.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Literal

import numpy as np

from edgezoo.errors import EdgezooError

FrameFormat = Literal["nv12", "i420"]
FRAME_FORMATS: tuple[str, ...] = ("nv12", "i420")
DEFAULT_FULL_RANGE = True

# --- BT.601 numbers: every matrix below follows from these (ITU-R BT.601-7, section 2.5). ---
BT601_KR = 0.299
BT601_KB = 0.114
# Code values spanned by Y and by U/V, and the offsets added after the matrix.
_SPAN = {True: (255.0, 255.0), False: (219.0, 224.0)}
_OFFSET = {True: (0.0, 128.0, 128.0), False: (16.0, 128.0, 128.0)}


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.float64)
    a[np.abs(a) < 1e-12] = 0.0  # the inverse leaves rounding dust where BT.601 has exact zeros
    a.setflags(write=False)
    return a


def _rgb_to_yuv_matrix(full_range: bool) -> np.ndarray:
    kr, kb = BT601_KR, BT601_KB
    kg = 1.0 - kr - kb
    unit = np.array(
        [
            [kr, kg, kb],  # Y'
            [-kr / (2 * (1 - kb)), -kg / (2 * (1 - kb)), 0.5],  # Cb = (B' - Y') / 1.772
            [0.5, -kg / (2 * (1 - kr)), -kb / (2 * (1 - kr))],  # Cr = (R' - Y') / 1.402
        ]
    )
    y_span, c_span = _SPAN[full_range]
    return unit * (np.array([y_span, c_span, c_span]) / 255.0)[:, None]


#: ``yuv = RGB_TO_YUV[full_range] @ rgb + YUV_OFFSET[full_range]`` (all in 0..255 code values).
RGB_TO_YUV: dict[bool, np.ndarray] = {fr: _frozen(_rgb_to_yuv_matrix(fr)) for fr in (True, False)}
#: ``rgb = YUV_TO_RGB[full_range] @ (yuv - YUV_OFFSET[full_range])``: the exact inverse.
YUV_TO_RGB: dict[bool, np.ndarray] = {fr: _frozen(np.linalg.inv(RGB_TO_YUV[fr])) for fr in (True, False)}
YUV_OFFSET: dict[bool, np.ndarray] = {fr: _frozen(_OFFSET[fr]) for fr in (True, False)}


def yuv_coefficients(full_range: bool = DEFAULT_FULL_RANGE) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(matrix 3x3, offset 3)`` with ``rgb = matrix @ (yuv - offset)`` on 0..255 values.

    The in-graph YUV->RGB conversion must use these numbers so that it undoes :func:`rgb_to_nv12`
    exactly; copies are returned so a caller cannot change the module's tables.
    """
    return YUV_TO_RGB[bool(full_range)].copy(), YUV_OFFSET[bool(full_range)].copy()


def rgb_to_yuv_coefficients(full_range: bool = DEFAULT_FULL_RANGE) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(matrix 3x3, offset 3)`` with ``yuv = matrix @ rgb + offset`` on 0..255 values."""
    return RGB_TO_YUV[bool(full_range)].copy(), YUV_OFFSET[bool(full_range)].copy()


# --------------------------------------------------------------------------------------------
# Planes
# --------------------------------------------------------------------------------------------


def _check_even(height: int, width: int, what: str) -> None:
    if height <= 0 or width <= 0 or height % 2 or width % 2:
        raise EdgezooError(
            f"{what}: size {width}x{height} (WxH) is not allowed; YUV 4:2:0 needs a positive, even width and height"
        )


def _check_rgb(rgb: np.ndarray) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        shape = getattr(rgb, "shape", None)
        dtype = getattr(rgb, "dtype", type(rgb).__name__)
        raise ValueError(f"expected an HxWx3 uint8 RGB array, got shape {shape} and dtype {dtype}")
    _check_even(rgb.shape[0], rgb.shape[1], "RGB image")


def _to_uint8(a: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def _rgb_to_planes(rgb: np.ndarray, full_range: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Y (HxW), U and V (H/2 x W/2), each uint8."""
    _check_rgb(rgb)
    h, w = rgb.shape[:2]
    matrix, offset = RGB_TO_YUV[bool(full_range)], YUV_OFFSET[bool(full_range)]
    yuv = rgb.astype(np.float64) @ matrix.T + offset
    # The matrix is linear, so averaging U/V over 2x2 equals converting the averaged RGB.
    chroma = yuv[..., 1:].reshape(h // 2, 2, w // 2, 2, 2).mean(axis=(1, 3))
    return _to_uint8(yuv[..., 0]), _to_uint8(chroma[..., 0]), _to_uint8(chroma[..., 1])


def _planes_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray, full_range: bool) -> np.ndarray:
    matrix, offset = YUV_TO_RGB[bool(full_range)], YUV_OFFSET[bool(full_range)]
    chroma = np.stack([u, v], axis=-1).repeat(2, axis=0).repeat(2, axis=1)  # nearest upsampling
    yuv = np.concatenate([y[..., None], chroma], axis=-1).astype(np.float64)
    return _to_uint8((yuv - offset) @ matrix.T)


def _frame_dims(frame: np.ndarray, fmt: str) -> tuple[int, int]:
    """Image (H, W) of a ``[H*3//2, W]`` frame array; rejects anything else."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 2:
        shape = getattr(frame, "shape", None)
        raise ValueError(f"expected a 2-D uint8 {fmt} frame of shape [H*3//2, W], got shape {shape}")
    rows, w = frame.shape
    if rows % 3:
        raise EdgezooError(f"{fmt} frame: {rows} rows is not H*3/2 for any even H")
    h = rows // 3 * 2
    _check_even(h, w, f"{fmt} frame")
    return h, w


# --------------------------------------------------------------------------------------------
# Public conversions
# --------------------------------------------------------------------------------------------


def rgb_to_nv12(rgb: np.ndarray, full_range: bool = DEFAULT_FULL_RANGE) -> np.ndarray:
    """HxWx3 uint8 RGB -> NV12 uint8 ``[H*3//2, W]`` (Y rows, then interleaved U,V rows)."""
    y, u, v = _rgb_to_planes(rgb, full_range)
    h, w = y.shape
    out = np.empty((h * 3 // 2, w), dtype=np.uint8)
    out[:h] = y
    out[h:] = np.stack([u, v], axis=-1).reshape(h // 2, w)
    return out


def nv12_to_rgb(nv12: np.ndarray, full_range: bool = DEFAULT_FULL_RANGE) -> np.ndarray:
    """NV12 uint8 ``[H*3//2, W]`` -> HxWx3 uint8 RGB (chroma upsampled by nearest neighbour)."""
    h, w = _frame_dims(nv12, "nv12")
    uv = nv12[h:].reshape(h // 2, w // 2, 2)
    return _planes_to_rgb(nv12[:h], uv[..., 0], uv[..., 1], full_range)


def rgb_to_i420(rgb: np.ndarray, full_range: bool = DEFAULT_FULL_RANGE) -> np.ndarray:
    """HxWx3 uint8 RGB -> I420 uint8 ``[H*3//2, W]`` (Y plane, U plane, V plane)."""
    y, u, v = _rgb_to_planes(rgb, full_range)
    h, w = y.shape
    return np.concatenate([y.ravel(), u.ravel(), v.ravel()]).reshape(h * 3 // 2, w)


def i420_to_rgb(i420: np.ndarray, full_range: bool = DEFAULT_FULL_RANGE) -> np.ndarray:
    """I420 uint8 ``[H*3//2, W]`` -> HxWx3 uint8 RGB (chroma upsampled by nearest neighbour)."""
    h, w = _frame_dims(i420, "i420")
    flat = i420.ravel()
    n, q = h * w, h * w // 4
    u = flat[n : n + q].reshape(h // 2, w // 2)
    v = flat[n + q :].reshape(h // 2, w // 2)
    return _planes_to_rgb(flat[:n].reshape(h, w), u, v, full_range)


_ENCODE = {"nv12": rgb_to_nv12, "i420": rgb_to_i420}
_DECODE = {"nv12": nv12_to_rgb, "i420": i420_to_rgb}


def _check_fmt(fmt: str, path: Path) -> str:
    if fmt not in FRAME_FORMATS:
        choices = ", ".join(FRAME_FORMATS)
        raise EdgezooError(f"{path}: unknown frame format {fmt!r}; expected one of {choices}")
    return fmt


def read_frame(
    path: str | Path,
    width: int,
    height: int,
    fmt: FrameFormat = "nv12",
    *,
    full_range: bool = DEFAULT_FULL_RANGE,
) -> np.ndarray:
    """Read a raw headerless NV12/I420 frame file and return HxWx3 uint8 RGB.

    A raw frame carries no size, so the size given must account for every byte: anything else
    means the wrong width/height/format and would silently decode to garbage.
    """
    return frame_to_rgb(read_frame_raw(path, width, height, fmt), fmt, full_range=full_range)


def frame_to_rgb(frame: np.ndarray, fmt: FrameFormat = "nv12", *, full_range: bool = DEFAULT_FULL_RANGE) -> np.ndarray:
    """A ``[H*3//2, W]`` NV12/I420 array -> HxWx3 uint8 RGB."""
    if fmt not in FRAME_FORMATS:
        raise EdgezooError(f"unknown frame format {fmt!r}; expected one of {', '.join(FRAME_FORMATS)}")
    return _DECODE[fmt](frame, full_range)


def read_frame_raw(path: str | Path, width: int, height: int, fmt: FrameFormat = "nv12") -> np.ndarray:
    """Read a raw NV12/I420 frame file as stored: uint8 ``[H*3//2, W]``, not converted.

    For artifacts that take the frame itself (NV12 input with the conversion inside the graph).
    """
    path = Path(path)
    _check_fmt(fmt, path)
    _check_even(height, width, str(path))
    expected = width * height * 3 // 2
    try:
        actual = path.stat().st_size
    except FileNotFoundError:
        raise EdgezooError(f"{path}: no such file") from None
    except OSError as e:
        raise EdgezooError(f"{path}: cannot read ({e.strerror or e})") from None
    if not path.is_file():
        raise EdgezooError(f"{path}: not a regular file")
    if actual != expected:
        raise EdgezooError(
            f"{path}: a {width}x{height} {fmt} frame is {expected} bytes (W*H*3/2), the file has {actual}"
        )
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise EdgezooError(f"{path}: cannot read ({e.strerror or e})") from None
    return data.reshape(height * 3 // 2, width)


def write_frame(
    path: str | Path,
    rgb: np.ndarray,
    fmt: FrameFormat = "nv12",
    *,
    full_range: bool = DEFAULT_FULL_RANGE,
) -> Path:
    """Write HxWx3 uint8 RGB as a raw NV12/I420 frame; atomic, so readers never see half a file."""
    path = Path(path)
    _check_fmt(fmt, path)
    data = _ENCODE[fmt](rgb, full_range)  # validate before touching the disk
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise EdgezooError(f"{path}: cannot write ({e.strerror or e})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.tobytes())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise EdgezooError(f"{path}: cannot write ({e.strerror or e})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
