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


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def sample_photos() -> list[Path]:
    """Every bundled real photo found, matplotlib's first (it is always installed)."""
    found: list[Path] = []
    for package, folder, names in (_MATPLOTLIB, _SKIMAGE):
        root = _package_dir(package)
        if root is not None:
            found += [root / folder / n for n in names if (root / folder / n).is_file()]
    return found


def default_photo() -> Path:
    photos = sample_photos()
    if not photos:
        raise FileNotFoundError("no sample photo found: is matplotlib installed?")
    return photos[0]
