"""edgezoo run: one results file per model that edgezoo table reads; offline with or without data."""

from __future__ import annotations

import json
import shutil

from edgezoo.evaluate.datasets import imagenet_synsets

QUICK = ("--duration", "0.2", "--engine", "onnxruntime", "--threads", "1")  # one short bench measurement


def test_run_with_real_weights_and_data_then_without_data_then_table(cli, tmp_path, photos):
    data = tmp_path / "data"
    for stem, label in (("coffee", 967), ("grace_hopper", 400), ("chelsea", 0)):
        folder = data / imagenet_synsets()[label]
        folder.mkdir(parents=True)
        shutil.copy(photos[stem], folder / photos[stem].name)
    out = tmp_path / "results"

    r = cli("run", "tf_efficientnet_lite0", "--pretrained", "--data", data, "-o", out, *QUICK)
    assert r.code == 0, r.err
    doc = json.loads((out / "tf_efficientnet_lite0.json").read_text())
    assert doc["edgezoo_results"] == 1 and doc["weights"]["kind"] == "package"
    assert doc["stages"]["export"]["status"] == "ok" and doc["stages"]["eval"]["status"] == "ok"
    fp32 = doc["precisions"]["fp32"]
    # coffee and grace_hopper are right, chelsea labelled tench is wrong: the eval document agrees.
    report = json.loads((out / "eval" / "tf_efficientnet_lite0.json").read_text())
    [result] = [r for r in report["models"][0]["results"] if r["precision"] == "fp32"]
    assert result["correct_top1"] == 2 and fp32["top1"] == result["top1"]
    assert (out / "artifacts" / "tf_efficientnet_lite0.onnx").is_file()
    bench = doc["stages"]["bench"]
    if bench["status"] == "ok":
        assert fp32["latency_1t_ms"] > 0 and fp32["engine"] == "onnxruntime" and doc["machine"]["cpu"]
    else:
        assert bench == {"status": "skipped", "reason": "bench stage not available in this build of edgezoo"}
        assert fp32["latency_1t_ms"] is None and fp32["speed_note"] == bench["reason"]

    r = cli("run", "fastvit_t8", "--data", data, "-o", out, *QUICK)
    assert r.code == 0, r.err
    t8 = json.loads((out / "fastvit_t8.json").read_text())
    assert t8["stages"]["eval"] == {"status": "skipped", "reason": "random weights"}
    assert t8["precisions"]["fp32"]["top1"] is None and t8["precisions"]["fp32"]["accuracy_note"] == "random weights"

    r = cli("run", "fastvit_t8", "-o", out, *QUICK)
    t8 = json.loads((out / "fastvit_t8.json").read_text())
    assert t8["stages"]["eval"] == {"status": "skipped", "reason": "no --data"}

    r = cli("table", "--results", out)
    assert r.code == 0, r.err
    assert "fastvit_t8" in r.out and "tf_efficientnet_lite0" in r.out and "no --data" in r.out


def test_run_bad_input(cli, tmp_path):
    r = cli("run", "fastvit_t8", "--data", tmp_path / "nope", "-o", tmp_path / "out")
    assert r.code == 2 and "no such data folder" in r.err
    assert not (tmp_path / "out" / "fastvit_t8.json").exists()
    r = cli("run", "fastvit_t8", "--weights", tmp_path / "w.pth", "--pretrained", "-o", tmp_path / "out")
    assert r.code == 2 and "exclude each other" in r.err
