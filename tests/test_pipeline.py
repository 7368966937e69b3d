"""edgezoo run: one results file per model that edgezoo table reads; offline with or without data."""

from __future__ import annotations

import json
import shutil

import pytest

from edgezoo.evaluate.datasets import imagenet_synsets
from edgezoo.host import Host

# One short bench measurement, and the shipped configs whatever the host (tuning is tested on its own).
QUICK = ("--duration", "0.2", "--engine", "onnxruntime", "--threads", "1", "--no-tune")
# A host of a class no shipped config was measured or confirmed on (the RDK X5's core).
A55 = Host("Cortex-A55", "aarch64", ("asimd", "asimddp"))


def test_run_with_real_weights_and_data_then_random_weights_then_table(cli, tmp_path, photos):
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

    # (a run without --data, and the table's "no --data": tests/test_ray.py, whose runs have none)
    r = cli("table", "--results", out)
    assert r.code == 0, r.err
    assert "fastvit_t8" in r.out and "tf_efficientnet_lite0" in r.out and "– (random" in r.out


def test_run_bad_input(cli, tmp_path):
    r = cli("run", "fastvit_t8", "--data", tmp_path / "nope", "-o", tmp_path / "out")
    assert r.code == 2 and "no such data folder" in r.err
    assert not (tmp_path / "out" / "fastvit_t8.json").exists()
    r = cli("run", "fastvit_t8", "--weights", tmp_path / "w.pth", "--pretrained", "-o", tmp_path / "out")
    assert r.code == 2 and "exclude each other" in r.err


def _calib(tmp_path, photos):
    calib = tmp_path / "calib"
    calib.mkdir()
    for stem in ("coffee", "grace_hopper", "chelsea"):
        shutil.copy(photos[stem], calib / photos[stem].name)
    return calib


def test_run_tunes_only_where_the_shipped_config_was_measured_on_another_isa(cli, tmp_path, photos, monkeypatch):
    """On a host of an ISA class the config neither was measured on nor was confirmed on, run calls
    tune; with --no-tune or on such a host it quantizes with the shipped config (both stubbed here:
    the decision is tested)."""
    import edgezoo.pipeline.runner as runner
    import edgezoo.quantize.api as api
    import edgezoo.tune.search as search
    from edgezoo.errors import EdgezooError
    from edgezoo.quantize.config import load_config

    calib = _calib(tmp_path, photos)
    called = []

    def fake(what):
        def stub(source, *args, **kwargs):
            called.append(what)
            raise EdgezooError(f"{what} was called")

        return stub

    monkeypatch.setattr(search, "tune_artifact", fake("tune"))
    monkeypatch.setattr(api, "quantize_artifact", fake("quantize"))
    zen3 = Host("AMD EPYC 7B13", "x86_64", ("avx2", "fma"))
    zen4 = Host("AMD EPYC", "x86_64", ("avx2", "avx512f", "avx512_vnni", "avx512_bf16"))
    config = load_config("fastvit_t8")
    # measured on Zen 4, confirmed by tune on a Zen 3 (fastvit_base.yaml), never timed on ARM
    assert config.measured_on["isa"] == zen4.isa_class and config.isa_classes == (zen4.isa_class, zen3.isa_class)
    args = ("run", "fastvit_t8", "--calib", calib, "--engine", "onnxruntime", "-o", tmp_path / "out")
    cases = ((A55, (), "tune"), (A55, ("--no-tune",), "quantize"), (zen4, (), "quantize"), (zen3, (), "quantize"))
    for host, extra, want in cases:
        monkeypatch.setattr(runner, "current_host", lambda host=host: host)
        r = cli(*args, *extra)
        assert r.code == 2 and f"{want} was called" in r.err, (host.isa_class, extra, r.err)
    assert called == ["tune", "quantize", "quantize", "quantize"]


@pytest.mark.slow
def test_run_on_an_unconfirmed_isa_tunes_and_ships_the_tuned_artifact(cli, tmp_path, photos, monkeypatch):
    """The whole tune path inside run, on timm's tiny test model with a host of a class no config names."""
    import edgezoo.pipeline.runner as runner
    import edgezoo.tune.search as search

    monkeypatch.setattr(runner, "current_host", lambda: A55)
    monkeypatch.setattr(search, "DEFAULT_BUDGET_S", 30.0)  # a few candidates and short latency rounds
    out = tmp_path / "out"
    r = cli("run", "test_efficientnet", "--calib", _calib(tmp_path, photos), "-o", out, *QUICK[:-1])
    assert r.code == 0, r.err
    stage = json.loads((out / "test_efficientnet.json").read_text())["stages"]["quantize"]
    assert stage["status"] == "ok" and "not on this arm-neon-dotprod host" in stage["reason"]
    tuned = out / "artifacts" / "test_efficientnet.tuned.yaml"
    assert f"{tuned.name}" in stage["reason"] and tuned.is_file()
    card = json.loads((out / "artifacts" / "test_efficientnet.int8.json").read_text())
    assert card["quantization"]["config_file"] == str(tuned) and card["tune"]["chosen"] in stage["reason"]
    assert card["quantization"]["confirmed_on"] == []  # a tuned config is measured on its host, confirmed nowhere


@pytest.mark.slow
def test_run_no_tune_ships_the_config_on_another_isa(cli, tmp_path, photos, monkeypatch):
    import edgezoo.pipeline.runner as runner

    monkeypatch.setattr(runner, "current_host", lambda: A55)
    calib = _calib(tmp_path, photos)
    r = cli("run", "fastvit_t8", "--calib", calib, "--no-tune", "--duration", "0.1", "--engine", "onnxruntime",
            "--threads", "1", "-o", tmp_path / "b")  # fmt: skip
    assert r.code == 0, r.err
    doc = json.loads((tmp_path / "b" / "fastvit_t8.json").read_text())
    stage = doc["stages"]["quantize"]
    assert stage["status"] == "ok" and "tuned" not in (stage.get("reason") or "")
    card = json.loads((tmp_path / "b" / "artifacts" / "fastvit_t8.int8.json").read_text())
    assert card["quantization"]["config_file"] == "configs/fastvit_t8.yaml"
    assert card["quantization"]["measured_on"]["isa"] == "avx512-vnni-bf16" and card["host"]["isa"]
    assert [entry["isa"] for entry in card["quantization"]["confirmed_on"]] == ["avx2"]
