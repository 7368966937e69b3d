"""benchmarks/fetch_photos.py on fake package trees: which files become photos, and how."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image

_SPEC = importlib.util.spec_from_file_location(
    "fetch_photos", Path(__file__).resolve().parents[1] / "benchmarks" / "fetch_photos.py"
)
fetch_photos = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(fetch_photos)


def _png(path: Path, size: tuple[int, int], alpha: int = 255) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.zeros((size[1], size[0], 4), np.uint8)
    pixels[..., 0] = 200
    pixels[..., 3] = alpha
    Image.fromarray(pixels, "RGBA").save(path)


def test_photo_stamps_and_opencv_samples_are_kept_drawings_and_tiny_files_are_not(tmp_path):
    stamps = tmp_path / "tux" / fetch_photos.STAMPS
    _png(stamps / "animals" / "birds" / "robin.png", (120, 80))
    _png(stamps / "animals" / "birds" / "cartoon" / "tweety.png", (120, 80))
    _png(stamps / "symbols" / "alphabets" / "a.png", (120, 120))
    _png(stamps / "food" / "fruit" / "cherry.png", (40, 40))  # too small to classify
    _png(stamps / "food" / "fruit" / "ghost.png", (100, 100), alpha=0)  # fully transparent: white
    data = tmp_path / "cv" / fetch_photos.OPENCV_DATA
    data.mkdir(parents=True)
    Image.new("RGB", (320, 240), (10, 20, 30)).save(data / "fruits.jpg")
    Image.new("RGB", (64, 64)).save(data / "tiny.jpg")
    out = tmp_path / "photos"
    out.mkdir()
    (out / "stale.jpg").write_bytes(b"old")  # a previous build is replaced whole

    count = fetch_photos.build({"tuxpaint-stamps-default": tmp_path / "tux", "opencv-doc": tmp_path / "cv"}, out)

    names = sorted(p.name for p in out.iterdir())
    assert names == ["opencv_fruits.jpg", "tux_animals_birds_robin.jpg", "tux_food_fruit_ghost.jpg"]
    assert count == 3
    robin = Image.open(out / "tux_animals_birds_robin.jpg")
    assert robin.size == (132, 132)  # square, 10% margin around the longer side
    corner = np.asarray(robin)[0, 0]
    assert (corner > 240).all()  # the margin is white
    assert not (tmp_path / "photos.partial").exists()
