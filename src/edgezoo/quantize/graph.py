"""Stage two of the pipeline: float export + config + calibration images -> int8 artifact.

Two quantizers, one output format (a QDQ .onnx that both engines run):

* ``onnxruntime``: ``quantize_static`` in QDQ format, U8S8 by default (on x86 without AMX, S8S8
  leaves most convolutions in float: findings.md). Fastest for plain CNNs in ONNX Runtime.
* ``nncf``: NNCF's post-training quantization on the ONNX graph. It places quantizers where
  OpenVINO's int8 kernels want them, and its QDQ output runs in OpenVINO as fast as NNCF's own IR
  (EfficientFormer-L1, 1 thread: 4.8 ms vs 4.9 ms), so an OpenVINO artifact stays a plain .onnx.

Precision overrides (``precision.op_types`` / ``precision.nodes``) keep chosen nodes in float or
int16. ONNX Runtime re-fuses an excluded Softmax with its neighbouring Q/DQ pairs into
QLinearSoftmax (findings.md), so a float node here loses *all* Q/DQ pairs around it, and every
override is checked in the graph the engine actually runs (:func:`verify_overrides`).

The float front end (camera frames -> model input, :mod:`edgezoo.quantize.frontend`) is added after
quantization, so it is never quantized. Calibration feeds the model the calibration crops as
normalised RGB tensors whatever the input type (:func:`edgezoo.quantize.frontend.core_spec`), so one config
gives the same int8 core behind an NV12, RGB or BGR front end.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from edgezoo.errors import EdgezooError
from edgezoo.quantize import node_names
from edgezoo.quantize.biascorr import correct_biases
from edgezoo.quantize.config import QuantConfig
from edgezoo.quantize.ranges import mse_ranges
from edgezoo.runtime.engines import compile_openvino

log = logging.getLogger(__name__)

# Op types that run integer arithmetic (or are the Q/DQ boundary itself) after ORT's optimizations.
_ORT_INTEGER_OPS = ("QuantizeLinear", "DequantizeLinear", "QGemm", "MatMulInteger", "ConvInteger", "QAttention")
_INTEGER_PRECISIONS = ("i8", "u8", "I8", "U8")
# Ops that compute in integer arithmetic when their inputs are quantized (what int8_inputs keeps Q/DQ
# for), and the activations ONNX Runtime's quantizer folds into the QuantizeLinear before them.
INT8_COMPUTE_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")
FOLDED_ACTIVATIONS = ("Relu", "Clip")


@contextlib.contextmanager
def quiet_loggers(*names: str) -> Iterator[None]:
    """Silence the quantizers' advice-level logging (they log on the root logger) for one call."""
    loggers = [logging.getLogger(n) for n in ("", *names)]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


# --------------------------------------------------------------------------------------------
# Overrides: config entries -> node names
# --------------------------------------------------------------------------------------------


# The layers ``precision.input_layers`` applies to: the weighted ops that read the model's input.
INPUT_LAYER_OPS = ("Conv", "Gemm", "MatMul")


