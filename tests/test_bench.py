"""``edgezoo bench`` end to end on fastvit_t8 with every engine, its JSON, and its failure paths."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgezoo.artifact import Artifact, write_artifact
from edgezoo.bench.measure import dummy_input
from edgezoo.bench.run import _measure_model
from edgezoo.bench.targets import Target
from edgezoo.host import current_host

RESULT_FIELDS = {
    "model", "artifact", "label", "engine", "device", "precision", "variant", "threads", "streams", "batch",
    "latency_ms", "spread", "mad_ms", "iterations", "fps", "load_s", "size_bytes", "peak_rss_mb", "rss_delta_mb",
    "ratio_to_best", "best_label", "engine_precision", "note", "measured_s", "deployed",
}  # fmt: skip
FAST = ["--duration", "0.05", "--warmup", "0", "--threads", "1"]


@pytest.fixture(scope="module")
def t8(tmp_path_factory) -> tuple[Artifact, Artifact]:
    """fastvit_t8 exported, plus an int8 artifact made with ONNX Runtime's static quantizer.

    The int8 file stands in for the quantize stage's output (same naming and card fields), so that
    bench's int8 path runs on a real QDQ model.
    """
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantType, quantize_static

    from edgezoo.export.to_onnx import export
    from edgezoo.zoo.registry import get_card

    folder = tmp_path_factory.mktemp("artifacts")
    fp32, _ = export(get_card("fastvit_t8"), out_dir=folder)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter([{"input": dummy_input(fp32, seed=i)} for i in range(2)])

        def get_next(self):
            return next(self._it, None)

    tmp = folder / "q.onnx"
    quantize_static(str(fp32.onnx_path), str(tmp), Reader(), activation_type=QuantType.QUInt8)
    card = {**{k: v for k, v in fp32.card.items() if k not in {"file", "size_bytes", "sha256"}}, "precision": "int8"}
    int8 = write_artifact(onnx.load(str(tmp)), {**card, "engine": "openvino"}, folder, "fastvit_t8.int8")
    tmp.unlink()
    return fp32, int8


def test_every_engine_and_peer_on_t8(cli, t8, tmp_path):
    fp32, int8 = t8
    out = tmp_path / "out"
    r = cli("bench", fp32.onnx_path, int8.onnx_path, *FAST, "--streams", "1,2", "--json", "-o", out,
            "--artifacts-dir", fp32.onnx_path.parent)  # fmt: skip
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc == json.loads((out / "bench.json").read_text())
    assert "| edgezoo openvino int8 |" in (out / "bench.md").read_text()
    assert doc["schema"] == "edgezoo.bench/1" and doc["command"].startswith("edgezoo bench")
    assert {"model", "flags", "usable_cores"} <= set(doc["machine"]["cpu"])
    assert {"onnxruntime", "openvino", "torch"} <= set(doc["machine"]["versions"])
    results = doc["results"]
    for res in results:
        assert set(res) >= RESULT_FIELDS, RESULT_FIELDS - set(res)
        assert set(res["latency_ms"]) == {"min", "median", "p90", "p99", "mean"}
        lat = res["latency_ms"]
        assert 0 < lat["min"] <= lat["median"] <= lat["p90"] <= lat["p99"]
        assert res["fps"] > 0 and res["iterations"] >= 10 and res["peak_rss_mb"] > 0
    ways = {(r["variant"], r["engine"], r["precision"]) for r in results}
    # A bf16 row only where the CPU computes in bf16 (elsewhere OpenVINO would run it in f32).
    bf16 = {("edgezoo", "openvino", "bf16")} if current_host().bf16 else set()
    assert ways == bf16 | {
        ("edgezoo", "onnxruntime", "fp32"),
        ("edgezoo", "openvino", "fp32"),
        ("edgezoo", "onnxruntime", "int8"),
        ("edgezoo", "openvino", "int8"),
        ("eager", "torch", "fp32"),
        ("eager-reparam", "torch", "fp32"),
        ("ort-plain", "onnxruntime", "fp32"),
        ("nncf-default", "openvino", "int8"),
    }
    assert {(r["threads"], r["streams"]) for r in results} == {(1, 1), (1, 2)}
    by = {(r["label"], r["streams"]): r for r in results}
    assert by[("edgezoo openvino fp32", 1)]["engine_precision"] == "f32"
    if bf16:
        assert by[("edgezoo openvino bf16", 1)]["engine_precision"] == "bf16"
    else:
        assert any(s["what"] == "edgezoo openvino bf16" and "no bf16" in s["reason"] for s in doc["skipped"])
    assert doc["machine"]["cpu"]["isa"] == current_host().isa_class
    assert by[("edgezoo openvino int8+f32", 1)]["engine_precision"] == "f32"
    assert by[("edgezoo openvino int8", 1)]["engine_precision"] == doc["machine"]["openvino_default_precision"]
    best = min((r for r in results if r["variant"] == "edgezoo" and r["streams"] == 1),
               key=lambda r: r["latency_ms"]["median"])  # fmt: skip
    assert best["ratio_to_best"] == pytest.approx(1.0) and best["best_label"] == best["label"]
    assert all(r["ratio_to_best"] >= 1.0 for r in results if r["variant"] == "edgezoo" and r["streams"] == 1)
    (one_thread,) = doc["summary"]
    from edgezoo.bench.targets import deployed_label

    assert (one_thread["int8_label"], one_thread["int8_deployed"]) == (deployed_label(int8), True)
    assert [r["label"] for r in results if r["deployed"] and r["streams"] == 1] == [deployed_label(int8)]
    assert one_thread["targets_isa"] == current_host().isa_class and set(one_thread["targets_met"]) == {
        "vs_eager_reparam", "vs_nncf_default", "vs_best_float"
    }  # fmt: skip
    assert one_thread["int8_speedup_vs_eager_reparam"] == pytest.approx(
        by[("eager-reparam torch fp32", 1)]["latency_ms"]["median"] / one_thread["int8_median_ms"]
    )
    assert "nncf.quantize defaults" in by[("nncf-default openvino int8", 1)]["note"]
    assert any(s["what"] == "torch cuda" for s in doc["skipped"])  # no GPU here: reported, not crashed


def test_missing_engine_is_reported(cli, t8, tmp_path, monkeypatch):
    import edgezoo.bench.targets as targets

    real = targets.engine_version
    monkeypatch.setattr(targets, "engine_version", lambda e: None if e == "openvino" else real(e))
    fp32, _ = t8
    r = cli("bench", fp32.onnx_path, *FAST, "--streams", "1", "--precisions", "fp32", "--peers", "nncf-default",
            "--json", "--artifacts-dir", tmp_path)  # fmt: skip
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert {r["label"] for r in doc["results"]} == {"edgezoo onnxruntime fp32"}
    reasons = {s["what"]: s["reason"] for s in doc["skipped"]}
    assert reasons["engine openvino"] == "openvino is not installed"
    assert "not selected" in reasons["peer nncf-default"] or "not installed" in reasons["peer nncf-default"]


def test_a_combination_that_fails_is_reported(t8, tmp_path):
    fp32, _ = t8
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model")
    bad = Target("fastvit_t8", "edgezoo", "onnxruntime", "fp32", "cpu", str(broken), str(fp32.card_path))
    good = Target("fastvit_t8", "edgezoo", "onnxruntime", "fp32", "cpu", str(fp32.onnx_path), str(fp32.card_path))
    good.batches = [1, 4]  # the export has a fixed batch of 1: batch 4 cannot run
    events = [(t.path, combo, e) for t, combo, e in _measure_model([bad, good], [1], [1], duration=0.02, warmup=0)]
    kinds = {(Path(path).name, combo[0]): e["event"] for path, combo, e in events}
    assert kinds == {("broken.onnx", 1): "error", ("fastvit_t8.onnx", 1): "result", ("fastvit_t8.onnx", 4): "error"}
    reasons = [e["reason"] for _, _, e in events if e["event"] == "error"]
    assert "broken.onnx" in reasons[0] and "fixed batch of 1" in reasons[1]


def test_a_worker_stopped_after_a_timeout_is_replaced_for_the_next_combination(t8, monkeypatch):
    """A call that gets no answer in time stops its worker; the next combination of that target used
    to write to the stopped worker's closed pipe and end the bench in a traceback (seen under QEMU,
    where everything runs ~28x slower). It now gets a fresh worker, and the timeout is one error row."""
    from edgezoo.bench import run

    fp32, _ = t8
    target = Target("fastvit_t8", "edgezoo", "onnxruntime", "fp32", "cpu", str(fp32.onnx_path), str(fp32.card_path))
    real_call, timed_out = run.WorkerProcess.call, []

    def call(self, command, timeout):
        if command["cmd"] == "time" and not timed_out:  # what call() does when no answer comes in time
            timed_out.append(self)
            self.stop()
            raise run.WorkerDied("no answer within 1 s")
        return real_call(self, command, timeout)

    monkeypatch.setattr(run.WorkerProcess, "call", call)
    events = list(run._measure_model([target], [1], [1, 2], duration=0.02, warmup=0))
    assert [(combo[2], e["event"]) for _, combo, e in events] == [(1, "error"), (2, "result")]
    assert events[0][2]["reason"] == "no answer within 1 s" and not timed_out[0].alive()


def test_int8_missing_for_a_model_name_is_reported(cli, t8, tmp_path):
    fp32, _ = t8
    folder = tmp_path / "art"
    folder.mkdir()
    for p in (fp32.onnx_path, fp32.card_path):
        (folder / p.name).write_bytes(p.read_bytes())
    r = cli("bench", "fastvit_t8", *FAST, "--streams", "1", "--engines", "onnxruntime", "--no-peers", "--json",
            "--artifacts-dir", folder)  # fmt: skip
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert {r["label"] for r in doc["results"]} == {"edgezoo onnxruntime fp32"}  # found, not re-exported
    (int8,) = [s for s in doc["skipped"] if s["what"] == "edgezoo int8"]
    assert "fastvit_t8.int8.onnx" in int8["reason"] and "--calib" in int8["reason"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--threads", "0"], "positive integers"),
        (["--threads", "one"], "comma-separated list of int"),
        (["--engines", "tensorflow"], "unknown engine 'tensorflow'"),
        (["--precisions", "fp8"], "unknown precision 'fp8'"),
        (["--peers", "tvm"], "unknown peer 'tvm'"),
        (["--devices", "tpu"], "unknown device"),
        (["--duration", "0"], "--duration"),
    ],
)
def test_bad_options_are_one_line_errors(cli, t8, tmp_path, args, message):
    fp32, _ = t8
    r = cli("bench", fp32.onnx_path, *args, "-o", tmp_path / "out")
    assert r.code == 2
    assert r.err.startswith("edgezoo: error:") and message in r.err and r.err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_not_an_artifact(cli, tmp_path):
    bogus = tmp_path / "model.onnx"
    bogus.write_bytes(b"x")
    r = cli("bench", bogus)
    assert r.code == 2 and "not an edgezoo artifact" in r.err


def test_dummy_input_follows_the_card():
    card = {"input": {"shape": ["batch", 3, 4, 4], "dtype": "uint8"}}
    x = dummy_input(Artifact(Path("x.onnx"), card), batch=3)
    assert x.shape == (3, 3, 4, 4) and x.dtype == np.uint8 and x.max() > x.min()
    fixed = Artifact(Path("y.onnx"), {"input": {"shape": [1, 3, 4, 4], "dtype": "float32"}})
    assert dummy_input(fixed).dtype == np.float32
    with pytest.raises(ValueError, match="fixed batch"):
        dummy_input(fixed, batch=2)


def test_unknown_model_writes_nothing(cli, tmp_path):
    r = cli("bench", "fastvt_t8", "-o", tmp_path / "out")
    assert r.code == 2 and "unknown model 'fastvt_t8'; did you mean fastvit_t8" in r.err
    assert not (tmp_path / "out").exists()


def test_model_name_and_an_int8_file_of_it_measure_both_int8_models(t8, tmp_path):
    """`bench fastvit_t8 other/fastvit_t8.int8.onnx`: the model's own int8 (from --artifacts-dir) and
    the given file are two rows with tags apart, not one int8 slot that the file takes."""
    from edgezoo.bench.targets import PlanRequest, make_plan

    fp32, int8 = t8
    other = tmp_path / "other"
    other.mkdir()
    for p in (int8.onnx_path, int8.card_path):
        (other / p.name).write_bytes(p.read_bytes())
    req = PlanRequest(
        items=("fastvit_t8", str(other / int8.onnx_path.name)), engines=("onnxruntime",), precisions=("int8",),
        peers=(), devices=("cpu",), artifacts_dir=fp32.onnx_path.parent,
    )  # fmt: skip
    plan = make_plan(req)
    rows = {Path(t.path).resolve(): t for t in plan.targets if t.precision == "int8"}
    assert set(rows) == {int8.onnx_path.resolve(), (other / int8.onnx_path.name).resolve()}
    labels = {t.label for t in rows.values()}
    assert len(labels) == 2 and all("[" in label for label in labels), labels  # tagged apart
    # The same file named twice (as the model's own and as a file) is measured once.
    again = make_plan(PlanRequest(**{**req.__dict__, "items": ("fastvit_t8", str(int8.onnx_path))}))
    assert [Path(t.path).resolve() for t in again.targets if t.precision == "int8"] == [int8.onnx_path.resolve()]


def test_an_int8_cards_precision_hint_gets_its_own_openvino_row(t8, tmp_path):
    """An int8 card that asks OpenVINO for a precision (``precision_hint``) has that way measured beside
    the engine's default and f32 rows; a hint equal to an existing row adds nothing."""
    from edgezoo.bench.targets import PlanRequest, make_plan

    fp32, int8 = t8
    folder = tmp_path / "hinted"
    folder.mkdir()
    for path in (fp32.onnx_path, fp32.card_path, int8.onnx_path):
        (folder / path.name).write_bytes(path.read_bytes())
    req = PlanRequest(
        items=("fastvit_t8",), engines=("onnxruntime", "openvino"), precisions=("int8",), peers=(),
        devices=("cpu",), artifacts_dir=folder,
    )  # fmt: skip
    rows = {}
    for hint in ("f32", "bf16"):
        card = {**json.loads(int8.card_path.read_text()), "engine": "openvino", "precision_hint": hint}
        (folder / int8.card_path.name).write_text(json.dumps(card))
        planned = [t for t in make_plan(req).targets if t.precision == "int8"]
        rows[hint] = [(t.engine, t.ov_precision, t.label) for t in planned]
        # The row the card deploys is marked so: the bench's targets judge that one.
        has_row = hint == "f32" or current_host().bf16  # no bf16 row where the CPU has no bf16
        assert [t.label for t in planned if t.deployed] == ([f"edgezoo openvino int8+{hint}"] if has_row else [])
    common = [
        ("onnxruntime", None, "edgezoo onnxruntime int8"),
        ("openvino", "default", "edgezoo openvino int8"),
        ("openvino", "f32", "edgezoo openvino int8+f32"),
    ]
    assert rows["f32"] == common
    bf16_row = [("openvino", "bf16", "edgezoo openvino int8+bf16")] if current_host().bf16 else []
    assert rows["bf16"] == [*common, *bf16_row]


