"""Build a folder of a few hundred real photos from two Debian packages, for fidelity checks.

The photos bundled with matplotlib/scikit-image are nine; crops of them make many views but few
scenes, and the views are often near-ties between two classes. Debian ships more, in packages a
machine that only reaches the package registries can still download:

- ``tuxpaint-stamps-default``: about 370 photos of single objects (animals, birds, fruit,
  vegetables, flowers, tools, vehicles, instruments, clothes) cut out on transparent background.
  Cartoon, symbol, alphabet, seasonal and house stamps (drawings, not photos) are left out; each
  photo is put on white with a 5% margin.
- ``opencv-doc``: OpenCV's sample images (``examples/data``): fruit, a baboon, a butterfly,
  street scenes, and also chessboards and text, which are real photos too.

Needs ``apt-get`` and ``dpkg-deb`` (Debian/Ubuntu). The .deb files (about 260 MB) and the photos go
to a cache outside the repository. Usage::

    python benchmarks/fetch_photos.py [--out ~/.cache/edgezoo/photos]
    python benchmarks/quantize_targets.py --only lite0 --photos ~/.cache/edgezoo/photos
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

from PIL import Image

PACKAGES = ("tuxpaint-stamps-default", "opencv-doc")
STAMPS = "usr/share/tuxpaint/stamps"
OPENCV_DATA = "usr/share/doc/opencv-doc/examples/data"
NOT_PHOTOS = ("cartoon", "symbols", "alphabets", "seasonal", "/town/houses")
MIN_SIDE = 64


def download(cache: Path) -> dict[str, Path]:
    """Each package's extracted tree, downloading the .deb once into ``cache``."""
    if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
        raise SystemExit("fetch_photos needs apt-get and dpkg-deb (a Debian or Ubuntu machine)")
    cache.mkdir(parents=True, exist_ok=True)
    trees = {}
    for package in PACKAGES:
        tree = cache / package
        if not tree.is_dir():
            if not list(cache.glob(f"{package}_*.deb")):
                subprocess.run(["apt-get", "download", package], cwd=cache, check=True)
            deb = sorted(cache.glob(f"{package}_*.deb"))[-1]
            with tempfile.TemporaryDirectory(dir=cache) as tmp:
                subprocess.run(["dpkg-deb", "-x", str(deb), tmp], check=True)
                Path(tmp).rename(tree)
        trees[package] = tree
    return trees


def stamp_photo(path: Path) -> Image.Image | None:
    """A cut-out stamp on a white square with a margin, or None if too small to classify."""
    image = Image.open(path).convert("RGBA")
    if min(image.size) < MIN_SIDE:
        return None
    side = int(max(image.size) * 1.1)
    canvas = Image.new("RGBA", (side, side), (255, 255, 255, 255))
    canvas.alpha_composite(image, ((side - image.width) // 2, (side - image.height) // 2))
    return canvas.convert("RGB")


def build(trees: dict[str, Path], out: Path) -> int:
    """Write every photo as ``<source>_<name>.jpg`` into ``out`` (replaced whole); return the count."""
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    count = 0
    stamps = sorted((trees["tuxpaint-stamps-default"] / STAMPS).rglob("*.png"))
    for path in stamps:
        relative = path.relative_to(trees["tuxpaint-stamps-default"] / STAMPS).as_posix()
        if any(part in f"/{relative}" for part in NOT_PHOTOS):
            continue
        photo = stamp_photo(path)
        if photo is not None:
            photo.save(staging / f"tux_{relative[:-4].replace('/', '_')}.jpg", quality=92)
            count += 1
    for path in sorted((trees["opencv-doc"] / OPENCV_DATA).glob("*.jpg")):
        image = Image.open(path).convert("RGB")
        if min(image.size) >= 2 * MIN_SIDE:
            image.save(staging / f"opencv_{path.stem}.jpg", quality=92)
            count += 1
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cache = Path.home() / ".cache" / "edgezoo"
    parser.add_argument("--out", type=Path, default=cache / "photos", help="folder to write the photos to")
    parser.add_argument("--debs", type=Path, default=cache / "debs", help="where the .deb files are kept")
    args = parser.parse_args()
    count = build(download(args.debs), args.out)
    print(f"wrote {count} photos to {args.out}")


if __name__ == "__main__":
    main()