def resolve_overrides(model: onnx.ModelProto, config: QuantConfig) -> dict[str, str]:
    """Node name -> "float" | "int16" for every node an override applies to (names beat op types).

    Names written for another implementation of the model (the RDK zoo's FastViT YAMLs name Apple's
    ml-fastvit modules) are translated to this export's (:mod:`edgezoo.quantize.node_names`). A name
    that is still not in the graph is an error naming the config file and the closest names: a
    misspelt override would otherwise silently leave that node in int8.
    """
    by_name = {n.name: n for n in model.graph.node}
    alias = {k: t for k in config.precision["nodes"] if k not in by_name and (t := node_names.translate(k, by_name))}
    if alias:
        log.info("%s: %d node names translated to this export's, e.g. %s", config.source, len(alias), alias)
    nodes = {alias.get(k, k): v for k, v in config.precision["nodes"].items()}
    wanted = config.overrides()
    resolved = {n.name: wanted["op_types"][n.op_type] for n in model.graph.node if n.op_type in wanted["op_types"]}
    missing = [name for name in nodes if name not in by_name]
    if missing:
        close = difflib.get_close_matches(missing[0], list(by_name), n=3, cutoff=0.0)
        raise EdgezooError(
            f"{config.source}: precision.nodes: node '{missing[0]}' is not in the model's graph"
            f" ({len(missing)} missing; closest names: {', '.join(close)})"
        )
    if config.precision["input_layers"] != "int8":
        inputs = {i.name for i in model.graph.input} - {i.name for i in model.graph.initializer}
        for node in model.graph.node:
            if node.op_type in INPUT_LAYER_OPS and node.input and node.input[0] in inputs:
                resolved[node.name] = config.precision["input_layers"]
    resolved.update({name: precision for name, precision in nodes.items() if precision != "int8"})
    for name, precision in nodes.items():
        if precision == "int8":
            resolved.pop(name, None)
    return resolved


# --------------------------------------------------------------------------------------------
# Q/DQ surgery
# --------------------------------------------------------------------------------------------


