"""RDK toolchain YAML (``hb_mapper makertbin --config``) <-> edgezoo's quantization config, both ways.

One table per setting, used by both directions, so reading and writing cannot drift apart:

* :func:`from_rdk` reads a board config (a zoo file such as ``FastViT_T8_config.yaml``, or one
  ``edgezoo rdk`` wrote) as a :class:`QuantConfig`, so ``edgezoo quantize MODEL --config X.yaml``
  runs the board's recipe with ONNX Runtime on this PC. That is an *estimate* of the board's int8
  accuracy: the board's model is made by the toolchain's own quantizer and compiler.
* :func:`to_rdk` writes the YAML for a workspace from an edgezoo config, the model card and the
  opset-11 ONNX the toolchain will read (node names are taken from that file).

The rules (groups, keys, value formats, what each march allows) are those collected in
``notes/rdk_toolchain.md`` from the D-Robotics docs and model zoo; docs/rdk.md has the table.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import onnx
import yaml

from edgezoo.errors import EdgezooError
from edgezoo.quantize import node_names
from edgezoo.quantize.config import QuantConfig, default_data, validate
from edgezoo.quantize.frontend import InputSpec
from edgezoo.zoo.registry import ModelCard

log = logging.getLogger(__name__)

GROUPS = ("model_parameters", "input_parameters", "calibration_parameters", "compiler_parameters")
# march -> board. bayes (RDK Ultra) is read, not written.
MARCHES = {"bayes-e": "RDK X5", "bernoulli2": "RDK X3", "bayes": "RDK Ultra"}
WRITABLE_MARCHES = ("bayes-e", "bernoulli2")
NODE_INFO_MARCHES = ("bayes-e", "bayes")  # node_info / int16 exist on these only (not X3)
DEFAULT_MARCH = "bayes-e"
# The toolchain's data_preprocess.py default (cal_img_num 100); the docs ask for about 100 images.
CALIBRATION_COUNT = 100
CALIBRATION_DIR = "calibration_data_rgb_f32"
ESTIMATE_NOTE = (
    "estimate: the board's recipe run with ONNX Runtime's quantizer on this PC;"
    " the board's model is made by the RDK toolchain's own quantizer"
)

# ---- the mapping, one table per setting (edgezoo value -> RDK value) ----------------------------
# input.type -> input_type_rt. The BPU takes image frames; a float-tensor edgezoo input is written as
# nv12 (the X5 default for RGB-trained models), since featuremap would need a featuremap-trained model.
INPUT_TYPE = {"nv12": "nv12", "rgb": "rgb", "bgr": "bgr", "float": "nv12"}
INPUT_TYPE_READ = {"nv12": "nv12", "rgb": "rgb", "bgr": "bgr", "featuremap": "float"}
# input.range -> input_space_and_range (nv12 only)
COLOUR_RANGE = {"full": "regular", "video": "bt601_video"}
# calibration.method -> calibration_type. The toolchain's "default" searches among its methods for the
# best per model; edgezoo's nearest is mse (least-error ranges per tensor), so they map to each other.
METHOD = {"minmax": "max", "percentile": "max", "entropy": "kl", "mse": "default"}
METHOD_READ = {"max": "minmax", "kl": "entropy", "default": "mse", "mix": "mse"}
INT16_ALL = "set_all_nodes_int16"
# The board's weights are int8 per channel, its activations int8 symmetric: the nearest ONNX Runtime
# recipe quantizes every op it can (not only Conv/MatMul), signed activations, in ONNX Runtime itself.
ENGINE = {
    "runtime": "onnxruntime",
    "quantizer": "onnxruntime",
    "activations": "int8",
    "quantize_op_types": None,
    "rewrite_grouped_conv": False,
    "qdq_placement": "inputs_and_outputs",
}
# Keys read but without an edgezoo counterpart (paths, build and debug switches): accepted silently.
_NO_COUNTERPART = {
    "model_parameters": {
        "onnx_model", "caffe_model", "prototxt", "march", "working_dir", "output_model_file_prefix",
        "layer_out_dump", "output_nodes", "remove_node_type", "remove_node_name", "debug_mode", "log_level",
    },
    "input_parameters": {"input_name", "input_layout_rt", "input_shape", "input_batch"},
    "calibration_parameters": {"cal_data_dir", "cal_data_type", "preprocess_on", "per_channel", "run_on_bpu"},
    "compiler_parameters": {
        "compile_mode", "debug", "core_num", "optimize_level", "input_source", "max_time_per_fc", "jobs",
    },
}  # fmt: skip
_TRANSLATED = {
    "model_parameters": {"node_info", "set_node_data_type"},
    "input_parameters": {
        "input_type_rt", "input_type_train", "input_layout_train", "input_space_and_range", "norm_type",
        "mean_value", "scale_value",
    },
    "calibration_parameters": {"calibration_type", "max_percentile", "run_on_cpu", "optimization"},
    "compiler_parameters": set(),
}  # fmt: skip


def is_rdk_yaml(data: Mapping[str, Any]) -> bool:
    """Whether a parsed YAML is an RDK toolchain config rather than an edgezoo one."""
    return "model_parameters" in data or "input_parameters" in data


# --------------------------------------------------------------------------------------------
# Reading: RDK YAML -> QuantConfig
# --------------------------------------------------------------------------------------------


def _names(value: Any) -> list[str]:
    """A ``;``-separated node list (``'conv_0; conv_1'``) or a YAML list."""
    items = value if isinstance(value, list) else str(value or "").split(";")
    return [str(v).strip() for v in items if str(v).strip()]


def _channels(value: Any, label: str, key: str, default: float) -> list[float]:
    """``123.675 116.28 103.53`` (space-separated), one number for all channels, or absent."""
    if value is None or (isinstance(value, str) and value.strip() in ("", "None")):
        return [default] * 3
    parts = value.split() if isinstance(value, str) else value if isinstance(value, list) else [value]
    try:
        numbers = [float(v) for v in parts]
    except (TypeError, ValueError):
        raise EdgezooError(f"{label}: input_parameters.{key}: expected numbers, got {value!r}") from None
    if len(numbers) == 1:
        numbers *= 3
    if len(numbers) != 3 or not all(math.isfinite(v) for v in numbers):
        raise EdgezooError(f"{label}: input_parameters.{key}: expected 1 or 3 numbers, got {value!r}")
    return numbers


def _node_info(value: Any, label: str) -> dict[str, str]:
    """node_info -> {node: "int16" | "float"}: int16 in or out -> int16, ``'ON': 'CPU'`` -> float.

    Also takes the documented short form ``"n1:int16;n2:int16"``. An unquoted ``ON`` key, which YAML
    1.1 reads as the boolean true, is taken as ``'ON'`` too.
    """
    if value is None:
        return {}
    if isinstance(value, str):
        out = {}
        for item in _names(value):
            name, _, kind = item.rpartition(":")
            if not name or kind.strip() not in ("int16", "int8"):
                raise EdgezooError(f"{label}: node_info: expected 'node:int16' items, got {item!r}")
            if kind.strip() == "int16":
                out[name.strip()] = "int16"
        return out
    if not isinstance(value, dict):
        raise EdgezooError(f"{label}: node_info: expected a mapping of node name to settings")
    out = {}
    for name, spec in value.items():
        if not isinstance(spec, dict):
            raise EdgezooError(f"{label}: node_info: {name}: expected a mapping such as {{'ON': 'BPU', ...}}")
        if True in spec:
            log.warning("%s: node_info: %s: unquoted ON reads as true in YAML 1.1; write 'ON'", label, name)
        where = str(spec.get("ON", spec.get(True, "BPU"))).upper()
        if where not in ("BPU", "CPU"):
            raise EdgezooError(f"{label}: node_info: {name}: 'ON' must be BPU or CPU, got {where!r}")
        types = {str(v).lower() for k, v in spec.items() if str(k).startswith(("InputType", "OutputType"))}
        if where == "CPU":
            out[str(name)] = "float"
        elif "int16" in types:
            out[str(name)] = "int16"
    return out


def _group(data: Mapping[str, Any], group: str, label: str) -> dict[str, Any]:
    value = data.get(group)
    if value is None:
        raise EdgezooError(f"{label}: missing group '{group}' (the toolchain needs all of {', '.join(GROUPS)})")
    if not isinstance(value, dict):
        raise EdgezooError(f"{label}: '{group}' must be a mapping")
    unknown = set(value) - _NO_COUNTERPART[group] - _TRANSLATED[group]
    if unknown:
        listed = ", ".join(sorted(map(str, unknown)))
        log.warning("%s: %s: keys edgezoo does not know, ignored: %s", label, group, listed)
    return value


def _lookup(value: Any, label: str, key: str, table: Mapping[str, str]) -> str:
    """``table[value]``, or an error naming the file, the key and the values allowed."""
    text = str(value if value is not None else "").strip()
    if text not in table:
        raise EdgezooError(f"{label}: {key}: {text!r} is not one of {', '.join(table)}")
    return table[text]


def from_rdk(data: Mapping[str, Any], label: str) -> QuantConfig:
    """Translate a parsed RDK YAML into an edgezoo config (validated; errors name ``label``)."""
    model_p = _group(data, "model_parameters", label)
    input_p = _group(data, "input_parameters", label)
    cal_p = _group(data, "calibration_parameters", label)
    _group(data, "compiler_parameters", label)
    march = str(model_p.get("march", "")).strip()
    if march not in MARCHES:
        raise EdgezooError(f"{label}: model_parameters.march: {march!r} is not one of {', '.join(MARCHES)}")
    train = str(input_p.get("input_type_train", "")).strip()
    if train != "rgb":
        raise EdgezooError(f"{label}: input_parameters.input_type_train: edgezoo's exports take rgb, not {train!r}")
    layout = str(input_p.get("input_layout_train", "NCHW")).strip()
    if layout != "NCHW":
        raise EdgezooError(f"{label}: input_parameters.input_layout_train: edgezoo's exports are NCHW, not {layout!r}")

    cfg = default_data()
    rt = input_p.get("input_type_rt")
    cfg["input"]["type"] = _lookup(rt, label, "input_parameters.input_type_rt", INPUT_TYPE_READ)
    space = input_p.get("input_space_and_range", "regular")
    cfg["input"]["range"] = _lookup(space, label, "input_parameters.input_space_and_range", _inverse(COLOUR_RANGE))
    norm = str(input_p.get("norm_type", "")).strip()
    norms = ("data_mean_and_scale", "data_mean", "data_scale", "no_preprocess")
    if norm not in norms:
        raise EdgezooError(f"{label}: input_parameters.norm_type: {norm!r} is not one of {', '.join(norms)}")
    has_mean, has_scale = norm in norms[:2], norm in (norms[0], norms[2])
    cfg["input"]["mean"] = _channels(input_p.get("mean_value") if has_mean else None, label, "mean_value", 0.0)
    cfg["input"]["scale"] = _channels(input_p.get("scale_value") if has_scale else None, label, "scale_value", 1.0)

    kind = str(cal_p.get("calibration_type", "default")).strip()
    if kind in ("load", "skip"):
        raise EdgezooError(f"{label}: calibration_type {kind!r} has no PTQ recipe to estimate (QAT or random data)")
    cfg["calibration"]["method"] = _lookup(kind, label, "calibration_parameters.calibration_type", METHOD_READ)
    if kind == "max" and cal_p.get("max_percentile") is not None:
        raw = cal_p["max_percentile"]
        try:
            pct = float(raw) if not isinstance(raw, bool) else math.nan  # '0.9999' quoted is fine too
        except (TypeError, ValueError):
            pct = math.nan
        if not 0.5 < pct <= 1.0:
            raise EdgezooError(f"{label}: calibration_parameters.max_percentile: expected 0.5..1.0, got {raw!r}")
        if pct < 1.0:
            cfg["calibration"]["method"] = "percentile"
            cfg["calibration"]["percentile"] = round(float(pct) * 100.0, 8)
    cfg["calibration"]["count"] = CALIBRATION_COUNT

    nodes = _node_info(model_p.get("node_info"), label)
    nodes.update({n: "int16" for n in _node_info(model_p.get("set_node_data_type"), label) if n not in nodes})
    nodes.update({name: "float" for name in _names(cal_p.get("run_on_cpu"))})
    optimization = _names(cal_p.get("optimization"))
    int16_all = INT16_ALL in optimization
    if march not in NODE_INFO_MARCHES and (int16_all or any(v == "int16" for v in nodes.values())):
        raise EdgezooError(f"{label}: int16 (node_info, {INT16_ALL}) is not available on march {march}")
    cfg["precision"]["default"] = "int16" if int16_all else "int8"
    cfg["precision"]["nodes"] = nodes
    cfg["engine"].update(copy.deepcopy(ENGINE))
    cfg["description"] = f"{MARCHES[march]} board recipe from {label} ({ESTIMATE_NOTE})"
    cfg["rdk"] = {"file": label, "march": march, "note": ESTIMATE_NOTE, "optimization": optimization}
    validate(cfg, label)
    return QuantConfig(cfg, label, (label,))


def _inverse(table: Mapping[str, str]) -> dict[str, str]:
    return {v: k for k, v in table.items()}


# --------------------------------------------------------------------------------------------
# Writing: QuantConfig + card + ONNX -> RDK YAML
# --------------------------------------------------------------------------------------------


@dataclass
class RdkYaml:
    """A written board config: its text, the mapping it parses to, and what could not be carried over."""

    text: str
    data: dict[str, Any]
    node_info: list[str]
    dropped: list[str] = field(default_factory=list)  # config node names not in this ONNX


def int16_nodes(config: QuantConfig, model: onnx.ModelProto) -> tuple[list[str], list[str]]:
    """Nodes of ``model`` to pin to int16 on the BPU: every Softmax (as the zoo does) and every node the
    config raises above int8 (float or int16: the BPU's highest precision is int16), in graph order.
    Also returns the config's node names that this ONNX does not have."""
    wanted = config.overrides()
    names = {n.name for n in model.graph.node}
    found: set[str] = set()
    dropped: list[str] = []
    for name in wanted["nodes"]:  # names of another implementation (Apple's FastViT) are translated
        target = name if name in names else node_names.translate(name, names)
        if target is None:
            dropped.append(name)
        else:
            found.add(target)
    chosen = [
        n.name for n in model.graph.node
        if n.op_type == "Softmax" or n.op_type in wanted["op_types"] or n.name in found
    ]  # fmt: skip
    return chosen, dropped


def _q(value: str) -> str:
    """A single-quoted YAML scalar, as the zoo writes strings."""
    return "'" + str(value).replace("'", "''") + "'"


def _num(values: list[float] | tuple[float, ...]) -> str:
    """Per-channel values, space-separated and unquoted, as the toolchain's docs and the zoo write them."""
    return " ".join(f"{v:.8g}" for v in values)


def to_rdk(
    config: QuantConfig,
    card: ModelCard,
    model: onnx.ModelProto,
    *,
    onnx_file: str,
    march: str = DEFAULT_MARCH,
    cal_dir: str = CALIBRATION_DIR,
) -> RdkYaml:
    """The workspace's ``MODEL_config.yaml`` for ``model`` (the ONNX file ``onnx_file`` beside it)."""
    if march not in WRITABLE_MARCHES:
        raise EdgezooError(f"unknown march {march!r}: use {' or '.join(WRITABLE_MARCHES)}")
    spec = InputSpec.from_config(config.input, card)
    h, w = card.img_size
    rt = INPUT_TYPE[spec.type]
    prefix = f"{card.name}_{h}x{w}_{rt}"
    nodes, dropped = int16_nodes(config, model)
    method = config.calibration["method"]
    int16_all = config.precision["default"] == "int16"
    x5 = march in NODE_INFO_MARCHES

    lines = [
        f"# {MARCHES[march]} ({march}) build config for {card.name}, written by edgezoo from its card and",
        f"# quantization config ({config.source}). Run ./01_check.sh, then ./03_build.sh, in the toolchain.",
        "model_parameters:",
        f"  onnx_model: {_q('./' + onnx_file)}",
        f"  march: {_q(march)}",
        "  layer_out_dump: False",
        f"  working_dir: {_q('model_output')}",
        f"  output_model_file_prefix: {_q(prefix)}",
    ]
    if x5 and nodes:
        lines.append("  # Softmax and the config's higher-precision nodes: int16 on the BPU (not Softmax on the CPU).")
        lines.append("  node_info:")
        for name in nodes:
            lines += [f"    {_q(name)}:", "      'ON': 'BPU'", "      'InputType': 'int16'"]
            lines += ["      'OutputType': 'int16'"]
    elif not x5:
        lines.append(f"  # No node_info: {march} (RDK X3) has no int16 and no node_info; every BPU node runs int8.")
        if nodes:
            lines += ["  # On an X5 (bayes-e) these would be int16 in node_info:", *(f"  #   {n}" for n in nodes)]
    if dropped:
        lines += ["  # The config's nodes not in this ONNX, left out:", *(f"  #   {n}" for n in dropped)]
    lines += ["", "input_parameters:", "  input_name: ''", f"  input_type_rt: {_q(rt)}"]
    if spec.type == "float":
        lines.append("  # edgezoo's config takes float tensors; the BPU takes camera frames, so nv12 here.")
    if rt in ("rgb", "bgr"):
        lines.append(f"  input_layout_rt: {_q('NHWC')}")
    if rt == "nv12":
        space = COLOUR_RANGE["full" if spec.full_range else "video"]
        lines.append(f"  input_space_and_range: {_q(space)}")
    lines += [
        f"  input_type_train: {_q('rgb')}",
        f"  input_layout_train: {_q('NCHW')}",
        f"  input_shape: {_q(f'1x3x{h}x{w}')}",
        f"  norm_type: {_q('data_mean_and_scale')}",
        f"  mean_value: {_num(spec.mean)}",
        f"  scale_value: {_num(spec.scale)}",
        "",
        "calibration_parameters:",
        f"  cal_data_dir: {_q('./' + cal_dir)}",
        f"  cal_data_type: {_q('float32')}",
        f"  calibration_type: {_q(METHOD[method])}",
    ]
    if method == "percentile":
        lines.append(f"  max_percentile: {config.calibration['percentile'] / 100.0:.10g}")
    if int16_all and x5:
        lines.append(f"  optimization: {_q(INT16_ALL)}")
    elif int16_all:
        lines.append(f"  # The config keeps every activation in int16 ({INT16_ALL}): not available on {march}.")
    lines += [
        "",
        "compiler_parameters:",
        f"  compile_mode: {_q('latency')}",
        "  debug: False",
        f"  optimize_level: {_q('O3')}",
        "",
    ]
    text = "\n".join(lines)
    return RdkYaml(text, yaml.safe_load(text), nodes if x5 else [], dropped)
