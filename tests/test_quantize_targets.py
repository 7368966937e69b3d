"""benchmarks/quantize_targets.py's weight-rounding floor: each rounding does what its row says."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

_SPEC = importlib.util.spec_from_file_location(
    "quantize_targets", Path(__file__).resolve().parents[1] / "benchmarks" / "quantize_targets.py"
)
quantize_targets = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(quantize_targets)

rounded_weights = quantize_targets.rounded_weights


def _weights() -> np.ndarray:
    rng = np.random.default_rng(0)
    w = rng.normal(size=(8, 4, 3, 3)).astype(np.float32)
    return w * np.geomspace(1e-3, 10.0, 8, dtype=np.float32)[:, None, None, None]  # channels of very different size


def test_fp16_rounding_is_numpys_half_precision_cast():
    w = _weights()
    assert np.array_equal(rounded_weights(w, "fp16", 0), w.astype(np.float16).astype(np.float32))


def test_bf16_rounding_keeps_eight_significant_bits_to_nearest():
    w = _weights()
    r = rounded_weights(w, "bf16", 0)
    assert not (r.view(np.uint32) & 0xFFFF).any()  # the low 16 bits are gone
    rel = np.abs(r - w) / np.abs(w)
    assert rel.max() <= 2.0**-8 + 1e-7  # half a step of an 8-bit significand: round to nearest
    assert rel.max() > 2.0**-10  # and it did round something


def test_int8_rounding_is_a_symmetric_grid_per_output_channel():
    w = _weights()
    r = rounded_weights(w, "int8", 0)
    for c in range(w.shape[0]):
        step = np.abs(w[c]).max() / 127.0
        levels = r[c] / step
        assert np.allclose(levels, np.round(levels), atol=1e-3)  # on the channel's own grid
        assert np.abs(levels).max() <= 127.0 + 1e-3
        assert np.abs(r[c] - w[c]).max() <= step / 2 + 1e-6 * step
    # Per channel, not per tensor: the smallest channel keeps its precision.
    per_tensor_step = np.abs(w).max() / 127.0
    assert np.abs(r[0] - w[0]).max() < per_tensor_step / 100
    # A Gemm weight without transB has its output channels on axis 1.
    g = _weights()[:, :, 0, 0].T.copy()
    assert np.array_equal(rounded_weights(g, "int8", 1), rounded_weights(g.T.copy(), "int8", 0).T)