def _consumers(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    found: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            found.setdefault(name, []).append(node)
    return found


def strip_qdq_around(
    model: onnx.ModelProto, node_names: Sequence[str], float_model: onnx.ModelProto | None = None
) -> onnx.ModelProto:
    """Feed the named nodes, and their consumers, plain float tensors instead of Q->DQ pairs.

    With no DequantizeLinear before and no QuantizeLinear after a node, no engine can fuse it into an
    integer kernel, and ONNX Runtime cannot quantize its weights either (its optimizer turns
    ``DQ -> Conv(float weights)`` into a QDQ convolution with per-tensor int8 weights, which cost
    lite0 0.08 of logit cosine). ONNX Runtime's quantizer folds a Relu/Clip into the QuantizeLinear
    after it (the quantized range does the clipping) and gives the activation's output name to the
    tensor before it; where such a pair is removed, the activation is put back as a float node, copied
    from ``float_model``.
    """
    graph = model.graph
    reference = float_model or model
    folded = _folded_finder(reference)
    producer = {o: n for n in graph.node for o in n.output}
    consumers = _consumers(graph)

    ref_inits = {i.name: i for i in reference.graph.initializer}
    for node in [n for n in graph.node if n.name in set(node_names)]:
        for k, name in enumerate(node.input):
            dq = producer.get(name)
            if dq is None or dq.op_type != "DequantizeLinear":
                continue
            if name in ref_inits and dq.input[0] not in producer:
                # A weight or bias the exporter shared with a quantized node (it dedups equal
                # initializers, e.g. the zero biases of freshly initialised BatchNorms): the other
                # node's quantization made it a DQ of int8/int32 data. This node gets its own float copy.
                node.input[k] = _float_copy(model, ref_inits[name])
                continue
            q = producer.get(dq.input[0])
            if q is None or q.op_type != "QuantizeLinear":
                continue
            act = folded(q.input[0], producer.get(q.input[0]))
            node.input[k] = _restore(model, reference, act, q.input[0], f"{q.input[0]}/float") if act else q.input[0]
        for i, out in enumerate(node.output):
            act = folded(out, node)
            if act is not None:
                node.output[i] = f"{out}/before_activation"
                _restore(model, reference, act, node.output[i], out)
            for q in consumers.get(out, []):
                if q.op_type != "QuantizeLinear":
                    continue
                for dq in consumers.get(q.output[0], []):
                    if dq.op_type != "DequantizeLinear":
                        continue
                    for user in consumers.get(dq.output[0], []):
                        for j, name in enumerate(user.input):
                            if name == dq.output[0]:
                                user.input[j] = out
    _float_outputs(model)
    _drop_dead(model, ("QuantizeLinear", "DequantizeLinear"))
    _topological_sort(model)
    return model


def _folded_finder(reference: onnx.ModelProto) -> Callable[[str, onnx.NodeProto | None], onnx.NodeProto | None]:
    """``folded(tensor, maker)``: the float model's activation whose output name ``tensor`` now
    carries (ONNX Runtime folded it into a QuantizeLinear), or None."""
    makers = {o: n for n in reference.graph.node for o in n.output}

    def folded(tensor: str, maker: onnx.NodeProto | None) -> onnx.NodeProto | None:
        act = makers.get(tensor)
        if act is None or maker is None or act.op_type == maker.op_type:
            return None
        return act

    return folded


def keep_int8_inputs_only(
    model: onnx.ModelProto, int8_op_types: Sequence[str], float_model: onnx.ModelProto
) -> list[str]:
    """Remove every Q->DQ pair that no integer op reads; return the tensors left in float.

    ONNX Runtime's quantizer also quantizes a quantized node's *output* (its QLinear kernels need
    it) even where only float ops read it, e.g. the Conv before FastViT's GELU. OpenVINO then runs
    Conv -> quantize -> dequantize -> GELU -> quantize as separate kernels; with the pair gone it
    fuses GELU and the next quantize into the int8 convolution as post-ops (FastViT-T8, OpenVINO,
    1 thread: 3.54 -> 2.84 ms). An activation folded into a removed QuantizeLinear is put back.
    """
    graph = model.graph
    folded = _folded_finder(float_model)
    producer = {o: n for n in graph.node for o in n.output}
    consumers = _consumers(graph)
    freed: list[str] = []
    for q in [n for n in graph.node if n.op_type == "QuantizeLinear"]:
        dqs = consumers.get(q.output[0], [])
        if not dqs or any(dq.op_type != "DequantizeLinear" for dq in dqs):
            continue
        readers = [(dq, user) for dq in dqs for user in consumers.get(dq.output[0], [])]
        if any(user.op_type in int8_op_types for _, user in readers):
            continue
        source = q.input[0]
        if source not in producer:  # a graph input or an initializer (weights): not an activation
            continue
        act = folded(source, producer[source])
        value = _restore(model, float_model, act, source, f"{source}/float") if act else source
        for dq, user in readers:
            for j, name in enumerate(user.input):
                if name == dq.output[0]:
                    user.input[j] = value
        freed.append(source)
    _drop_dead(model, ("QuantizeLinear", "DequantizeLinear"))
    _topological_sort(model)
    return freed


def _restore(model: onnx.ModelProto, reference: onnx.ModelProto, act: onnx.NodeProto, source: str, out: str) -> str:
    """Add a float copy of activation ``act`` reading ``source`` and writing ``out``; return ``out``."""
    copy_ = onnx.NodeProto()
    copy_.CopyFrom(act)
    copy_.name = f"{act.name}/float"
    copy_.input[0] = source
    del copy_.output[:]
    copy_.output.append(out)
    have = {i.name for i in model.graph.initializer} | {o for n in model.graph.node for o in n.output}
    ref_inits = {i.name: i for i in reference.graph.initializer}
    ref_makers = {o: n for n in reference.graph.node for o in n.output}
    for extra in list(act.input)[1:]:
        if not extra or extra in have:
            continue
        if extra in ref_inits:
            model.graph.initializer.append(ref_inits[extra])
        elif extra in ref_makers and ref_makers[extra].op_type == "Constant":
            model.graph.node.append(ref_makers[extra])
        have.add(extra)
    model.graph.node.append(copy_)
    return out


def _float_copy(model: onnx.ModelProto, init: onnx.TensorProto) -> str:
    """Add ``init`` (from the float model) as ``<name>/float`` unless already there; return its name."""
    name = f"{init.name}/float"
    if not any(i.name == name for i in model.graph.initializer):
        copy_ = onnx.TensorProto()
        copy_.CopyFrom(init)
        copy_.name = name
        model.graph.initializer.append(copy_)
    return name


def _topological_sort(model: onnx.ModelProto) -> None:
    """Order nodes so every input is produced before it is read (ONNX requires it)."""
    graph = model.graph
    ready = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending = list(graph.node)
    ordered: list[onnx.NodeProto] = []
    while pending:
        rest = []
        for node in pending:
            if all(i in ready for i in node.input):
                ordered.append(node)
                ready.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):
            raise EdgezooError("internal error: the quantized graph has a cycle or a dangling input")
        pending = rest
    del graph.node[:]
    graph.node.extend(ordered)


