"""An engine that cannot compile a graph on this host: one line naming the file, engine and host from
``predict`` and ``quantize``, and one failed candidate (not a stopped search) in ``tune``.

The refusal is the one OpenVINO 2026.4's ARM plugin gives for EfficientNet-Lite0's shipped int8 on a
Cortex-A55 (recorded under QEMU, docs/tune.md "ARM hosts"). x86 OpenVINO compiles that graph, so here
``openvino.Core.compile_model`` is made to raise the recorded error; ONNX Runtime is untouched.
"""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import files_in, write_tiny_cnn

from edgezoo.errors import EngineRefused
from edgezoo.host import current_host
from edgezoo.quantize.api import config_for
from edgezoo.runtime.engines import engine_reason, open_session
from edgezoo.tune.candidates import SHIPPED, candidates

# OpenVINO 2026.4.1 on an emulated Cortex-A55 (aarch64 wheel), quantizing tf_efficientnet_lite0.
ARM_REFUSAL = """Exception from src/inference/src/cpp/core.cpp:132:
Exception from src/inference/src/dev/plugin.cpp:59:
Exception from src/core/src/pass/graph_rewrite.cpp:298:
[AlignUnsupportedLPConvFQPrecision] END: node: opset1::FakeQuantize FakeQuantize_1204 (opset1::Add \
/blocks/blocks.1/blocks.1.1/conv_pw/Conv[0]:f32[1,144,56,56], opset1::Constant Constant_13752[0]:f32[1,1,1,1]) -> \
(f32[1,144,56,56]) CALLBACK HAS THROWN: Check 'conv_precisions.size() == 1' failed at \
src/plugins/intel_cpu/src/transformations/cpu_opset/arm/pass/align_unsupported_lp_conv_fq_precision.cpp:49:
Convolution input precision should be single
"""
REASON = "Convolution input precision should be single (OpenVINO pass AlignUnsupportedLPConvFQPrecision)"


@pytest.fixture
def arm_openvino(monkeypatch):
    """OpenVINO that refuses every graph with the ARM plugin's error; counts its refusals."""
    import openvino as ov

    refused = []

    def compile_model(self, model, device=None, config=None):
        refused.append(model)
        raise RuntimeError(ARM_REFUSAL)

    monkeypatch.setattr(ov.Core, "compile_model", compile_model)
    return refused


@pytest.fixture
def ov_tiny(tmp_path):
    """The tiny CNN whose shipped config runs its int8 in OpenVINO (as lite0's does)."""
    config = tmp_path / "ov.yaml"
    config.write_text("base: default\nengine: {runtime: openvino}\n", encoding="utf-8")
    return write_tiny_cnn(tmp_path / "export", str(config))


def test_engine_reason_is_the_line_that_says_why():
    assert engine_reason(RuntimeError(ARM_REFUSAL)) == REASON
    one_line = "[ONNXRuntimeError] : 9 : NOT_IMPLEMENTED : Could not find an implementation for ConvInteger(10)"
    assert engine_reason(RuntimeError(one_line)) == one_line
    assert engine_reason(RuntimeError("")) == "RuntimeError"


def test_onnx_runtime_without_a_kernel_for_a_valid_graph_refuses_it(tmp_path):
    """ONNX Runtime's NOT_IMPLEMENTED (a valid graph, no CPU kernel for it here) is a refusal, not bad input."""
    from onnx import TensorProto, helper

    from edgezoo.artifact import Artifact
    from edgezoo.errors import EdgezooError

    graph = helper.make_graph(
        [helper.make_node("Tanh", ["x"], ["y"])],
        "bf16_tanh",  # valid ONNX; ONNX Runtime's CPU provider has no bf16 Tanh
        [helper.make_tensor_value_info("x", TensorProto.BFLOAT16, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.BFLOAT16, [1, 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "bf16_tanh.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(EngineRefused) as info:
        open_session(Artifact(path, {}), "onnxruntime")
    assert info.value.engine == "onnxruntime" and "NOT_IMPLEMENTED" in info.value.reason
    assert str(path) in str(info.value) and "on this host" in str(info.value)
    path.write_bytes(b"not onnx")  # a broken file stays the user's problem, not the engine's
    with pytest.raises(EdgezooError) as info:
        open_session(Artifact(path, {}), "onnxruntime")
    assert not isinstance(info.value, EngineRefused) and "cannot load it" in str(info.value)
    with pytest.raises(EdgezooError) as info:
        open_session(Artifact(path, {}), "openvino")
    assert not isinstance(info.value, EngineRefused) and "openvino cannot read it" in str(info.value)


def test_predict_says_which_engine_refused_on_which_host(cli, tiny, photos, arm_openvino):
    with pytest.raises(EngineRefused) as info:
        open_session(tiny, "openvino")
    assert info.value.engine == "openvino" and info.value.reason == REASON
    r = cli("predict", tiny.onnx_path, photos["coffee"], "--engine", "openvino")
    assert r.code == 2 and arm_openvino
    assert r.err.count("\n") == 1 and "Traceback" not in r.err
    assert str(tiny.onnx_path) in r.err and REASON in r.err and "--engine onnxruntime" in r.err
    r = cli("predict", tiny.onnx_path, photos["coffee"], "--engine", "onnxruntime")
    assert r.code == 0, r.err


def test_quantize_refused_by_its_engine_writes_nothing(cli, ov_tiny, photos, arm_openvino, tmp_path):
    calib = tmp_path / "calib"
    calib.mkdir()
    for stem in ("chelsea", "coffee", "astronaut"):
        shutil.copy(photos[stem], calib / photos[stem].name)
    out = tmp_path / "out"
    r = cli("quantize", ov_tiny.onnx_path, "--calib", calib, "-o", out)
    assert r.code == 2 and arm_openvino and "Traceback" not in r.err
    line = r.err.strip()
    assert "\n" not in line and "ov.yaml: openvino cannot run the int8 graph" in line and REASON in line
    assert "engine.runtime: onnxruntime" in line and line.endswith("nothing written")
    assert files_in(out) == []


def test_tune_tries_the_other_candidates_when_the_shipped_engine_refuses(
    cli, ov_tiny, tune_images, arm_openvino, tmp_path
):
    calib, held = tune_images
    out = tmp_path / "out"
    r = cli("tune", ov_tiny.onnx_path, "--calib", calib, "--holdout", held, "--budget", "60", "-o", out)
    assert r.code == 0, r.err
    doc = json.loads((out / "tiny_cnn.tune.json").read_text())
    rows = {row["name"]: row for row in doc["candidates"]}
    assert rows[SHIPPED]["status"] == f"failed: openvino refuses it on this host: {REASON}"
    # Every candidate that runs in OpenVINO is refused; the ones this host offers in ONNX Runtime
    # (engine-onnxruntime; x86 without VNNI adds uint8-weights) are built and timed, and one is chosen.
    offered = candidates(config_for(None, ov_tiny), current_host())
    expected = {r.name for r in offered if r.config is not None and r.config.engine["runtime"] == "onnxruntime"}
    assert "engine-onnxruntime" in expected
    ok = {row["name"]: row["engine"] for row in doc["candidates"] if row["status"] == "ok"}
    assert ok == dict.fromkeys(expected, "onnxruntime") and doc["chosen"] in ok
    assert json.loads((out / "tiny_cnn.int8.json").read_text())["engine"] == "onnxruntime"
