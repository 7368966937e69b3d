"""Image loading, timm eval geometry, normalisation and folder listing."""

from __future__ import annotations

import importlib.resources
import io
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgezoo.errors import EdgezooError
from edgezoo.inputs.preprocess import (
    IMAGE_SUFFIXES,
    INTERPOLATIONS,
    _draft_jpeg,
    find_images,
    letterbox,
    load_image,
    normalize,
    prepare,
    resize_crop,
)

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _skimage_photo(name: str) -> Path:
    return Path(str(importlib.resources.files("skimage") / "data" / name))


@pytest.fixture(scope="module")
def chelsea() -> Image.Image:
    return load_image(_skimage_photo("chelsea.png"))  # 451x300 cat photo


def _gradient(w: int = 64, h: int = 48) -> Image.Image:
    y, x = np.mgrid[0:h, 0:w]
    a = np.stack([x * 255 // (w - 1), y * 255 // (h - 1), (x + y) * 255 // (w + h - 2)], axis=-1)
    return Image.fromarray(a.astype(np.uint8), "RGB")


def _one_line_error(path: Path, exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert msg.startswith(f"{path}: ") and "\n" not in msg, msg
    return msg


# --- formats ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "save_args", "tol"),
    [
        (".jpg", {"quality": 95}, 12),
        (".JPEG", {"format": "JPEG", "quality": 95}, 12),
        (".png", {}, 0),
        (".bmp", {}, 0),
        (".webp", {"lossless": True}, 0),
        (".tif", {}, 0),
        (".tiff", {"compression": "tiff_lzw"}, 0),
    ],
)
def test_every_listed_format_loads_as_rgb(tmp_path, suffix, save_args, tol):
    src = _gradient()
    path = tmp_path / f"img{suffix}"
    src.save(path, **save_args)
    im = load_image(path)
    assert im.mode == "RGB" and im.size == src.size
    diff = np.abs(np.asarray(im).astype(int) - np.asarray(src))
    assert diff.max() <= tol


def test_real_photo_as_jpeg(tmp_path):
    with Image.open(_skimage_photo("coffee.png")) as src:
        src.convert("RGB").save(tmp_path / "coffee.jpg", quality=90)
        size = src.size
    im = load_image(tmp_path / "coffee.jpg")
    assert im.size == size and im.mode == "RGB"


@pytest.mark.parametrize(
    ("orientation", "size", "red_at"),
    [(6, (20, 40), "top"), (8, (20, 40), "bottom"), (3, (40, 20), "right"), (1, (40, 20), "left")],
)
def test_exif_orientation_is_applied(tmp_path, orientation, size, red_at):
    a = np.zeros((20, 40, 3), dtype=np.uint8)
    a[:, :20] = (255, 0, 0)  # stored: red left half, blue right half
    a[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "rotated.jpg"
    Image.fromarray(a).save(path, exif=exif, quality=95)
    im = load_image(path)
    assert im.size == size  # (W, H)
    b = np.asarray(im).astype(int)
    h, w = b.shape[:2]
    half = {"top": b[: h // 2], "bottom": b[h // 2 :], "left": b[:, : w // 2], "right": b[:, w // 2 :]}
    assert half[red_at][..., 0].mean() > 200 and half[red_at][..., 2].mean() < 50


def test_grayscale(tmp_path):
    a = np.arange(256, dtype=np.uint8).reshape(16, 16)
    Image.fromarray(a, "L").save(tmp_path / "g.png")
    b = np.asarray(load_image(tmp_path / "g.png"))
    assert b.shape == (16, 16, 3)
    for c in range(3):
        np.testing.assert_array_equal(b[..., c], a)


def test_la_and_rgba_are_composited_on_white(tmp_path):
    la = Image.new("LA", (4, 2), (50, 255))
    la.putpixel((0, 0), (0, 0))  # fully transparent black
    la.save(tmp_path / "la.png")
    b = np.asarray(load_image(tmp_path / "la.png"))
    assert tuple(b[0, 0]) == (255, 255, 255) and tuple(b[1, 1]) == (50, 50, 50)

    rgba = Image.new("RGBA", (4, 2), (10, 20, 30, 255))
    rgba.putpixel((0, 0), (0, 0, 0, 0))
    rgba.putpixel((1, 0), (255, 0, 0, 128))  # half-transparent red over white
    rgba.save(tmp_path / "rgba.png")
    b = np.asarray(load_image(tmp_path / "rgba.png")).astype(int)
    assert tuple(b[0, 0]) == (255, 255, 255)
    assert b[0, 1, 0] == 255 and abs(b[0, 1, 1] - 127) <= 1 and abs(b[0, 1, 2] - 127) <= 1
    assert tuple(b[1, 3]) == (10, 20, 30)


@pytest.mark.parametrize("suffix", [".png", ".gif"])
def test_palette_with_transparency(tmp_path, suffix):
    p = Image.new("P", (4, 4), 1)
    p.putpalette([0, 0, 0, 200, 10, 10] + [0] * 762)
    p.putpixel((0, 0), 0)  # index 0 = black, but transparent
    path = tmp_path / f"p{suffix}"
    p.save(path, transparency=0)
    b = np.asarray(load_image(path))
    assert tuple(b[0, 0]) == (255, 255, 255)
    assert tuple(b[2, 2]) == (200, 10, 10)


def test_palette_without_transparency(tmp_path):
    _gradient().convert("P", palette=Image.Palette.ADAPTIVE).save(tmp_path / "p.png")
    assert load_image(tmp_path / "p.png").mode == "RGB"


@pytest.mark.parametrize("suffix", [".tif", ".jpg"])
def test_cmyk(tmp_path, suffix):
    Image.new("CMYK", (8, 8), (255, 0, 0, 0)).save(tmp_path / f"c{suffix}")  # pure cyan
    b = np.asarray(load_image(tmp_path / f"c{suffix}")).astype(int)
    assert np.abs(b[4, 4] - (0, 255, 255)).max() <= 2


def test_ycbcr_tiff(tmp_path):
    Image.new("RGB", (8, 8), (200, 30, 60)).convert("YCbCr").save(tmp_path / "y.tif")
    with Image.open(tmp_path / "y.tif") as raw:
        assert raw.mode == "YCbCr"
    b = np.asarray(load_image(tmp_path / "y.tif")).astype(int)
    assert np.abs(b[0, 0] - (200, 30, 60)).max() <= 3


def test_one_bit(tmp_path):
    a = np.zeros((8, 8), dtype=bool)
    a[:, 4:] = True
    Image.fromarray(a).convert("1").save(tmp_path / "bw.png")
    b = np.asarray(load_image(tmp_path / "bw.png"))
    assert (b[:, :4] == 0).all() and (b[:, 4:] == 255).all()


_DEEP = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)  # -> 0, 1, 128, 255


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path):
    Image.fromarray(_DEEP).save(tmp_path / "g16.png")
    with Image.open(tmp_path / "g16.png") as raw:
        assert raw.mode == "I;16"
    b = np.asarray(load_image(tmp_path / "g16.png"))
    np.testing.assert_array_equal(b[0, :, 0], [0, 1, 128, 255])


def test_sixteen_bit_big_endian_and_32_bit_tiff(tmp_path):
    Image.fromarray(_DEEP.astype(">u2")).save(tmp_path / "be.tif")  # mode I;16B
    Image.fromarray(_DEEP.astype(np.int32)).save(tmp_path / "i32.tif")  # mode I
    for name, mode in (("be.tif", "I;16B"), ("i32.tif", "I")):
        with Image.open(tmp_path / name) as raw:
            assert raw.mode == mode
        np.testing.assert_array_equal(np.asarray(load_image(tmp_path / name))[0, :, 1], [0, 1, 128, 255])


def test_float_tiff(tmp_path):
    Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32)).save(tmp_path / "f.tif")
    np.testing.assert_array_equal(np.asarray(load_image(tmp_path / "f.tif"))[0, :, 2], [0, 128, 255])


def _png_rgb16(path: Path, rgb16: np.ndarray) -> None:
    """Write a 16-bit-per-channel RGB PNG by hand (Pillow cannot save one)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    h, w, _ = rgb16.shape
    rows = b"".join(b"\x00" + rgb16[y].astype(">u2").tobytes() for y in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    )


def test_sixteen_bit_rgb_png(tmp_path):
    rgb16 = np.stack([_DEEP, _DEEP[:, ::-1], np.full_like(_DEEP, 32896)], axis=-1)
    _png_rgb16(tmp_path / "rgb16.png", rgb16)
    b = np.asarray(load_image(tmp_path / "rgb16.png")).astype(int)
    expected = np.stack([[0, 1, 128, 255], [255, 128, 1, 0], [128] * 4], axis=-1)
    assert np.abs(b[0] - expected).max() <= 1  # Pillow keeps the high byte: v >> 8


# --- huge images -----------------------------------------------------------------------------


def _huge_grey_jpeg(path: Path, width: int, height: int) -> None:
    """A valid baseline JPEG of flat grey 128 without ever holding width x height pixels.

    With level shift, grey 128 makes every 8x8 block DC=0 with no AC, which libjpeg codes as the
    same 6 bits per block; four blocks fill exactly three bytes. We take the headers (and the
    3-byte pattern) from a small Pillow encode, patch the frame size and repeat the pattern.
    """
    assert width % 16 == 0 and height % 8 == 0
    buf = io.BytesIO()
    Image.new("L", (32, 8), 128).save(buf, "JPEG", quality=90)  # 4 blocks
    small = buf.getvalue()
    sos = small.index(b"\xff\xda")
    scan_start = sos + 2 + int.from_bytes(small[sos + 2 : sos + 4], "big")
    head, scan = bytearray(small[:scan_start]), small[scan_start:-2]
    assert len(scan) == 3, scan.hex()  # the premise above; fails loudly if libjpeg changes
    sof = head.index(b"\xff\xc0")
    head[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    blocks = (width // 8) * (height // 8)
    path.write_bytes(bytes(head) + scan * (blocks // 4) + b"\xff\xd9")


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # 108 Mpx > 89 Mpx
def test_huge_jpeg_is_decoded_reduced(tmp_path):
    path = tmp_path / "huge.jpg"
    _huge_grey_jpeg(path, 12000, 9000)
    assert path.stat().st_size < 2_000_000
    with Image.open(path) as im:  # the decoder really is asked for a reduced scale
        _draft_jpeg(im, 4096)
        assert im.size == (6000, 4500)
    start = time.perf_counter()
    im = load_image(path)
    small = load_image(path, max_side=1000)
    elapsed = time.perf_counter() - start
    assert im.size == (4096, 3072) and small.size == (1000, 750)
    assert np.abs(np.asarray(small).astype(int) - 128).max() <= 1
    assert elapsed < 5.0


def test_large_png_is_reduced_keeping_aspect(tmp_path):
    _gradient(600, 200).save(tmp_path / "wide.png")
    assert load_image(tmp_path / "wide.png", max_side=300).size == (300, 100)
    assert load_image(tmp_path / "wide.png", max_side=None).size == (600, 200)
    Image.new("RGBA", (200, 600), (0, 0, 0, 0)).save(tmp_path / "clear.png")  # reduced before compositing
    tall = load_image(tmp_path / "clear.png", max_side=300)
    assert tall.size == (100, 300) and (np.asarray(tall) == 255).all()


def test_decompression_bomb_becomes_edgezoo_error(tmp_path, monkeypatch):
    _gradient(100, 100).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # error above 2x the limit
    with pytest.raises(EdgezooError) as e:
        load_image(tmp_path / "bomb.png")
    assert "decompression bomb" in _one_line_error(tmp_path / "bomb.png", e)


# --- bad files -------------------------------------------------------------------------------


def test_truncated_jpeg(tmp_path, chelsea):
    path = tmp_path / "cut.jpg"
    buf = io.BytesIO()
    chelsea.save(buf, "JPEG", quality=90)
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(EdgezooError) as e:
        load_image(path)
    assert "truncated" in _one_line_error(path, e)


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        (
            "noise.jpg",
            np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
            "not an image",
        ),
        ("empty.png", b"", "empty file"),
        ("text.png", b"hello, I am not a PNG\n", "not an image"),
        ("bad.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not an image"),
    ],
)
def test_unreadable_files(tmp_path, name, content, problem):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(EdgezooError) as e:
        load_image(path)
    assert problem in _one_line_error(path, e)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(EdgezooError) as e:
        load_image(tmp_path / "nope.jpg")
    assert "no such file" in _one_line_error(tmp_path / "nope.jpg", e)
    with pytest.raises(EdgezooError) as e:
        load_image(tmp_path)
    assert "folder" in _one_line_error(tmp_path, e)


# --- geometry --------------------------------------------------------------------------------


def test_resize_crop_matches_hand_computed_timm_geometry(chelsea):
    img = chelsea.crop((0, 0, 400, 300))  # W=400, H=300
    # crop_pct 0.875, size 224 -> short side 256, long side int(256 * 400 / 300) = 341,
    # centre crop offsets round((256 - 224) / 2) = 16 and round((341 - 224) / 2) = round(58.5) = 58.
    expected = np.asarray(img.resize((341, 256), Image.Resampling.BICUBIC))[16:240, 58:282]
    out = resize_crop(img, (224, 224), 0.875, "bicubic")
    assert out.dtype == np.uint8 and out.shape == (224, 224, 3)
    np.testing.assert_array_equal(out, expected)
    # portrait: the same numbers transposed
    tall = img.transpose(Image.Transpose.TRANSPOSE)
    expected = np.asarray(tall.resize((256, 341), Image.Resampling.BILINEAR))[58:282, 16:240]
    np.testing.assert_array_equal(resize_crop(tall, (224, 224), 0.875, "bilinear"), expected)


def test_resize_crop_non_square_target(chelsea):
    img = chelsea.crop((0, 0, 450, 300))  # W=450, H=300
    # size (H=192, W=256), crop_pct 0.875 -> scale (219, 292); ratio = min(300/219, 450/292) = 300/219
    # -> resize to H=219, W=round(450 * 219 / 300) = round(328.5) = 328 (Python rounds half to even)
    # -> crop offsets round(13.5) = 14, round(36.0) = 36.
    expected = np.asarray(img.resize((328, 219), Image.Resampling.BICUBIC))[14:206, 36:292]
    np.testing.assert_array_equal(resize_crop(img, (192, 256), 0.875), expected)


def test_resize_crop_pads_when_crop_pct_above_one(chelsea):
    out = resize_crop(chelsea, (224, 224), 1.15)  # short side floor(224 / 1.15) = 194
    assert out.shape == (224, 224, 3)
    assert (out[:15] == 0).all() and (out[-15:] == 0).all()  # (224 - 194) // 2 = 15 rows of padding
    assert out[15:-15].mean() > 20


def test_resize_crop_accepts_every_timm_interpolation_and_arrays(chelsea):
    arr = np.asarray(chelsea)
    for name in ("bilinear", "bicubic", "nearest", "lanczos", "box", "hamming"):
        assert name in INTERPOLATIONS
        np.testing.assert_array_equal(resize_crop(arr, (32, 32), 0.9, name), resize_crop(chelsea, (32, 32), 0.9, name))
    with pytest.raises(EdgezooError, match="interpolation"):
        resize_crop(chelsea, (32, 32), 0.9, "area")
    with pytest.raises(EdgezooError, match="crop_pct"):
        resize_crop(chelsea, (32, 32), 0.0)


def test_resize_crop_is_bit_exact_with_timm(chelsea):
    pytest.importorskip("timm")
    from timm.data import create_transform

    for im in (chelsea, chelsea.transpose(Image.Transpose.TRANSPOSE), chelsea.crop((0, 0, 301, 199))):
        for size, crop_pct, interp in [
            ((224, 224), 0.875, "bicubic"),
            ((256, 256), 0.95, "bilinear"),
            ((192, 256), 0.9, "bicubic"),
            ((224, 224), 1.15, "lanczos"),
        ]:
            tf = create_transform(input_size=(3, *size), crop_pct=crop_pct, interpolation=interp, mean=MEAN, std=STD)
            ours = normalize(resize_crop(im, size, crop_pct, interp), MEAN, STD)
            np.testing.assert_array_equal(ours, tf(im).numpy()[None])


def test_letterbox_pads_centred(chelsea):
    img = chelsea.resize((200, 100))
    out = letterbox(img, (64, 64), fill=114)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    assert (out[:16] == 114).all() and (out[48:] == 114).all()  # 64x32 picture, 16 rows each side
    np.testing.assert_array_equal(out[16:48], np.asarray(img.resize((64, 32), Image.Resampling.BICUBIC)))
    tall = letterbox(img.transpose(Image.Transpose.TRANSPOSE), (64, 96), fill=0)
    assert (tall[:, :32] == 0).all() and (tall[:, 64:] == 0).all()


# --- tensor ----------------------------------------------------------------------------------


def test_normalize_by_hand():
    hwc = np.array([[[0, 128, 255], [10, 20, 30]], [[255, 255, 255], [1, 2, 3]]], dtype=np.uint8)
    x = normalize(hwc, MEAN, STD)
    assert x.shape == (1, 3, 2, 2) and x.dtype == np.float32 and x.flags.c_contiguous
    assert x[0, 0, 0, 0] == pytest.approx((0 / 255 - 0.485) / 0.229, abs=1e-6)
    assert x[0, 1, 0, 0] == pytest.approx((128 / 255 - 0.456) / 0.224, abs=1e-6)
    assert x[0, 2, 0, 0] == pytest.approx((255 / 255 - 0.406) / 0.225, abs=1e-6)
    assert x[0, 2, 1, 1] == pytest.approx((3 / 255 - 0.406) / 0.225, abs=1e-6)
    assert x[0, 1, 0, 1] == pytest.approx((20 / 255 - 0.456) / 0.224, abs=1e-6)
    with pytest.raises(ValueError):
        normalize(hwc.astype(np.float32), MEAN, STD)


def test_prepare_end_to_end():
    path = _skimage_photo("chelsea.png")
    x = prepare(path, size=(224, 224), crop_pct=0.875, interpolation="bicubic", mean=MEAN, std=STD)
    assert x.shape == (1, 3, 224, 224) and x.dtype == np.float32
    np.testing.assert_array_equal(x, normalize(resize_crop(load_image(path), (224, 224), 0.875), MEAN, STD))
    lb = prepare(path, size=(224, 224), crop_pct=0.875, interpolation="bicubic", mean=MEAN, std=STD, letterbox=True)
    assert lb.shape == (1, 3, 224, 224)
    full = prepare(path, size=(224, 224), crop_pct=0.875, interpolation="bicubic", mean=MEAN, std=STD, max_side=None)
    np.testing.assert_array_equal(full, x)  # 451x300 is below max_side: the bound changes nothing
    assert lb[0, 0, 0, 0] == pytest.approx((114 / 255 - MEAN[0]) / STD[0], abs=1e-6)  # top padding


# --- folders ---------------------------------------------------------------------------------


def test_image_suffixes():
    assert {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"} == IMAGE_SUFFIXES
    assert isinstance(IMAGE_SUFFIXES, frozenset)


def test_find_images(tmp_path):
    for rel in [
        "b.png",
        "a.JPG",
        "sub/z.webp",
        "sub/deeper/c.tiff",
        "sub-x.bmp",
        "notes.txt",
        ".hidden.jpg",
        ".cache/x.jpg",
        "sub/.git/y.png",
        "sub/noext",
    ]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    found = [p.relative_to(tmp_path).as_posix() for p in find_images(tmp_path)]
    assert found == ["a.JPG", "b.png", "sub/deeper/c.tiff", "sub/z.webp", "sub-x.bmp"]
    flat = [p.name for p in find_images(tmp_path, recursive=False)]
    assert flat == ["a.JPG", "b.png", "sub-x.bmp"]


def test_find_images_bad_root(tmp_path):
    with pytest.raises(EdgezooError) as e:
        find_images(tmp_path / "missing")
    assert "no such folder" in _one_line_error(tmp_path / "missing", e)
    (tmp_path / "f.jpg").write_bytes(b"x")
    with pytest.raises(EdgezooError, match="not a folder"):
        find_images(tmp_path / "f.jpg")