def _float_outputs(model: onnx.ModelProto) -> None:
    """Graph outputs (the logits) come straight from their float producer, never through Q->DQ.

    ONNX Runtime quantizes a final Gemm's output to 8 bits otherwise, which rounds the logits to
    ~1/256 of their range and flips top-1 between close classes.
    """
    graph = model.graph
    producer = {o: n for n in graph.node for o in n.output}
    for output in graph.output:
        dq = producer.get(output.name)
        q = producer.get(dq.input[0]) if dq is not None and dq.op_type == "DequantizeLinear" else None
        if q is None or q.op_type != "QuantizeLinear":
            continue
        source = producer.get(q.input[0])
        if source is None:
            continue
        float_name = q.input[0]
        for node in graph.node:  # other readers of the float tensor now read the output name
            for k, name in enumerate(node.input):
                if name == float_name and node is not q:
                    node.input[k] = output.name
        source.output[list(source.output).index(float_name)] = output.name
        graph.node.remove(dq)
        graph.node.remove(q)


def _drop_dead(model: onnx.ModelProto, op_types: tuple[str, ...]) -> None:
    """Remove nodes of ``op_types`` whose outputs nobody reads, then unused initializers."""
    graph = model.graph
    outputs = {o.name for o in graph.output}
    while True:
        used = {name for n in graph.node for name in n.input} | outputs
        dead = [n for n in graph.node if n.op_type in op_types and not any(o in used for o in n.output)]
        if not dead:
            break
        for n in dead:
            graph.node.remove(n)
    used = {name for n in graph.node for name in n.input}
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)


# --------------------------------------------------------------------------------------------
# Quantizers
# --------------------------------------------------------------------------------------------


def _input_name(model: onnx.ModelProto) -> str:
    initializers = {i.name for i in model.graph.initializer}
    return next(i.name for i in model.graph.input if i.name not in initializers)


def _ort_quantize(
    model: onnx.ModelProto, calib: list[np.ndarray], config: QuantConfig, overrides: dict[str, str], workdir: Path
) -> onnx.ModelProto:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    input_name = _input_name(model)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._items = iter(calib)

        def get_next(self) -> dict[str, np.ndarray] | None:
            x = next(self._items, None)
            return None if x is None else {input_name: x}

    cal = config.calibration
    method = {
        "minmax": CalibrationMethod.MinMax,
        "mse": CalibrationMethod.MinMax,  # the ranges below replace min/max for every activation
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }[cal["method"]]
    extra: dict[str, Any] = {}
    if cal["method"] == "percentile":
        extra["CalibPercentile"] = float(cal["percentile"])
    initializers = {i.name for i in model.graph.initializer}
    by_name = {n.name: n for n in model.graph.node}
    signed = config.engine["activations"] == "int8"
    all16 = config.precision["default"] == "int16"  # every activation 16-bit (RDK set_all_nodes_int16)
    q16 = QuantType.QInt16 if signed else QuantType.QUInt16
    sixteen = [name for name, p in overrides.items() if p == "int16"]
    tensor_overrides: dict[str, list[dict[str, Any]]] = {}
    if sixteen and not all16:
        tensors = {t for name in sixteen for t in (*by_name[name].input, *by_name[name].output) if t}
        tensor_overrides = {t: [{"quant_type": q16}] for t in sorted(tensors - initializers)}
    if cal["method"] == "mse" and not all16:
        # int16 tensors keep their min/max: with 65536 levels clipping buys nothing.
        ranges = mse_ranges(model, calib)
        log.info("mse ranges: %d activation tensors", len(ranges))
        for t, (lo, hi) in ranges.items():
            tensor_overrides.setdefault(t, [{"rmin": np.float32(lo), "rmax": np.float32(hi)}])
    if tensor_overrides:
        extra["TensorQuantOverrides"] = tensor_overrides
    floats = [name for name, p in overrides.items() if p == "float"]
    source, target = workdir / "float.onnx", workdir / "int8.onnx"
    onnx.save(model, source)
    with quiet_loggers():
        quantize_static(
            source,
            target,
            Reader(),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=config.engine["quantize_op_types"],
            per_channel=cal["per_channel"],
            activation_type=q16 if all16 else (QuantType.QInt8 if signed else QuantType.QUInt8),
            weight_type=QuantType.QUInt8 if config.engine["weights"] == "uint8" else QuantType.QInt8,
            reduce_range=config.reduce_range(),
            nodes_to_exclude=floats,
            calibrate_method=method,
            extra_options=extra,
        )
    quantized = strip_qdq_around(onnx.load(target), floats, model)
    if config.engine["qdq_placement"] == "int8_inputs":
        readers = [t for t in config.engine["quantize_op_types"] or INT8_COMPUTE_OPS if t not in FOLDED_ACTIVATIONS]
        freed = keep_int8_inputs_only(quantized, readers, model)
        log.info("qdq placement int8_inputs: %d tensors that only float ops read left in float", len(freed))
    if cal["bias_correction"]:
        corrected = correct_biases(quantized, model, calib)
        log.info("bias correction: %d Conv/Gemm biases adjusted", len(corrected))
    return quantized


