"""edgezoo eval: real-weights lite0 on real photos arranged in every dataset layout, counted independently."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnxruntime as ort
import pytest
from conftest import dynamic_int8

from edgezoo.evaluate.datasets import ilsvrc2012_wnids, imagenet_synsets
from edgezoo.export.to_onnx import export
from edgezoo.inputs.preprocess import prepare
from edgezoo.zoo.registry import get_card

MODEL = "tf_efficientnet_lite0"
SYN = imagenet_synsets()
# Ground truths chosen against what lite0 predicts on these photos (top-5 in comments), so that some
# are right, some are wrong but in the top 5, and one is wrong outright. Coffee is espresso (967) and
# chelsea is a cat; the tests below do not trust these comments, they count on their own.
TRUTH = {
    "coffee": 967,  # espresso: right
    "chelsea": 281,  # tabby; lite0 says tiger cat 282, tabby in its top 5
    "grace_hopper": 400,  # academic gown: right
    "astronaut": 560,  # football helmet: right
    "rocket": 744,  # projectile; lite0 says missile 657
    "motorcycle_left": 670,  # motor scooter; lite0 says moped 665
    "hubble_deep_field": 0,  # tench: wrong, not in the top 5
}


@pytest.fixture(scope="module")
def lite0(tmp_path_factory):
    """Float and a (dynamically quantized) INT8 artifact of real-weights lite0, in one folder."""
    out = tmp_path_factory.mktemp("artifacts")
    art, _ = export(get_card(MODEL), pretrained=True, out_dir=out)
    return art, dynamic_int8(art, out)


@pytest.fixture(scope="module")
def photos_used(photos):
    missing = set(TRUTH) - set(photos)
    if missing:
        pytest.skip(f"sample photos missing: {missing}")
    return {k: photos[k] for k in TRUTH}


def _independent_counts(artifact, files: dict[str, object]) -> tuple[int, int, list[int]]:
    """Top-1/Top-5 hits counted here with a plain ONNX Runtime session, outside edgezoo's eval."""
    session = ort.InferenceSession(str(artifact.onnx_path), providers=["CPUExecutionProvider"])
    card = get_card(MODEL)
    top1 = top5 = 0
    preds = []
    for stem, path in files.items():
        x = prepare(
            path,
            size=card.img_size,
            crop_pct=card.crop_pct,
            interpolation=card.interpolation,
            mean=card.mean,
            std=card.std,
        )
        logits = session.run(None, {"input": x})[0][0]
        best = np.argsort(-logits)[:5]
        preds.append(int(best[0]))
        top1 += int(best[0] == TRUTH[stem])
        top5 += int(TRUTH[stem] in best)
    return top1, top5, preds


def _arrange(fmt: str, root, photos: dict) -> None:
    """Put the photos into one of the four layouts, ground truth from TRUTH."""
    stems = sorted(photos)
    if fmt == "imagefolder":
        for s in stems:
            (root / SYN[TRUTH[s]]).mkdir(parents=True, exist_ok=True)
            shutil.copy(photos[s], root / SYN[TRUTH[s]] / photos[s].name)
    elif fmt == "ilsvrc2012":
        root.mkdir()
        ids = {w: i + 1 for i, w in enumerate(ilsvrc2012_wnids())}
        for k, s in enumerate(stems, 1):
            shutil.copy(photos[s], root / f"ILSVRC2012_val_{k:08d}{photos[s].suffix}")
        lines = [str(ids[SYN[TRUTH[s]]]) for s in stems]
        (root / "ILSVRC2012_validation_ground_truth.txt").write_text("\n".join(lines) + "\n")
    elif fmt == "kaggle":
        (root / "val").mkdir(parents=True)
        rows = ["ImageId,PredictionString"]
        for k, s in enumerate(stems, 1):
            shutil.copy(photos[s], root / "val" / f"ILSVRC2012_val_{k:08d}{photos[s].suffix}")
            rows.append(f"ILSVRC2012_val_{k:08d},{SYN[TRUTH[s]]} 10 20 200 220 {SYN[TRUTH[s]]} 5 5 50 60")
        (root / "LOC_val_solution.csv").write_text("\n".join(rows) + "\n")
    else:
        root.mkdir()
        for s in stems:
            shutil.copy(photos[s], root / photos[s].name)
        (root / "val.txt").write_text("".join(f"{photos[s].name} {TRUTH[s]}\n" for s in stems))


