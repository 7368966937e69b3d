"""`edgezoo predict` end to end: real weights, real photos, odd files, raw frames, corrupt files."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from edgezoo.inputs.colour import write_frame
from edgezoo.inputs.preprocess import load_image, resize_crop
from edgezoo.runtime.engines import ENGINES, open_session
from edgezoo.runtime.predict import Predictor, collect_inputs, parse_frame_size, resolve_artifact

ESPRESSO = 967


def run_json(cli, *args):
    r = cli("predict", *args, "--json")
    return r, (json.loads(r.out) if r.out.strip() else None)


def top1(results) -> dict[str, int]:
    return {os.path.basename(r["image"]): r["topk"][0]["index"] for r in results}


@pytest.mark.parametrize("engine", ENGINES)
def test_json_schema_and_real_photos_in_every_engine(cli, lite0_artifact, photos, engine):
    r, results = run_json(cli, lite0_artifact.onnx_path, *photos.values(), "--engine", engine, "--topk", "3")
    assert r.code == 0, r.err
    assert [x["image"] for x in results] == [str(p) for p in photos.values()]
    for x in results:
        assert {"image", "topk", "ms"} <= set(x) and x["engine"] == engine and x["weights"] == "package"
        assert len(x["topk"]) == 3 and x["ms"] > 0
        assert all({"index", "label", "prob"} <= set(t) for t in x["topk"])
        probs = [t["prob"] for t in x["topk"]]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0 + 1e-6
    coffee = next(x for x in results if x["image"].endswith("coffee.png"))
    assert coffee["topk"][0] == {"index": ESPRESSO, "label": "espresso", "prob": coffee["topk"][0]["prob"],
                                 "synset": "n07920052"}  # fmt: skip
    assert coffee["topk"][0]["prob"] > 0.9


def test_every_engine_gives_the_same_top1_through_the_cli(cli, lite0_artifact, photos):
    answers = [top1(run_json(cli, lite0_artifact.onnx_path, *photos.values(), "--engine", e)[1]) for e in ENGINES]
    assert answers[0] == answers[1] == answers[2]


def test_text_output(cli, lite0_artifact, photos):
    r = cli("predict", lite0_artifact.onnx_path, photos["coffee"], "--topk", "2")
    assert r.code == 0, r.err
    assert "weights: package" in r.out and "random" not in r.out
    lines = r.out.splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith(str(photos["coffee"])))
    assert lines[i].endswith(" ms")
    assert lines[i + 1].split()[:2] == [str(ESPRESSO), "espresso"]


@pytest.fixture(scope="module")
def odd_folder(tmp_path_factory, photos):
    """The coffee photo in every format and shape people have it, plus a cat for contrast."""
    d = tmp_path_factory.mktemp("odd")
    rgb = load_image(photos["coffee"])
    rgb.save(d / "a.jpg", quality=92)
    rgb.save(d / "b.png")
    rgb.save(d / "c.bmp")
    rgb.save(d / "d.webp", quality=90)
    rgb.save(d / "e.tiff")
    rgb.convert("RGBA").save(d / "f_rgba.png")
    rgb.convert("P", palette=Image.Palette.ADAPTIVE).save(d / "g_palette.png")
    rgb.convert("L").save(d / "h_gray.png")
    Image.fromarray(np.asarray(rgb.convert("L")).astype(np.uint16) * 257).save(d / "i_16bit.png")
    rotated = rgb.rotate(90, expand=True)  # stored sideways, EXIF says "rotate 270 CW to view"
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated.save(d / "j_exif.jpg", exif=exif, quality=92)
    rgb.resize((rgb.width * 12, rgb.height * 12), Image.Resampling.BILINEAR).save(d / "k_huge.jpg", quality=80)
    load_image(photos["chelsea"]).save(d / "z_cat.jpg")
    (d / "notes.txt").write_text("not an image, and not picked up from a folder")
    return d


def test_every_odd_image_format(cli, lite0_artifact, odd_folder):
    r, results = run_json(cli, lite0_artifact.onnx_path, odd_folder)
    assert r.code == 0, r.err
    got = top1(results)
    assert set(got) == {p.name for p in odd_folder.iterdir() if p.suffix != ".txt"}
    colour = {k: v for k, v in got.items() if k not in ("h_gray.png", "i_16bit.png", "z_cat.jpg")}
    assert set(colour.values()) == {ESPRESSO}, got
    for gray in ("h_gray.png", "i_16bit.png"):  # no colour, but still a cup of coffee
        assert ESPRESSO in [t["index"] for t in next(x for x in results if x["image"].endswith(gray))["topk"]]
    assert got["z_cat.jpg"] in range(281, 286)  # a cat


def test_corrupt_files_are_reported_and_skipped(cli, lite0_artifact, photos, tmp_path):
    d = tmp_path / "mixed"
    d.mkdir()
    load_image(photos["coffee"]).save(d / "1_good.jpg")
    data = (d / "1_good.jpg").read_bytes()
    (d / "2_truncated.jpg").write_bytes(data[: len(data) // 3])
    (d / "3_noise.png").write_bytes(np.random.default_rng(0).bytes(5000))
    (d / "4_empty.webp").write_bytes(b"")
    (d / "5_text.jpg").write_text("hello")
    load_image(photos["chelsea"]).save(d / "6_good.png")
    (d / "7_short.nv12").write_bytes(b"\0" * 100)
    r, results = run_json(cli, lite0_artifact.onnx_path, d, tmp_path / "missing.jpg", "--frame-size", "224x224")
    assert r.code == 1
    assert [os.path.basename(x["image"]) for x in results] == ["1_good.jpg", "6_good.png"]
    assert results[0]["topk"][0]["index"] == ESPRESSO
    errors = [line for line in r.err.splitlines() if line.startswith("edgezoo: error:")]
    for name in ("2_truncated.jpg", "3_noise.png", "4_empty.webp", "5_text.jpg", "7_short.nv12", "missing.jpg"):
        assert sum(name in line for line in errors) == 1, (name, r.err)
    assert "6 of 8 files failed" in r.err


def test_nv12_frame_of_a_photo_classifies_like_the_photo(cli, lite0_artifact, photos, tmp_path):
    crop = resize_crop(load_image(photos["coffee"]), (224, 224), 0.875, "bicubic")
    write_frame(tmp_path / "coffee224.nv12", crop, "nv12")
    big = np.asarray(load_image(photos["coffee"]).resize((640, 480)))
    write_frame(tmp_path / "coffee640.yuv", big, "i420")
    write_frame(tmp_path / "coffee640v.nv12", big, "nv12", full_range=False)
    r, frames = run_json(cli, lite0_artifact.onnx_path, tmp_path / "coffee224.nv12", "--frame-size", "224x224")
    assert r.code == 0, r.err
    _, photo = run_json(cli, lite0_artifact.onnx_path, photos["coffee"])
    assert frames[0]["topk"][0]["index"] == photo[0]["topk"][0]["index"] == ESPRESSO
    assert abs(frames[0]["topk"][0]["prob"] - photo[0]["topk"][0]["prob"]) < 0.05
    r, big_frame = run_json(cli, lite0_artifact.onnx_path, tmp_path / "coffee640.yuv", "--frame-size", "640x480")
    assert r.code == 0 and big_frame[0]["topk"][0]["index"] == ESPRESSO
    args = (lite0_artifact.onnx_path, tmp_path / "coffee640v.nv12", "--frame-size", "640x480")
    r, video = run_json(cli, *args, "--frame-range", "video")
    assert r.code == 0 and video[0]["topk"][0]["index"] == ESPRESSO
    # the same bytes read as full range are washed out: the probability moves
    _, wrong = run_json(cli, *args)
    assert abs(wrong[0]["topk"][0]["prob"] - video[0]["topk"][0]["prob"]) > 1e-3


def test_frames_need_a_valid_frame_size(cli, lite0_artifact, photos, tmp_path):
    write_frame(tmp_path / "f.nv12", np.zeros((224, 224, 3), np.uint8))
    r = cli("predict", lite0_artifact.onnx_path, tmp_path / "f.nv12")
    assert r.code == 1 and "needs --frame-size" in r.err
    for bad in ("224", "224x", "223x224", "0x0"):
        r = cli("predict", lite0_artifact.onnx_path, tmp_path / "f.nv12", "--frame-size", bad)
        assert r.code == 2 and "--frame-size" in r.err
    r = cli("predict", lite0_artifact.onnx_path, tmp_path / "f.nv12", "--frame-size", "320x240")
    assert r.code == 1 and "frame is 115200 bytes" in r.err


def test_usage_errors_exit_2(cli, lite0_artifact, photos, tmp_path):
    cases = [
        (("no_such_model", photos["coffee"]), "unknown model 'no_such_model'"),
        ((lite0_artifact.onnx_path, photos["coffee"], "--pretrained"), "not an artifact"),
        ((lite0_artifact.onnx_path, tmp_path), "no images or frames found"),
        ((lite0_artifact.onnx_path, photos["coffee"], "--engine", "tflite"), "unknown engine 'tflite'"),
        ((lite0_artifact.onnx_path, photos["coffee"], "--device", "cuda"), "CUDAExecutionProvider"),
        ((lite0_artifact.onnx_path, photos["coffee"], "--topk", "0"), "--topk must be at least 1"),
        ((lite0_artifact.onnx_path, photos["coffee"], "--frame-range", "tv"), "--frame-range 'tv'"),
    ]
    for args, problem in cases:
        r = cli("predict", *args)
        assert r.code == 2 and problem in r.err and len(r.err.strip().splitlines()) == 1, (args, r.err)


def test_model_name_is_exported_once_and_reused(cli, photos, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEZOO_CACHE", str(tmp_path / "cache"))
    r = cli("predict", "tf_efficientnet_lite0", photos["coffee"])
    assert r.code == 0, r.err
    assert "weights: random (random: the classes mean nothing)" in r.out
    onnx_path = tmp_path / "cache" / "tf_efficientnet_lite0" / "random-seed0" / "tf_efficientnet_lite0.onnx"
    stamp = onnx_path.stat().st_mtime_ns
    assert resolve_artifact("tf_efficientnet_lite0").onnx_path == onnx_path
    assert onnx_path.stat().st_mtime_ns == stamp  # reused, not re-exported
    onnx_path.write_bytes(onnx_path.read_bytes()[:-10])  # damaged cache: detected by its sha256, re-exported
    artifact = resolve_artifact("tf_efficientnet_lite0")
    assert artifact.onnx_path.stat().st_size == artifact.card["size_bytes"]


def test_dynamic_batch_gives_the_same_answers_as_one_by_one(lite0_artifact, photos, tmp_path):
    from edgezoo.export.to_onnx import export
    from edgezoo.zoo.registry import get_card

    dyn, _ = export(get_card("tf_efficientnet_lite0"), pretrained=True, dynamic_batch=True, out_dir=tmp_path)
    paths = collect_inputs(photos.values())
    one = list(Predictor(open_session(lite0_artifact), batch_size=4)(paths))
    batched = Predictor(open_session(dyn), batch_size=4)
    assert batched.batch_size == 4
    many = list(batched(paths))
    assert [p.image for p in many] == [p.image for p in one]
    for a, b in zip(one, many, strict=True):
        assert [t.index for t in a.topk] == [t.index for t in b.topk]
        np.testing.assert_allclose([t.prob for t in a.topk], [t.prob for t in b.topk], atol=1e-4)


def test_parse_frame_size():
    assert parse_frame_size("640x480") == (640, 480)
    assert parse_frame_size("1920X1080") == (1920, 1080)
