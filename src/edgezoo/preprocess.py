"""Placeholder until the full image pipeline lands (branch `preprocess`)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

_INTERP = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR, "nearest": Image.NEAREST}


def prepare(path, *, size, crop_pct, interpolation, mean, std, letterbox=False) -> np.ndarray:
    img = Image.open(Path(path)).convert("RGB")
    h, w = size
    short = math.floor(min(h, w) / crop_pct)
    scale = short / min(img.size)
    img = img.resize((round(img.width * scale), round(img.height * scale)), _INTERP[interpolation])
    left, top = (img.width - w) // 2, (img.height - h) // 2
    arr = np.asarray(img.crop((left, top, left + w, top + h)), dtype=np.float32) / 255.0
    arr = (arr - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return arr.transpose(2, 0, 1)[None].copy()
