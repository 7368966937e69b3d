"""Image folder -> the frames a model is calibrated (or judged) on, with a hash of the set.

Calibration pixels go through the same geometry as evaluation (``preprocess.resize_crop``: short
side to size / crop_pct, centre crop), as the seeds do for their calibration data. What comes out is
uint8 RGB crops; the quantizer calibrates on them as normalised RGB tensors, whatever frames the
deployed front end takes (NV12, NHWC uint8, float), so the int8 core is the same for every input type.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgezoo.errors import EdgezooError
from edgezoo.fsutil import sha256_file
from edgezoo.inputs.preprocess import find_images, load_image, resize_crop
from edgezoo.progress import track
from edgezoo.zoo.registry import ModelCard

log = logging.getLogger(__name__)
MAX_LISTED_SKIPS = 10


@dataclass
class ImageSet:
    """Preprocessed crops (HxWx3 uint8 RGB) and where they came from."""

    crops: list[np.ndarray]
    files: list[Path]
    digests: list[str]
    skipped: list[str] = field(default_factory=list)  # "path: reason", unreadable files

    @property
    def sha256(self) -> str:
        """Hash of the set: the sha256 of each file used, in order (same files, same hash)."""
        h = hashlib.sha256()
        for d in self.digests:
            h.update(bytes.fromhex(d))
        return h.hexdigest()

    def summary(self, method: str) -> dict[str, Any]:
        return {
            "count": len(self.crops),
            "sha256": self.sha256,
            "method": method,
            "skipped": len(self.skipped),
            "skipped_files": self.skipped[:MAX_LISTED_SKIPS],
        }


def load_crops(
    files: list[Path], card: ModelCard, limit: int | None, description: str, exclude: set[str] | None = None
) -> ImageSet:
    """Read up to ``limit`` readable images of ``files`` as the card's eval crops.

    Unreadable files are skipped and listed; files whose contents hash into ``exclude`` are passed
    over silently (held-out sets use it to stay disjoint from the calibration set).
    """
    result = ImageSet([], [], [])
    wanted = len(files) if limit is None else min(limit, len(files))
    for path in track(files, description, total=len(files)):
        if len(result.crops) >= wanted:
            break
        try:
            digest = sha256_file(path)
        except OSError as exc:
            result.skipped.append(f"{path}: {exc.strerror or exc}")
            continue
        if exclude and digest in exclude:
            continue
        try:
            crop = resize_crop(load_image(path), card.img_size, card.crop_pct, card.interpolation)
        except EdgezooError as exc:
            result.skipped.append(str(exc))
            continue
        result.crops.append(crop)
        result.files.append(path)
        result.digests.append(digest)
    return result


def calibration_set(folder: str | Path, card: ModelCard, count: int) -> ImageSet:
    """The calibration crops from ``folder`` (recursive): ``count`` of them, or all with a warning."""
    folder = Path(folder)
    files = find_images(folder)  # raises for a missing folder or a file given as folder
    if not files:
        raise EdgezooError(f"{folder}: no images found (jpg, png, bmp, webp, tif)")
    images = load_crops(files, card, count, "calibration images")
    if not images.crops:
        raise EdgezooError(f"{folder}: none of the {len(files)} image files could be read")
    if images.skipped:
        log.warning("%d unreadable file(s) skipped, e.g. %s", len(images.skipped), images.skipped[0])
    if len(images.crops) < count:
        log.warning("%s: %d usable images, fewer than the %d asked: using all", folder, len(images.crops), count)
    return images
