"""Real photos that ship inside installed wheels, for offline checks and demos.

matplotlib (a dependency) always brings one; scikit-image, when installed, brings more.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_MATPLOTLIB = ("matplotlib", "mpl-data/sample_data", ("grace_hopper.jpg",))
_SKIMAGE = (
    "skimage",
    "data",
    ("chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png", "hubble_deep_field.jpg"),
)

# More real photographs in scikit-image's data folder, kept out of sample_photos() (whose set the
# tests and the offline fallbacks rely on): the right view of the motorcycle stereo pair (same scene
# as motorcycle_left: never split the two across calibration and held-out sets) and the grayscale
# "cameraman" photo. The other images there are textures, microscopy, scans or drawings.
_SKIMAGE_MORE = ("skimage", "data", ("motorcycle_right.png", "camera.png"))


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def _find(*sources: tuple[str, str, tuple[str, ...]]) -> list[Path]:
    found: list[Path] = []
    for package, folder, names in sources:
        root = _package_dir(package)
        if root is not None:
            found += [root / folder / n for n in names if (root / folder / n).is_file()]
    return found


def sample_photos() -> list[Path]:
    """Every bundled real photo found, matplotlib's first (it is always installed)."""
    return _find(_MATPLOTLIB, _SKIMAGE)


def more_photos() -> list[Path]:
    """Further real photos from scikit-image (see ``_SKIMAGE_MORE``), for larger held-out sets."""
    return _find(_SKIMAGE_MORE)


def default_photo() -> Path:
    photos = sample_photos()
    if not photos:
        raise FileNotFoundError("no sample photo found: is matplotlib installed?")
    return photos[0]


def write_photo_variants(photos: list[Path], out_dir: Path, per_photo: int, seed: int = 0) -> list[Path]:
    """Write ``per_photo`` different views of each photo (random square crops of 30-100% of the
    short side, some mirrored, at 256-400 px) as PNG files: more distinct real images for offline
    calibration and held-out checks than the handful of bundled photos. Variant 0 is the whole photo.
    """
    import numpy as np
    from PIL import Image, ImageOps

    from edgezoo.inputs.preprocess import load_image

    rng = np.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for photo in photos:
        image = load_image(photo)
        w, h = image.size
        for k in range(per_photo):
            if k == 0:
                view = image
            else:
                side = int(min(w, h) * rng.uniform(0.3, 1.0))
                left, top = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
                view = image.crop((left, top, left + side, top + side))
                size = int(rng.integers(256, 401))
                view = view.resize((size, size), Image.Resampling.BICUBIC)
                if rng.random() < 0.5:
                    view = ImageOps.mirror(view)
            path = out_dir / f"{photo.stem}_{seed}_{k:02d}.png"
            view.save(path)
            written.append(path)
    return written
