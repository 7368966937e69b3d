"""RGB <-> NV12/I420: coefficients, byte layout, round-trip error, frame files."""

from __future__ import annotations

import importlib.resources
import os

import numpy as np
import pytest
from PIL import Image

from edgezoo.errors import EdgezooError
from edgezoo.inputs import colour
from edgezoo.inputs.colour import (
    i420_to_rgb,
    nv12_to_rgb,
    read_frame,
    rgb_to_i420,
    rgb_to_nv12,
    rgb_to_yuv_coefficients,
    write_frame,
    yuv_coefficients,
)

RANGES = [True, False]


def _photo(name: str) -> np.ndarray:
    """A real photo shipped inside scikit-image, cropped to even sides."""
    path = importlib.resources.files("skimage") / "data" / name
    with Image.open(path) as im:
        a = np.asarray(im.convert("RGB"))
    return np.ascontiguousarray(a[: a.shape[0] // 2 * 2, : a.shape[1] // 2 * 2])


@pytest.fixture(scope="module")
def coffee() -> np.ndarray:
    return _photo("coffee.png")  # 400x600, saturated reds and sharp colour edges


def _solid(rgb: tuple[int, int, int], h: int = 4, w: int = 6) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, dtype=np.uint8), (h, w, 3)).copy()


# --- coefficients ----------------------------------------------------------------------------


def test_coefficients_match_textbook_bt601():
    m, off = yuv_coefficients(full_range=True)  # JFIF / JPEG
    np.testing.assert_allclose(m, [[1, 0, 1.402], [1, -0.344136, -0.714136], [1, 1.772, 0]], atol=1e-6)
    np.testing.assert_array_equal(off, [0, 128, 128])
    m, off = yuv_coefficients(full_range=False)  # studio swing, the 1.164/1.596 formula
    np.testing.assert_allclose(m, [[1.164, 0, 1.596], [1.164, -0.392, -0.813], [1.164, 2.017, 0]], atol=1.5e-3)
    np.testing.assert_array_equal(off, [16, 128, 128])
    fwd, _ = rgb_to_yuv_coefficients(full_range=False)  # OpenCV's COLOR_BGR2YUV_I420 numbers
    np.testing.assert_allclose(
        fwd, [[0.257, 0.504, 0.098], [-0.148, -0.291, 0.439], [0.439, -0.368, -0.071]], atol=1e-3
    )


@pytest.mark.parametrize("full_range", RANGES)
def test_coefficients_are_exact_inverses_and_read_only(full_range):
    inv, off_inv = yuv_coefficients(full_range)
    fwd, off_fwd = rgb_to_yuv_coefficients(full_range)
    np.testing.assert_allclose(inv @ fwd, np.eye(3), atol=1e-12)
    np.testing.assert_array_equal(off_inv, off_fwd)
    inv[0, 0] = 99  # a copy: the module's table is untouched
    assert colour.YUV_TO_RGB[full_range][0, 0] != 99
    assert not colour.YUV_TO_RGB[full_range].flags.writeable


def test_default_is_full_range():
    assert colour.DEFAULT_FULL_RANGE is True
    red = _solid((255, 0, 0))
    np.testing.assert_array_equal(rgb_to_nv12(red), rgb_to_nv12(red, full_range=True))


# --- byte layout -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rgb", "full", "video"),
    [
        # (Y, U, V) for 100 % colours: JPEG full range, and the ITU-R BT.601 colour-bar values.
        ((255, 0, 0), (76, 85, 255), (81, 90, 240)),
        ((0, 255, 0), (150, 44, 21), (145, 54, 34)),
        ((0, 0, 255), (29, 255, 107), (41, 240, 110)),
        ((255, 255, 255), (255, 128, 128), (235, 128, 128)),
        ((0, 0, 0), (0, 128, 128), (16, 128, 128)),
    ],
)
def test_solid_colour_nv12_bytes(rgb, full, video):
    for full_range, (y, u, v) in ((True, full), (False, video)):
        frame = rgb_to_nv12(_solid(rgb), full_range=full_range)
        assert frame.shape == (6, 6) and frame.dtype == np.uint8
        assert (frame[:4] == y).all()
        np.testing.assert_array_equal(frame[4:], np.tile([u, v], (2, 3)))  # U V U V U V


