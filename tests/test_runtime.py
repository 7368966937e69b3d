"""Engines: every engine agrees on real weights and real photos, hardware errors are clear, threads are safe."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from edgezoo.errors import EdgezooError
from edgezoo.inputs.frames import to_model_input
from edgezoo.inputs.preprocess import load_image
from edgezoo.runtime.engines import ENGINES, SessionOptions, available_engines, open_session

ESPRESSO = 967


@pytest.fixture(scope="module")
def photo_inputs(lite0_artifact, photos):
    return {name: to_model_input(load_image(p), lite0_artifact.card) for name, p in sorted(photos.items())}


@pytest.fixture(scope="module")
def sessions(lite0_artifact):
    return {e: open_session(lite0_artifact, e, SessionOptions(threads=1)) for e in ENGINES}


def test_all_engines_installed():
    assert all(available_engines().values())


def test_real_weights_same_top1_in_every_engine(sessions, photo_inputs):
    top1 = {e: {n: int(s.run(x).argmax()) for n, x in photo_inputs.items()} for e, s in sessions.items()}
    assert top1["onnxruntime"]["coffee"] == ESPRESSO
    assert top1["openvino"] == top1["onnxruntime"] == top1["torch"]


def test_engines_agree_on_logits(sessions, photo_inputs):
    x = photo_inputs["coffee"]
    ref = sessions["torch"].run(x)[0]
    for engine in ("onnxruntime", "openvino"):
        got = sessions[engine].run(x)[0]
        cosine = float(ref @ got / np.linalg.norm(ref) / np.linalg.norm(got))
        assert cosine > 0.999, engine  # openvino runs bf16 by default on this CPU


@pytest.mark.parametrize("engine", ENGINES)
def test_four_threads_times_fifty_calls_equal_serial(sessions, photo_inputs, engine):
    session = sessions[engine]
    inputs = list(photo_inputs.values())
    jobs = [inputs[i % len(inputs)] for i in range(200)]
    serial = [session.run(x) for x in inputs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(session.run, jobs))
    for i, got in enumerate(parallel):
        np.testing.assert_allclose(got, serial[i % len(inputs)], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("engine", "device", "problem"),
    [
        ("onnxruntime", "cuda", "needs CUDAExecutionProvider, which this onnxruntime build lacks"),
        ("onnxruntime", "tensorrt", "needs TensorrtExecutionProvider, which this onnxruntime build lacks"),
        ("openvino", "gpu", "device GPU is not available"),
        ("torch", "cuda", "device 'cuda' is not available"),
        ("openvino", "tensorrt", "unknown device 'tensorrt'"),
    ],
)
def test_missing_hardware_is_a_clear_error(lite0_artifact, engine, device, problem):
    import onnxruntime as ort
    import openvino as ov
    import torch

    present = {
        ("onnxruntime", "cuda"): "CUDAExecutionProvider" in ort.get_available_providers(),
        ("onnxruntime", "tensorrt"): "TensorrtExecutionProvider" in ort.get_available_providers(),
        ("openvino", "gpu"): "GPU" in ov.Core().available_devices,
        ("torch", "cuda"): torch.cuda.is_available(),
    }
    if present.get((engine, device)):
        pytest.skip(f"{device} is present on this machine")
    with pytest.raises(EdgezooError, match=problem):
        open_session(lite0_artifact, engine, SessionOptions(device=device))


def test_bad_options_and_engines(lite0_artifact):
    with pytest.raises(EdgezooError, match="unknown performance hint 'fast'"):
        SessionOptions(hint="fast")
    with pytest.raises(EdgezooError, match="unknown precision hint 'int4'"):
        SessionOptions(precision="int4")
    with pytest.raises(EdgezooError, match="threads must be a positive integer"):
        SessionOptions(threads=0)
    with pytest.raises(EdgezooError, match="unknown engine 'tflite'"):
        open_session(lite0_artifact, "tflite")


def test_openvino_hints_reach_the_compiled_model(lite0_artifact, photo_inputs):
    import openvino as ov

    s = open_session(lite0_artifact, "openvino", SessionOptions(hint="throughput", precision="f32", threads=1))
    assert str(s.compiled.get_property("PERFORMANCE_HINT")) == "THROUGHPUT"
    assert s.compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32
    s = open_session(lite0_artifact, "openvino", SessionOptions(hint="latency", precision="bf16"))
    assert str(s.compiled.get_property("PERFORMANCE_HINT")) == "LATENCY"
    assert int(s.run(photo_inputs["coffee"]).argmax()) == ESPRESSO


def test_torch_refuses_quantized_artifacts(lite0_artifact):
    from edgezoo.artifact import Artifact

    card = {**lite0_artifact.card, "precision": "int8"}
    with pytest.raises(EdgezooError, match="torch engine runs float exports only"):
        open_session(Artifact(lite0_artifact.onnx_path, card), "torch")


def test_engine_comes_from_the_card(lite0_artifact):
    from edgezoo.artifact import Artifact

    card = {**lite0_artifact.card, "engine": "openvino"}
    assert open_session(Artifact(lite0_artifact.onnx_path, card)).engine == "openvino"
    assert open_session(lite0_artifact).engine == "onnxruntime"


def test_an_int8_cards_precision_hint_reaches_its_own_engine(lite0_artifact):
    """``precision_hint`` in a card is what OpenVINO runs the float operators in when the card's own
    engine opens it; an explicit option still wins, and other engines ignore it."""
    from edgezoo.artifact import Artifact
    from edgezoo.runtime.engines import engine_precision

    card = {**lite0_artifact.card, "engine": "openvino", "precision_hint": "f32"}
    hinted = Artifact(lite0_artifact.onnx_path, card)
    session = open_session(hinted)
    assert session.config["INFERENCE_PRECISION_HINT"] == "f32" and engine_precision(session) == "f32"
    explicit = open_session(hinted, "openvino", SessionOptions(precision="bf16"))
    assert explicit.config["INFERENCE_PRECISION_HINT"] == "bf16"
    assert "INFERENCE_PRECISION_HINT" not in open_session(lite0_artifact, "openvino").config
    own = open_session(hinted, "openvino", SessionOptions(precision="default"))  # the engine's, not the card's
    assert "INFERENCE_PRECISION_HINT" not in own.config
    assert open_session(hinted, "onnxruntime").engine == "onnxruntime"


def test_interleaved_timing_alternates_the_order_and_counts_each_call():
    import time

    from edgezoo.runtime.timing import interleaved_ms

    calls: list[str] = []

    def way(name: str, seconds: float):
        def run() -> None:
            calls.append(name)
            time.sleep(seconds)

        return run

    ms = interleaved_ms({"slow": way("slow", 0.004), "fast": way("fast", 0.001)}, rounds=2, per_round=2, warmup=1)
    assert ms["slow"] >= 4.0 and ms["fast"] >= 1.0
    # One warm-up each, then round 1 in order and round 2 reversed, two calls per candidate per round.
    assert calls == ["slow", "fast"] + ["slow"] * 2 + ["fast"] * 2 + ["fast"] * 2 + ["slow"] * 2
    calls.clear()
    interleaved_ms({"a": way("a", 0.0)}, rounds=1, per_round=1, slice_s=0.02, warmup=0)
    assert len(calls) > 1  # the time slice, not the count, bounds a fast candidate
