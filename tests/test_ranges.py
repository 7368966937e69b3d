"""The ``mse`` calibration method: ranges chosen by expected 8-bit error, honoured by ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from conftest import conv_relu_conv
from onnx import numpy_helper

from edgezoo.quantize.config import load_config
from edgezoo.quantize.graph import quantize_graph
from edgezoo.quantize.ranges import BINS, best_range, mse_ranges


def _qdq_mse(x: np.ndarray, lo: float, hi: float) -> float:
    """Mean squared error of real uint8 quantize-dequantize (ONNX's rounding, zero point)."""
    scale = (hi - lo) / 255
    zero = np.round(-lo / scale)
    q = np.clip(np.round(x / scale) + zero, 0, 255)
    return float((((q - zero) * scale - x) ** 2).mean())


def _range_of(samples: np.ndarray) -> tuple[float, float]:
    lo, hi = min(samples.min(), 0.0), max(samples.max(), 0.0)
    counts = np.histogram(samples, bins=BINS, range=(lo, hi))[0]
    return best_range(counts, np.linspace(lo, hi, BINS + 1))


def test_long_tails_are_clipped_and_the_error_drops():
    samples = np.random.default_rng(0).laplace(0.3, 1.0, 200_000)  # a residual stream's shape
    lo, hi = _range_of(samples)
    assert samples.min() < lo < 0.0 < hi < samples.max()
    # Banner et al. (2019, "Post training 4-bit quantization"): for a Laplace(b) tensor the 8-bit
    # clip that minimises MSE lies 9.89 b either side of the centre.
    assert abs((0.3 - lo) - 9.89) < 1.0 and abs((hi - 0.3) - 9.89) < 1.0
    assert _qdq_mse(samples, lo, hi) < 0.8 * _qdq_mse(samples, samples.min(), samples.max())


def test_a_bounded_uniform_activation_keeps_its_range():
    samples = np.random.default_rng(1).uniform(0.0, 6.0, 200_000)  # ReLU6-like, no tail to clip
    lo, hi = _range_of(samples)
    assert lo == 0.0
    assert hi > 0.97 * samples.max()


def _relu_model() -> onnx.ModelProto:
    """1x1 conv -> Relu -> 1x1 conv on 8 channels, weights in {-1, 0, 1}: exact in int8, so the
    int8 model's error is the activations' alone."""
    rng = np.random.default_rng(5)
    return conv_relu_conv(
        rng.integers(-1, 2, (8, 8, 1, 1)), np.zeros(8), rng.integers(-1, 2, (4, 8, 1, 1)), np.zeros(4), height=32
    )


def _scales(model: onnx.ModelProto) -> dict[str, float]:
    """Activation tensor -> the scale of the QuantizeLinear that reads it."""
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    return {n.input[0]: float(inits[n.input[1]]) for n in model.graph.node if n.op_type == "QuantizeLinear"}


def test_onnxruntime_quantizes_with_the_mse_ranges(tmp_path: Path):
    import onnxruntime as ort

    model = _relu_model()
    rng = np.random.default_rng(6)
    calib = [rng.laplace(0.0, 1.0, (1, 8, 32, 32)).astype(np.float32) for _ in range(24)]
    held = [rng.laplace(0.0, 1.0, (1, 8, 32, 32)).astype(np.float32) for _ in range(24)]
    ranges = mse_ranges(model, calib)
    assert set(ranges) == {"input", "c1", "r1", "out"}

    quantized, scales = {}, {}
    for method in ("minmax", "mse"):
        path = tmp_path / f"{method}.yaml"
        path.write_text(f"calibration: {{method: {method}}}\n", encoding="utf-8")
        quantized[method] = quantize_graph(model, calib, load_config(path), {})
        scales[method] = _scales(quantized[method])
    # The quantizer used the chosen range for the Relu output (a ReLU's lower end is 0) ...
    lo, hi = ranges["r1"]
    assert lo == 0.0
    assert np.isclose(scales["mse"]["r1"], hi / 255, rtol=1e-5)
    assert scales["mse"]["r1"] < scales["minmax"]["r1"]

    # ... and on held-out inputs of the same kind the int8 model is closer to float. The gain is
    # small here (about 5%): only the Laplace input has a tail worth clipping; the Relu output, a
    # sum of eight of them, is near Gaussian and keeps about its min/max range.
    def error(m: onnx.ModelProto) -> float:
        s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        f = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        return float(np.mean([(s.run(None, {"input": x})[0] - f.run(None, {"input": x})[0]) ** 2 for x in held]))

    assert error(quantized["mse"]) < 0.97 * error(quantized["minmax"])