def _nncf_quantize(
    model: onnx.ModelProto, calib: list[np.ndarray], config: QuantConfig, overrides: dict[str, str]
) -> onnx.ModelProto:
    import nncf

    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < 13:
        raise EdgezooError(f"the nncf quantizer needs opset 13 or later; re-export with --opset 17 (got {opset})")
    input_name = _input_name(model)
    floats = [name for name, p in overrides.items() if p == "float"]
    kwargs: dict[str, Any] = {}
    if config.engine["model_type"] == "transformer":
        kwargs["model_type"] = nncf.ModelType.TRANSFORMER
    if floats:
        kwargs["ignored_scope"] = nncf.IgnoredScope(names=floats)
    advanced: dict[str, Any] = {}
    if config.reduce_range():
        # NNCF's own answer to 16-bit saturation on x86 without VNNI: 7-bit weights on every layer
        # (its default fixes the first layer only).
        from nncf.quantization.advanced_parameters import OverflowFix

        advanced["overflow_fix"] = OverflowFix.ENABLE
    if not config.engine["smooth_quant"]:
        # NNCF's transformer scheme applies SmoothQuant by default; on EfficientFormer it wrecks the
        # logits (centred cosine 0.41 vs 0.9955 without, at the same latency: scratch study Q3).
        from nncf.quantization.advanced_parameters import AdvancedSmoothQuantParameters

        advanced["smooth_quant_alphas"] = AdvancedSmoothQuantParameters(matmul=-1, convolution=-1)
    if advanced:
        from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters

        kwargs["advanced_parameters"] = AdvancedQuantizationParameters(**advanced)
    # NNCF draws its progress bars on stdout; stdout is for results (--json), so send them to stderr.
    with quiet_loggers("nncf"), contextlib.redirect_stdout(sys.stderr):
        quantized = nncf.quantize(
            model,
            nncf.Dataset(calib, lambda x: {input_name: x}),
            subset_size=len(calib),
            **kwargs,
        )
    return strip_qdq_around(quantized, floats, model)


def quantize_graph(
    model: onnx.ModelProto, calib: list[np.ndarray], config: QuantConfig, overrides: dict[str, str]
) -> onnx.ModelProto:
    """The float model quantized as ``config.engine.quantizer`` says (front end not included)."""
    if config.engine["quantizer"] == "nncf":
        return _nncf_quantize(model, calib, config, overrides)
    with tempfile.TemporaryDirectory(prefix="edgezoo-quantize-") as tmp:
        return _ort_quantize(model, calib, config, overrides, Path(tmp))