@pytest.mark.parametrize("flags", [("avx2", "fma"), ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16")])
def test_a_bf16_row_is_planned_only_where_the_cpu_has_bf16(t8, tmp_path, monkeypatch, flags):
    """On an AVX2-only host (Zen 3) OpenVINO accepts a bf16 hint and runs f32: no row may say bf16 there."""
    import edgezoo.bench.targets as targets
    from edgezoo.host import Host

    host = Host("test CPU", "x86_64", flags)
    monkeypatch.setattr(targets, "current_host", lambda: host)
    fp32, _ = t8
    req = targets.PlanRequest(
        items=(str(fp32.onnx_path),), engines=("openvino",), precisions=("fp32", "bf16"), peers=(),
        devices=("cpu",), artifacts_dir=tmp_path,
    )  # fmt: skip
    plan = targets.make_plan(req)
    labels = {t.label for t in plan.targets}
    skipped = {s["what"]: s["reason"] for s in plan.skipped}
    assert "edgezoo openvino fp32" in labels
    if host.bf16:
        assert "edgezoo openvino bf16" in labels and "edgezoo openvino bf16" not in skipped
    else:
        assert "edgezoo openvino bf16" not in labels and "no bf16" in skipped["edgezoo openvino bf16"]


@pytest.mark.parametrize(
    ("flags", "has_f16"),
    [
        (("asimd", "asimdhp", "asimddp"), True),  # Cortex-A55 (the RDK X5's core): OpenVINO's default is f16
        (("asimd",), False),  # Cortex-A53: no half-precision arithmetic, OpenVINO runs float in f32
        (("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16"), False),  # x86: f16 hint runs f32 here
    ],
)
def test_an_f16_row_is_planned_only_where_openvino_computes_in_f16(t8, tmp_path, monkeypatch, flags, has_f16):
    """On an ARM core with asimdhp OpenVINO runs a float model in f16 by default, so "the best float
    way" there must include an f16 row; the default precisions add it only there, and an f16 row
    asked for elsewhere is skipped with the reason, never measured under a wrong name."""
    import edgezoo.bench.targets as targets
    from edgezoo.host import Host

    arch = "x86_64" if "avx2" in flags else "aarch64"
    monkeypatch.setattr(targets, "current_host", lambda: Host("test CPU", arch, flags))
    assert ("f16" in targets.default_precisions()) is has_f16
    fp32, _ = t8
    req = targets.PlanRequest(
        items=(str(fp32.onnx_path),), engines=("onnxruntime", "openvino"), precisions=("fp32", "f16"), peers=(),
        devices=("cpu",), artifacts_dir=tmp_path,
    )  # fmt: skip
    plan = targets.make_plan(req)
    labels = {t.label: t for t in plan.targets}
    skipped = {s["what"]: s["reason"] for s in plan.skipped}
    assert "ONNX Runtime" in skipped["onnxruntime f16"] and "edgezoo onnxruntime f16" not in labels
    if has_f16:
        assert labels["edgezoo openvino f16"].ov_precision == "f16"
        assert "edgezoo openvino f16" not in skipped
    else:
        assert "edgezoo openvino f16" not in labels and "asimdhp" in skipped["edgezoo openvino f16"]
    # Left to its defaults, the plan asks for f16 only where the host computes in it.
    default = targets.make_plan(targets.PlanRequest(**{**req.__dict__, "precisions": ()}))
    assert ("edgezoo openvino f16" in {t.label for t in default.targets}) is has_f16
    f16_skips = {s["what"] for s in default.skipped if s["what"].endswith(" f16")}
    assert f16_skips == ({"onnxruntime f16"} if has_f16 else set())  # no f16 noise on other hosts
