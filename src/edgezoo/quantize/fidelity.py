"""How far an int8 model strays from its float model, on held-out images.

End to end: logit cosine, top-1 agreement and top-5 overlap, with both models run on the same
decoded pixels (so the numbers measure quantization, not NV12 chroma loss), the int8 model in the
engine its card names. Per layer: for every quantized activation (the input of a QuantizeLinear),
the int8 model's dequantized tensor against the float model's tensor of the same name (SQNR in dB
and cosine, accumulated over all images: the error built up to that point), and the quantizer's own
loss there (``local_sqnr_db``: the Q->DQ output against its input inside the int8 model), which is
what ``--auto`` acts on. Per-layer
tensors come from ONNX Runtime without graph optimizations, whatever the deployment engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

LAYERS_IN_CARD = 40


@dataclass
class _Acc:
    """Running sums for SQNR and cosine over several images."""

    signal: float = 0.0
    noise: float = 0.0
    dot: float = 0.0
    ref_sq: float = 0.0
    got_sq: float = 0.0

    def add(self, ref: np.ndarray, got: np.ndarray) -> np.ndarray:
        """Add one image's tensors; returns ``got`` in float64 for a caller that needs it again.

        Each product is computed once (the difference, and ``r @ r`` serves as both signal and
        reference norm): on tf_efficientnet_lite2 at 260 px these sums, not the inference, took
        most of ``layer_errors``' time, and this was most of ``--auto``'s."""
        r, g = ref.ravel().astype(np.float64), got.ravel().astype(np.float64)
        d = r - g
        rr = float(r @ r)
        self.signal += rr
        self.noise += float(d @ d)
        self.dot += float(r @ g)
        self.ref_sq += rr
        self.got_sq += float(g @ g)
        return g

    def add_sqnr(self, ref: np.ndarray, got64: np.ndarray) -> None:
        """Only the two sums SQNR needs (``got64``: already flattened float64)."""
        r = ref.ravel().astype(np.float64)
        d = r - got64
        self.signal += float(r @ r)
        self.noise += float(d @ d)

    @property
    def sqnr_db(self) -> float:
        if self.noise == 0.0:
            return float("inf")
        return 10.0 * float(np.log10(max(self.signal, 1e-30) / self.noise))

    @property
    def cosine(self) -> float:
        return self.dot / max(np.sqrt(self.ref_sq * self.got_sq), 1e-30)


@dataclass
class LayerError:
    tensor: str
    consumers: list[str]
    consumer_types: list[str]
    sqnr_db: float
    cosine: float
    local_sqnr_db: float
    bits: int = 8

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        for key in ("sqnr_db", "local_sqnr_db"):
            d[key] = None if not np.isfinite(d[key]) else round(d[key], 2)
        d["cosine"] = round(d["cosine"], 6)
        return d


@dataclass
class _Probe:
    """A quantized activation: its float name, the Q->DQ output, and who reads the DQ output."""

    tensor: str
    dequantized: str
    consumers: list[str] = field(default_factory=list)
    consumer_types: list[str] = field(default_factory=list)
    bits: int = 8


_BITS = {TensorProto.UINT8: 8, TensorProto.INT8: 8, TensorProto.UINT16: 16, TensorProto.INT16: 16}


def quantized_activations(model: onnx.ModelProto) -> list[_Probe]:
    """Every activation that goes through a QuantizeLinear -> DequantizeLinear pair, in graph order."""
    graph = model.graph
    initializers = {i.name for i in graph.initializer}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    zero_points = {i.name: i.data_type for i in graph.initializer}
    probes: list[_Probe] = []
    for q in graph.node:
        if q.op_type != "QuantizeLinear" or q.input[0] in initializers:
            continue
        for dq in consumers.get(q.output[0], []):
            if dq.op_type != "DequantizeLinear":
                continue
            users = consumers.get(dq.output[0], [])
            bits = _BITS.get(zero_points.get(q.input[2]) if len(q.input) > 2 else TensorProto.UINT8, 8)
            probes.append(_Probe(q.input[0], dq.output[0], [u.name for u in users], [u.op_type for u in users], bits))
            break
    return probes


def with_outputs(model: onnx.ModelProto, names: Sequence[str]) -> bytes:
    """The model serialized with extra float outputs (existing outputs kept first), so one run
    returns intermediate tensors too (per-layer error, bias correction, activation ranges)."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    present = {o.name for o in out.graph.output}
    for name in names:
        if name not in present:
            out.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
            present.add(name)
    return out.SerializeToString()


def _session(payload: bytes):
    import onnxruntime as ort

    so = ort.SessionOptions()
    # No graph optimization: ORT would fold a Clip/Relu into the following QuantizeLinear and the
    # tensor asked for would then hold the pre-activation values.
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    return ort.InferenceSession(payload, so, providers=["CPUExecutionProvider"])


def layer_errors(
    float_model: onnx.ModelProto,
    int8_model: onnx.ModelProto,
    frames: Sequence[np.ndarray],
    against_float: bool = True,
) -> list[LayerError]:
    """Per quantized activation errors, worst (lowest SQNR against float) first.

    Both models must take the same input (the same front end) and share tensor names, which holds
    for the QDQ graphs both quantizers write. With ``against_float=False`` only ``local_sqnr_db``
    is measured (``sqnr_db`` and ``cosine`` are NaN, the order is the graph's): all that ``--auto``
    ranks layers by, for less than half the arithmetic.
    """
    float_tensors = {o for n in float_model.graph.node for o in n.output}
    probes = [p for p in quantized_activations(int8_model) if p.tensor in float_tensors]
    if not probes or not frames:
        return []
    ref_names = [p.tensor for p in probes]
    got_names = [*(p.dequantized for p in probes), *ref_names]
    ref_session = _session(with_outputs(float_model, ref_names))
    got_session = _session(with_outputs(int8_model, got_names))
    input_name = ref_session.get_inputs()[0].name
    vs_float = [_Acc() for _ in probes]
    local = [_Acc() for _ in probes]
    n = len(probes)
    for frame in frames:
        ref = ref_session.run(ref_names, {input_name: frame})
        got = got_session.run(got_names, {input_name: frame})
        for i in range(n):
            got64 = vs_float[i].add(ref[i], got[i]) if against_float else got[i].ravel().astype(np.float64)
            # The quantizer input, limited to the range the float tensor spans: the quantizers fold a
            # Clip/Relu into the QuantizeLinear, so its input can be the value before the activation.
            local[i].add_sqnr(np.clip(got[n + i], ref[i].min(), ref[i].max()), got64)
    nan = float("nan")
    errors = [
        LayerError(
            p.tensor,
            p.consumers,
            p.consumer_types,
            a.sqnr_db if against_float else nan,
            a.cosine if against_float else nan,
            b.sqnr_db,
            p.bits,
        )
        for p, a, b in zip(probes, vs_float, local, strict=True)
    ]
    return sorted(errors, key=lambda e: e.sqnr_db) if against_float else errors


def report(end_to_end: dict[str, Any], layers: list[LayerError], reference: str, engine: str) -> dict[str, Any]:
    """The card's ``fidelity`` block."""
    return {
        **end_to_end,
        "reference": reference,
        "engine": engine,
        "layers_total": len(layers),
        "layers_worst_first": [e.to_dict() for e in layers[:LAYERS_IN_CARD]],
    }