def test_nv12_and_i420_layouts():
    h, w = 4, 6
    rgb = np.random.default_rng(1).integers(0, 256, (h, w, 3), dtype=np.uint8)
    nv12, i420 = rgb_to_nv12(rgb), rgb_to_i420(rgb)
    assert nv12.shape == i420.shape == (h * 3 // 2, w)
    np.testing.assert_array_equal(nv12[:h], i420[:h])  # same Y plane
    flat = i420.ravel()
    u = flat[h * w : h * w + h * w // 4].reshape(h // 2, w // 2)
    v = flat[h * w + h * w // 4 :].reshape(h // 2, w // 2)
    np.testing.assert_array_equal(nv12[h:, 0::2], u)  # NV12 interleaves the same samples
    np.testing.assert_array_equal(nv12[h:, 1::2], v)


@pytest.mark.parametrize("full_range", RANGES)
def test_i420_and_nv12_decode_to_the_same_pixels(coffee, full_range):
    a = nv12_to_rgb(rgb_to_nv12(coffee, full_range), full_range)
    b = i420_to_rgb(rgb_to_i420(coffee, full_range), full_range)
    np.testing.assert_array_equal(a, b)


def test_chroma_is_the_2x2_average():
    rgb = np.zeros((2, 2, 3), dtype=np.uint8)
    rgb[0, 0] = (255, 0, 0)  # one red pixel in a black 2x2 block
    frame = rgb_to_nv12(rgb, full_range=True)
    # U, V of red are 84.97, 255.5; of black 128, 128 -> block means 117.24, 159.9
    np.testing.assert_array_equal(frame[2], [117, 160])


def test_upsampling_is_nearest():
    frame = np.full((6, 4), 128, dtype=np.uint8)
    frame[4:, 0:2] = (100, 200)  # left 2x2 block: U=100, V=200; right block neutral
    rgb = nv12_to_rgb(frame, full_range=True)
    assert (rgb[:, :2] == rgb[0, 0]).all() and (rgb[:, 2:] == 128).all()
    m, off = yuv_coefficients(True)
    np.testing.assert_array_equal(rgb[0, 0], np.clip(np.rint(m @ (np.array([128, 100, 200]) - off)), 0, 255))


# --- round trip on a real photo ----------------------------------------------------------------

# Measured on skimage coffee.png (400x600), numpy 2.4 / Pillow 13:
#   full range:  mean abs error 1.57, max 66;  video range: mean 1.60, max 66.
# The max sits on sharp red/black edges where 4:2:0 shares one chroma sample between four pixels;
# 99 % of values are within 11. Without subsampling loss (2x2-constant image) the error is <= 1
# (full) / <= 2 (video): only rounding to 8 bits.


@pytest.mark.parametrize("full_range", RANGES)
def test_round_trip_error_on_photo(coffee, full_range):
    err = np.abs(nv12_to_rgb(rgb_to_nv12(coffee, full_range), full_range).astype(int) - coffee)
    assert err.mean() < 1.8
    assert np.percentile(err, 99) <= 12
    assert err.max() <= 80


@pytest.mark.parametrize(("full_range", "bound"), [(True, 1), (False, 2)])
def test_round_trip_without_chroma_loss_is_rounding_only(coffee, full_range, bound):
    blocky = coffee[::2, ::2].repeat(2, axis=0).repeat(2, axis=1)
    err = np.abs(nv12_to_rgb(rgb_to_nv12(blocky, full_range), full_range).astype(int) - blocky)
    assert err.max() <= bound


def test_video_range_stays_in_legal_codes(coffee):
    frame = rgb_to_nv12(coffee, full_range=False)
    h = coffee.shape[0]
    assert frame[:h].min() >= 16 and frame[:h].max() <= 235
    assert frame[h:].min() >= 16 and frame[h:].max() <= 240


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 6, 3), (4, 7, 3), (0, 4, 3)])
def test_odd_or_empty_rgb_is_rejected(shape):
    with pytest.raises(EdgezooError, match="even"):
        rgb_to_nv12(np.zeros(shape, dtype=np.uint8))
    with pytest.raises(EdgezooError, match="even"):
        rgb_to_i420(np.zeros(shape, dtype=np.uint8))


def test_wrong_array_types_are_rejected():
    with pytest.raises(ValueError, match="uint8"):
        rgb_to_nv12(np.zeros((4, 4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="HxWx3"):
        rgb_to_nv12(np.zeros((4, 4), dtype=np.uint8))
    with pytest.raises(EdgezooError, match="rows"):
        nv12_to_rgb(np.zeros((5, 4), dtype=np.uint8))
    with pytest.raises(EdgezooError, match="even"):
        nv12_to_rgb(np.zeros((6, 5), dtype=np.uint8))  # odd width
    with pytest.raises(EdgezooError, match="even"):
        i420_to_rgb(np.zeros((6, 5), dtype=np.uint8))


# --- frame files -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["nv12", "i420"])
@pytest.mark.parametrize("full_range", RANGES)
def test_write_read_frame_round_trip(tmp_path, coffee, fmt, full_range):
    rgb = coffee[:64, :96]
    path = write_frame(tmp_path / f"f.{fmt}", rgb, fmt, full_range=full_range)
    assert path.stat().st_size == 64 * 96 * 3 // 2
    encode = rgb_to_nv12 if fmt == "nv12" else rgb_to_i420
    assert path.read_bytes() == encode(rgb, full_range).tobytes()
    back = read_frame(path, 96, 64, fmt, full_range=full_range)
    expected = (nv12_to_rgb if fmt == "nv12" else i420_to_rgb)(encode(rgb, full_range), full_range)
    np.testing.assert_array_equal(back, expected)
    assert sorted(os.listdir(tmp_path)) == [f"f.{fmt}"]  # no temp file left behind


def test_read_frame_wrong_size_names_file_and_sizes(tmp_path):
    path = tmp_path / "cam.nv12"
    path.write_bytes(bytes(100))
    with pytest.raises(EdgezooError) as e:
        read_frame(path, 8, 8, "nv12")
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg and "96" in msg and "100" in msg


def test_read_frame_rejects_odd_size_missing_file_and_bad_format(tmp_path):
    path = tmp_path / "cam.nv12"
    path.write_bytes(bytes(5 * 4 * 3 // 2))
    with pytest.raises(EdgezooError, match="even"):
        read_frame(path, 5, 4, "nv12")
    with pytest.raises(EdgezooError, match="no such file"):
        read_frame(tmp_path / "missing.nv12", 4, 4, "nv12")
    with pytest.raises(EdgezooError, match="unknown frame format"):
        read_frame(path, 4, 4, "yuyv")  # type: ignore[arg-type]


def test_write_frame_failure_leaves_existing_file_alone(tmp_path):
    path = tmp_path / "keep.nv12"
    path.write_bytes(b"old")
    with pytest.raises(EdgezooError, match="even"):
        write_frame(path, np.zeros((5, 4, 3), dtype=np.uint8), "nv12")
    with pytest.raises(EdgezooError, match="cannot write"):
        write_frame(tmp_path / "no" / "dir.nv12", np.zeros((4, 4, 3), dtype=np.uint8), "nv12")
    assert path.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["keep.nv12"]
