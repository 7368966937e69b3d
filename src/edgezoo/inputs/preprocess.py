"""Images as people have them -> the float tensor a timm classifier expects.

Evaluation, prediction and INT8 calibration all go through :func:`prepare`, so a model is measured,
calibrated and used on identical pixels. The geometry reproduces timm's eval transform
(``timm.data.transforms_factory.transforms_imagenet_eval`` with ``crop_mode='center'``) on Pillow
images, so accuracy here matches the numbers on timm's model cards; only Pillow and NumPy are used.

Real-world files are messy: phone JPEGs rotated by an EXIF tag, PNGs with alpha or 16-bit samples,
palette GIF-style images, CMYK print files, 100-megapixel panoramas. :func:`load_image` turns all of
them into plain 8-bit RGB, and turns every failure into one :class:`EdgezooError` line naming the
file.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, JpegImagePlugin

from edgezoo.errors import EdgezooError

IMAGE_SUFFIXES: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})

# Formats Pillow may open. A closed list keeps rarely used, less hardened decoders (and Ghostscript
# for EPS) away from user files. "JPEG" also opens phone MPO files (a JpegImageFile subclass).
_FORMATS = ("JPEG", "PNG", "BMP", "DIB", "WEBP", "TIFF", "GIF", "PPM")

# Interpolation names as timm's pretrained configs spell them.
INTERPOLATIONS: dict[str, Image.Resampling] = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}

# What a broken or hostile file can make Pillow raise while decoding.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error)
_WHITE = (255, 255, 255)
# Modes that can be reduced before conversion to RGB. Not P/1 (Pillow resizes those by nearest
# neighbour) and not I/I;16/F, whose scaling to 8 bit looks at the original value range.
_REDUCE_EARLY = frozenset({"L", "RGB", "LA", "RGBA", "CMYK", "YCbCr"})


def _fail(path: str | Path, problem: str) -> EdgezooError:
    return EdgezooError(f"{path}: {' '.join(str(problem).split())}")  # always one line


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def load_image(path: str | Path, max_side: int | None = 4096) -> Image.Image:
    """Open any common image file as an upright 8-bit RGB Pillow image.

    ``max_side`` bounds the longer side so that huge photos cannot exhaust memory: JPEGs are decoded
    directly at 1/2, 1/4 or 1/8 scale (``Image.draft``), other formats are reduced after decoding.
    ``None`` keeps the full size. Pillow's decompression-bomb limit stays in force: above
    ``Image.MAX_IMAGE_PIXELS`` (89 Mpx) Pillow warns, above twice that we refuse the file. The warning
    is left to the caller to filter: muting it here would need process-wide warning state, which is
    not thread-safe for parallel loaders.
    """
    path = Path(path)
    if not path.exists():
        raise _fail(path, "no such file")
    if path.is_dir():
        raise _fail(path, "is a folder, not an image")
    if path.stat().st_size == 0:
        raise _fail(path, "empty file, not an image")
    if max_side is not None and max_side < 1:
        raise ValueError(f"max_side must be positive or None, got {max_side}")
    try:
        with Image.open(path, formats=_FORMATS) as im:
            _draft_jpeg(im, max_side)
            im.load()
            _upright(im)
            if max_side is not None and im.mode in _REDUCE_EARLY:
                im.thumbnail((max_side, max_side), Image.Resampling.BICUBIC)  # before RGB: less memory
            rgb = _to_rgb(im, path)
    except Image.DecompressionBombError as e:
        raise _fail(path, f"refused: too many pixels, could be a decompression bomb ({e})") from None
    except Image.UnidentifiedImageError:
        raise _fail(path, f"not an image, or not a supported format ({', '.join(_FORMATS)})") from None
    except MemoryError:
        raise _fail(path, "not enough memory to decode this image; lower max_side") from None
    except PermissionError:
        raise _fail(path, "permission denied") from None
    except _DECODE_ERRORS as e:
        raise _fail(path, f"corrupt or truncated image ({e})") from None
    if max_side is not None and max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side), Image.Resampling.BICUBIC)
    return rgb


def _draft_jpeg(im: Image.Image, max_side: int | None) -> None:
    """Let the JPEG decoder work at 1/2, 1/4 or 1/8 scale, never below the ``max_side`` box."""
    if max_side is None or not isinstance(im, JpegImagePlugin.JpegImageFile) or max(im.size) <= max_side:
        return
    w, h = im.size
    scale = max_side / max(w, h)
    im.draft(None, (max(1, round(w * scale)), max(1, round(h * scale))))


def _upright(im: Image.Image) -> None:
    """Apply the EXIF Orientation tag in place, as every photo viewer does."""
    try:
        ImageOps.exif_transpose(im, in_place=True)
    except (*_DECODE_ERRORS, KeyError, TypeError):
        pass  # malformed EXIF: the pixels are still fine, show them as stored


def _to_rgb(im: Image.Image, path: Path) -> Image.Image:
    mode = im.mode
    if mode == "RGB":
        return im
    if mode.startswith("I;16") or mode in ("I", "F"):
        return Image.fromarray(_high_depth_to_uint8(np.asarray(im), mode), "L").convert("RGB")
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode in ("PA", "RGBa", "La"):  # premultiplied or palette alpha -> straight alpha
        im = im.convert("LA" if mode == "La" else "RGBA")
    if im.mode in ("RGBA", "LA"):
        # Transparent pixels often hold black; on white they look as the user sees them.
        rgba = im.convert("RGBA")
        out = Image.new("RGB", rgba.size, _WHITE)
        out.paste(rgba, mask=rgba.getchannel("A"))
        return out
    try:
        return im.convert("RGB")
    except ValueError as e:
        raise _fail(path, f"colour mode {mode} cannot be converted to RGB ({e})") from None


def _high_depth_to_uint8(a: np.ndarray, mode: str) -> np.ndarray:
    """Scale 16-bit, 32-bit integer and float samples to 0..255 instead of clipping them."""
    a = np.nan_to_num(a.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)  # exact up to 2**24
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if mode.startswith("I;16") or (mode == "I" and lo >= 0 and hi <= 65535):
        a = a / np.float32(257.0)  # 0..65535 -> 0..255 exactly
    elif mode == "F" and lo >= 0 and hi <= 1.0:
        a = a * np.float32(255.0)
    elif mode == "F" and lo >= 0 and hi <= 255.0:
        pass
    else:  # no known convention: stretch the data range
        a = (a - lo) * np.float32(255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------


def _resample(interpolation: str) -> Image.Resampling:
    try:
        return INTERPOLATIONS[interpolation]
    except KeyError:
        raise EdgezooError(
            f"unknown interpolation {interpolation!r}; expected one of {', '.join(INTERPOLATIONS)}"
        ) from None


def _check_size(size: Sequence[int]) -> tuple[int, int]:
    if len(size) != 2 or any(int(s) != s or s < 1 for s in size):
        raise EdgezooError(f"image size must be two positive integers (H, W), got {tuple(size)}")
    return int(size[0]), int(size[1])


def _as_pil(img: Image.Image | np.ndarray) -> Image.Image:
    if isinstance(img, Image.Image):
        return img if img.mode == "RGB" else img.convert("RGB")
    arr = np.asarray(img)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected a PIL image or an HxWx3 uint8 array, got {arr.dtype} {arr.shape}")
    return Image.fromarray(arr, "RGB")


def resize_crop(
    img: Image.Image | np.ndarray,
    size: tuple[int, int],
    crop_pct: float,
    interpolation: str = "bicubic",
) -> np.ndarray:
    """timm's eval geometry: resize to ``size / crop_pct`` keeping aspect, then centre-crop ``size``.

    ``size`` is (H, W). Returns HxWx3 uint8 RGB. The rounding copies timm/torchvision exactly:
    square targets resize the short side to ``floor(size / crop_pct)`` and the long side to
    ``int(short * long / short_in)``; non-square targets scale by the smaller of the two ratios with
    Python ``round`` (timm's ``ResizeKeepRatio``). A crop larger than the image is padded with black,
    as torchvision's ``CenterCrop`` does.
    """
    out_h, out_w = _check_size(size)
    if not (isinstance(crop_pct, int | float) and crop_pct > 0 and math.isfinite(crop_pct)):
        raise EdgezooError(f"crop_pct must be a positive number, got {crop_pct!r}")
    resample = _resample(interpolation)
    im = _as_pil(img)
    w, h = im.size
    scale_h, scale_w = math.floor(out_h / crop_pct), math.floor(out_w / crop_pct)
    if scale_h == scale_w:  # torchvision Resize(int): short side exact, long side truncated
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = scale_h, int(scale_h * long / short)
        new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    else:  # timm ResizeKeepRatio(longest=0): the smaller ratio wins
        ratio = min(h / scale_h, w / scale_w)
        new_h, new_w = round(h / ratio), round(w / ratio)
    resized = np.asarray(im.resize((new_w, new_h), resample))
    return _centre_crop(resized, out_h, out_w)


def _centre_crop(a: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    h, w = a.shape[:2]
    if out_h > h or out_w > w:  # torchvision pads (left/top get the smaller half) and then crops
        top, left = max(out_h - h, 0) // 2, max(out_w - w, 0) // 2
        padded = np.zeros((max(h, out_h), max(w, out_w), 3), dtype=np.uint8)
        padded[top : top + h, left : left + w] = a
        a, h, w = padded, padded.shape[0], padded.shape[1]
    top, left = round((h - out_h) / 2.0), round((w - out_w) / 2.0)  # torchvision: int(round(x))
    return np.ascontiguousarray(a[top : top + out_h, left : left + out_w])


def letterbox(
    img: Image.Image | np.ndarray,
    size: tuple[int, int],
    fill: int = 114,
    interpolation: str = "bicubic",
) -> np.ndarray:
    """Scale to fit inside ``size`` (H, W) keeping aspect, pad the rest with ``fill``, centred.

    Nothing of the image is cut off, unlike :func:`resize_crop`; useful for very wide or tall
    inputs. Returns HxWx3 uint8 RGB.
    """
    out_h, out_w = _check_size(size)
    if not 0 <= fill <= 255:
        raise EdgezooError(f"letterbox fill must be 0..255, got {fill}")
    im = _as_pil(img)
    w, h = im.size
    scale = min(out_h / h, out_w / w)
    new_w, new_h = min(out_w, max(1, round(w * scale))), min(out_h, max(1, round(h * scale)))
    canvas = np.full((out_h, out_w, 3), fill, dtype=np.uint8)
    top, left = (out_h - new_h) // 2, (out_w - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = np.asarray(im.resize((new_w, new_h), _resample(interpolation)))
    return canvas


_letterbox = letterbox  # prepare() has a parameter of the same name


# --------------------------------------------------------------------------------------------
# Tensor
# --------------------------------------------------------------------------------------------


def normalize(hwc_uint8: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """HxWx3 uint8 -> float32 [1, 3, H, W] as ``(x / 255 - mean) / std`` (timm's 0..1 mean/std).

    Computed in float32 in the same order as torchvision's ``ToTensor`` + ``Normalize``.
    """
    a = np.asarray(hwc_uint8)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 uint8 array, got {a.dtype} {a.shape}")
    m = np.asarray(mean, dtype=np.float32).reshape(3)
    s = np.asarray(std, dtype=np.float32).reshape(3)
    if np.any(s == 0):
        raise ValueError(f"std must not contain zeros, got {tuple(std)}")
    x = a.astype(np.float32) / np.float32(255.0)
    x = (x - m) / s
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def prepare(
    path: str | Path,
    *,
    size: tuple[int, int],
    crop_pct: float,
    interpolation: str,
    mean: Sequence[float],
    std: Sequence[float],
    letterbox: bool = False,
    max_side: int | None = 4096,
) -> np.ndarray:
    """Image file -> float32 [1, 3, H, W] model input: the one path used by eval, predict, calibration.

    Photos whose longer side exceeds ``max_side`` are reduced on load (see :func:`load_image`), a
    second resampling that timm does not do; ``max_side=None`` gives timm's pixels exactly.
    """
    img = load_image(path, max_side=max_side)
    if letterbox:
        hwc = _letterbox(img, size, interpolation=interpolation)
    else:
        hwc = resize_crop(img, size, crop_pct, interpolation)
    return normalize(hwc, mean, std)


# --------------------------------------------------------------------------------------------
# Folders
# --------------------------------------------------------------------------------------------


def find_images(root: str | Path, recursive: bool = True, suffixes: Collection[str] = IMAGE_SUFFIXES) -> list[Path]:
    """Image files under ``root`` (by suffix, any case), hidden files and folders skipped.

    ``suffixes`` (lower case, with the dot) widens the search, e.g. to raw camera frames.

    Sorted by path components so that runs, calibration subsets and result files are reproducible
    whatever order the file system lists entries in.
    """
    root = Path(root)
    if not root.exists():
        raise _fail(root, "no such folder")
    if not root.is_dir():
        raise _fail(root, "not a folder")
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")] if recursive else []
        found.extend(
            Path(dirpath, f) for f in filenames if not f.startswith(".") and Path(f).suffix.lower() in suffixes
        )
    return sorted(found, key=lambda p: p.relative_to(root).parts)