@pytest.mark.parametrize("fmt", ["imagefolder", "ilsvrc2012", "kaggle", "list"])
def test_eval_every_layout_matches_an_independent_count(cli, tmp_path, lite0, photos_used, fmt):
    art, _ = lite0
    _arrange(fmt, tmp_path / "data", photos_used)
    top1, top5, _ = _independent_counts(art, photos_used)
    assert 0 < top1 < top5 < len(TRUTH)  # the ground truth mixes right and wrong answers
    r = cli("eval", art.onnx_path, "--data", tmp_path / "data", "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["dataset"]["format"] == fmt and report["dataset"]["evaluated"] == len(TRUTH)
    [result] = report["models"][0]["results"]
    assert (result["correct_top1"], result["correct_top5"]) == (top1, top5)
    assert result["top1"] == pytest.approx(100 * top1 / len(TRUTH), abs=1e-3)
    assert result["top5"] == pytest.approx(100 * top5 / len(TRUTH), abs=1e-3)


def test_known_classes_on_real_photos(lite0, photos_used):
    art, _ = lite0
    _, _, preds = _independent_counts(art, photos_used)
    by_stem = dict(zip(photos_used, preds, strict=True))
    assert by_stem["coffee"] == 967
    assert by_stem["chelsea"] in {281, 282, 285}


def test_float_and_int8_side_by_side_with_agreement_and_determinism(cli, tmp_path, lite0, photos_used):
    art, int8 = lite0
    _arrange("list", tmp_path / "data", photos_used)
    _, _, float_preds = _independent_counts(art, photos_used)
    i1, i5, int8_preds = _independent_counts(int8, photos_used)
    agree = sum(a == b for a, b in zip(float_preds, int8_preds, strict=True))
    args = ("eval", MODEL, "--pretrained", "-o", art.onnx_path.parent, "--data", tmp_path / "data", "--json")
    first = json.loads(cli(*args, "--workers", "2").out)
    second = json.loads(cli(*args, "--workers", "0").out)
    results = {r["precision"]: r for r in first["models"][0]["results"]}
    assert set(results) == {"fp32", "int8"}
    assert (results["int8"]["correct_top1"], results["int8"]["correct_top5"]) == (i1, i5)
    assert results["int8"]["agreement_top1"] == pytest.approx(100 * agree / len(TRUTH), abs=1e-3)
    assert results["fp32"]["agreement_top1"] is None
    assert first["models"] == second["models"]  # same numbers whatever the number of workers


def test_limit_is_class_balanced_and_said(cli, tmp_path, lite0, photos_used):
    art, _ = lite0
    data = tmp_path / "data"
    _arrange("imagefolder", data, photos_used)
    shutil.copy(photos_used["coffee"], data / SYN[967] / "again.png")  # espresso now has two images
    r = cli("eval", art.onnx_path, "--data", data, "--limit", "7")
    assert r.code == 0, r.err
    assert "fixed class-balanced subset of 7 of 8 images (7 classes, 1-1 per class" in " ".join(r.out.split())
    report = json.loads(cli("eval", art.onnx_path, "--data", data, "--limit", "7", "--json").out)
    assert report["dataset"]["subset"]["per_class_max"] == 1


def test_bad_inputs_exit_2_with_one_line(cli, tmp_path, lite0, photos_used):
    art, _ = lite0
    (tmp_path / "empty").mkdir()
    r = cli("eval", art.onnx_path, "--data", tmp_path / "empty")
    assert r.code == 2 and "no images found" in r.err and len(r.err.strip().splitlines()) == 1

    data = tmp_path / "data"
    _arrange("list", data, photos_used)
    with (data / "val.txt").open("a") as f:
        f.write("not_here.jpg 3\nalso_gone.png 4\n")
    r = cli("eval", art.onnx_path, "--data", data)
    assert r.code == 2 and "2 named in the ground truth but not found (first: line 8: not_here.jpg)" in r.err
    r = cli("eval", art.onnx_path, "--data", data, "--skip-invalid", "--json")
    assert r.code == 0 and json.loads(r.out)["dataset"]["issues"]["missing_files"] == 2

    (data / "val.txt").write_text(f"{photos_used['coffee'].name} 1000\n")
    r = cli("eval", art.onnx_path, "--data", data)
    assert r.code == 2 and "class index out of range" in r.err

    r = cli("eval", art.onnx_path, "--data", data, "--format", "voc")
    assert r.code == 2 and "unknown dataset format 'voc'" in r.err

    (data / "val.txt").unlink()
    r = cli("eval", art.onnx_path, "--data", data)
    assert r.code == 2 and "cannot tell the dataset format" in r.err

    (data / "broken.jpg").write_bytes(b"not a jpeg")
    (data / "val.txt").write_text(f"broken.jpg 1\n{photos_used['coffee'].name} 967\n")
    r = cli("eval", art.onnx_path, "--data", data)
    assert r.code == 2 and "broken.jpg" in r.err and "--skip-invalid" in r.err
    report = json.loads(cli("eval", art.onnx_path, "--data", data, "--skip-invalid", "--json").out)
    assert report["dataset"]["unreadable"] == 1 and report["models"][0]["results"][0]["correct_top1"] == 1