# --------------------------------------------------------------------------------------------
# Verification in the graph the engine runs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OverrideCheck:
    node: str
    op_type: str
    precision: str
    held: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _ort_runtime_graph(onnx_path: Path) -> onnx.ModelProto:
    """The graph as ONNX Runtime runs it (all optimizations, as runtime.open_session sets them)."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="edgezoo-verify-") as tmp:
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        so.log_severity_level = 3
        ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
        return onnx.load(so.optimized_model_filepath)


# Element-wise activations that engines fuse into the Conv/MatMul before them (ORT's FusedConv).
_FUSABLE_ACTIVATIONS = ("Relu", "Clip", "LeakyRelu", "HardSigmoid", "Sigmoid", "Tanh")


def _origin(name: str) -> str:
    """The graph name a runtime node was made from: ORT's NCHWc pass names the convolutions it makes
    ``<output tensor>_nchwc``, its QDQ fusions ``<node>_token_<n>``, and its QDQ propagation, which
    moves a QuantizeLinear up past Reshape/Transpose to the float node before them (DeiT's patch
    embedding, ConvNeXt's stem), renames that node's output ``<tensor>_pre_q``."""
    return re.sub(r"(_pre_q|_nchwc|_token_\d+)+$", "", name)


def _runtime_makers(
    node: onnx.NodeProto,
    readers: dict[str, list[onnx.NodeProto]],
    producer: dict[str, onnx.NodeProto],
    runtime: onnx.GraphProto,
) -> list:
    """The runtime nodes that compute ``node``: those writing its outputs, or, where the engine fused
    the activation after it into the same kernel (ORT's FusedConv writes the Clip's output; in the
    NCHWc layout the kernel writes a reorder token and is named after that output), the nodes made
    from those outputs. ``readers`` are the float model's consumers, ``producer`` the runtime's."""
    own = [producer[o] for o in node.output if o in producer]
    if own:
        return own
    after = [r for out in node.output for r in readers.get(out, []) if r.op_type in _FUSABLE_ACTIVATIONS]
    fused = [o for r in after for o in r.output]
    names = {node.name, *node.output, *fused}
    return [producer[o] for o in fused if o in producer] + [n for n in runtime.node if _origin(n.name) in names]


def _verify_ort(
    onnx_path: Path, originals: dict[str, onnx.NodeProto], overrides: dict[str, str], float_model: onnx.ModelProto
) -> list:
    runtime = _ort_runtime_graph(onnx_path)
    by_name = {n.name: n for n in runtime.graph.node}
    producer = {o: n for n in runtime.graph.node for o in n.output}
    initializers = {i.name for i in runtime.graph.initializer}

    def integer(op: str) -> bool:
        return op.startswith("QLinear") or op in _ORT_INTEGER_OPS

    def int8_weights(n: onnx.NodeProto) -> list[str]:
        return [
            i for i in n.input[1:] if i in producer and producer[i].op_type == "DequantizeLinear"
            and producer[i].input[0] in initializers
        ]  # fmt: skip

    float_weights = {i.name for i in float_model.graph.initializer}
    readers = _consumers(float_model.graph)

    def own_weights(n: onnx.NodeProto) -> bool:
        return any(i in float_weights for i in n.input[1:])

    checks = []
    for name, precision in sorted(overrides.items()):
        node = originals[name]
        same = by_name.get(name)
        # The node itself, or (fused with its activation) the float kernel that writes its result.
        makers = [same] if same is not None else _runtime_makers(node, readers, producer, runtime.graph)
        if makers and not any(integer(m.op_type) for m in makers):
            # Weights count only for a node that has its own (a float Add fused into a FusedConv
            # shares that kernel with the convolution's int8 weights, which stay int8 by design).
            weights = [w for m in makers for w in int8_weights(m)] if own_weights(node) else []
            if precision == "float" and weights:
                detail = f"runs as {makers[0].op_type} on int8-quantized weights ({weights[0]})"
                checks.append(OverrideCheck(name, node.op_type, precision, False, detail))
                continue
            how = "runs as" if same is not None else "computed by"
            checks.append(OverrideCheck(name, node.op_type, precision, True, f"{how} {makers[0].op_type} (float)"))
            continue
        what = makers[0].op_type if makers else "an integer kernel"
        checks.append(OverrideCheck(name, node.op_type, precision, False, f"fused into {what}"))
    return checks


_OV_CONV_SUFFIX = "/WithoutBiases"


def _verify_openvino(
    onnx_path: Path,
    originals: dict[str, onnx.NodeProto],
    overrides: dict[str, str],
    precision: str | None,
    compiled: Any | None = None,
) -> list:
    """Find each node in OpenVINO's compiled graph (``originalLayersNames``) and read how it runs.

    A layer runs in integer arithmetic when its runtime precision is i8/u8. ``Subgraph`` layers are
    the exception: they are OpenVINO's JIT snippets (attention's Mul -> Softmax -> MatMul, chains of
    element-wise ops), which compute in f32/bf16 and only take or give int8 at their edges, so their
    "runtime precision" names the edge type. A node fused into a snippet therefore runs in float;
    the detail says so. (Convolutions and matmuls outside attention are never snippets, so an
    int8 kernel for them is still caught.)
    """
    if compiled is None:
        config: dict[str, Any] = {"INFERENCE_NUM_THREADS": 1}
        if precision:  # the config's precision_hint: the graph is checked as it will be deployed
            config["INFERENCE_PRECISION_HINT"] = precision
        compiled = compile_openvino(onnx_path, "CPU", config)
    layers: dict[str, list[tuple[str, str, str]]] = {}
    for op in compiled.get_runtime_model().get_ops():
        info = op.get_rt_info()

        def read(key: str, info: Any = info) -> str:
            return info[key].astype(str) if key in info else ""

        entry = (read("layerType"), read("runtimePrecision"), read("outputPrecisions"))
        for original in read("originalLayersNames").split(","):
            # OpenVINO splits a Conv with a bias into "<name>/WithoutBiases" and an Add, and where it
            # fuses the Add away only the first is left: it is still the node the override names.
            layers.setdefault(original.strip().removesuffix(_OV_CONV_SUFFIX), []).append(entry)

    def integer(layer_type: str, runtime: str, outputs: str) -> bool:
        return layer_type != "Subgraph" and runtime in _INTEGER_PRECISIONS

    checks = []
    for name, precision in sorted(overrides.items()):
        found = layers.get(name)
        op_type = originals[name].op_type
        if not found:
            checks.append(OverrideCheck(name, op_type, precision, False, "not in the runtime graph"))
            continue
        held = not any(integer(*entry) for entry in found)
        detail = "; ".join(
            f"inside a float snippet (edges {r})" if t == "Subgraph" else f"{t} runs {r}" for t, r, o in found
        )
        checks.append(OverrideCheck(name, op_type, precision, held, detail))
    return checks


def verify_overrides(
    onnx_path: Path,
    engine: str,
    float_model: onnx.ModelProto,
    overrides: dict[str, str],
    precision: str | None = None,
    compiled: Any | None = None,
) -> list[OverrideCheck]:
    """Check, in the engine's own optimized graph, that every overridden node escaped int8.

    ``compiled``: OpenVINO's model of ``onnx_path`` already compiled with ``precision`` (a session's),
    so a caller that runs the graph anyway does not compile it twice."""
    if not overrides:
        return []
    originals = {n.name: n for n in float_model.graph.node}
    if engine == "openvino":
        return _verify_openvino(onnx_path, originals, overrides, precision, compiled)
    return _verify_ort(onnx_path, originals, overrides, float_model)
