"""The deployed input, inside the graph: camera frames (NV12, RGB/BGR uint8) -> the model's float input.

The seeds compile their models with ``input_type_rt: nv12`` and mean/scale in the model, so the
device feeds camera frames straight in. edgezoo does the same in ONNX: a small float front end is
put before the model's first layer. It is never quantized (the quantizers see only the model that
follows it); it converts with the numbers of :mod:`edgezoo.inputs.colour` and rounds and clips like
:func:`edgezoo.inputs.colour.nv12_to_rgb`, so the in-graph RGB equals the Python conversion's, and then
applies ``(pixel - mean) * scale`` per channel (0..255 units, as the seeds' config writes them).

Only opset-11 operators are used, so the front end fits any exported opset (11..21).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgezoo.errors import EdgezooError
from edgezoo.inputs.colour import rgb_to_nv12, yuv_coefficients
from edgezoo.inputs.preprocess import normalize
from edgezoo.zoo.registry import ModelCard

PREFIX = "frontend/"
INPUT_NAME = "image"


@dataclass(frozen=True)
class InputSpec:
    """What the deployed model takes: type (float|rgb|bgr|nv12), size, normalisation, colour range."""

    type: str
    height: int
    width: int
    mean: tuple[float, float, float]  # 0..255 units
    scale: tuple[float, float, float]
    full_range: bool = True

    @classmethod
    def from_config(cls, input_cfg: dict[str, Any], card: ModelCard) -> InputSpec:
        """The config's input block; mean/scale default to the model card's (mean*255, 1/(std*255))."""
        h, w = card.img_size
        mean = input_cfg.get("mean") or [m * 255.0 for m in card.mean]
        scale = input_cfg.get("scale") or [1.0 / (s * 255.0) for s in card.std]
        if input_cfg["type"] == "nv12" and (h % 2 or w % 2):
            raise EdgezooError(f"{card.name}: NV12 input needs an even width and height, not {w}x{h}")
        return cls(input_cfg["type"], h, w, tuple(mean), tuple(scale), input_cfg.get("range", "full") == "full")

    @property
    def shape(self) -> list[int]:
        if self.type == "nv12":
            return [1, self.height * 3 // 2, self.width]
        if self.type in ("rgb", "bgr"):
            return [1, self.height, self.width, 3]
        return [1, 3, self.height, self.width]

    def card(self, float_input_name: str) -> dict[str, Any]:
        """The artifact card's ``input`` block: exactly what a device must feed."""
        if self.type == "float":
            return {
                "name": float_input_name,
                "shape": self.shape,
                "layout": "NCHW",
                "dtype": "float32",
                "format": "rgb_normalized",
            }
        block: dict[str, Any] = {
            "name": INPUT_NAME,
            "shape": self.shape,
            "layout": "NV12" if self.type == "nv12" else "NHWC",
            "dtype": "uint8",
            "format": self.type,
        }
        block["colour"] = f"BT.601 {'full' if self.full_range else 'video'} range" if self.type == "nv12" else "sRGB"
        block["normalisation"] = {
            "mean": list(self.mean),
            "scale": list(self.scale),
            "formula": "(pixel - mean) * scale",
        }
        return block


def core_spec(spec: InputSpec) -> InputSpec:
    """The input every front end of ``spec``'s normalisation feeds the model: RGB crops, normalised.

    Calibration runs on these tensors, so the quantized core does not depend on the input format.
    """
    return spec if spec.type == "float" else replace(spec, type="rgb")


def encode(crop: np.ndarray, spec: InputSpec, card: ModelCard) -> np.ndarray:
    """An HxWx3 uint8 RGB crop as the deployed model's input (batch 1)."""
    if spec.type == "nv12":
        return rgb_to_nv12(crop, spec.full_range)[None]
    if spec.type == "rgb":
        return np.ascontiguousarray(crop[None])
    if spec.type == "bgr":
        return np.ascontiguousarray(crop[None, ..., ::-1])
    return normalize(crop, card.mean, card.std)


def _const(name: str, value: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(np.ascontiguousarray(value), PREFIX + name)


def _nodes(spec: InputSpec, out_name: str) -> tuple[list[onnx.NodeProto], list[TensorProto]]:
    p = PREFIX
    h, w = spec.height, spec.width
    nodes: list[onnx.NodeProto] = []
    inits: list[TensorProto] = []
    if spec.type == "nv12":
        matrix, offset = yuv_coefficients(spec.full_range)
        inits += [
            _const("y_start", np.array([0, 0, 0], np.int64)),
            _const("y_end", np.array([1, h, w], np.int64)),
            _const("uv_start", np.array([0, h, 0], np.int64)),
            _const("uv_end", np.array([1, h * 3 // 2, w], np.int64)),
            _const("y_shape", np.array([1, 1, h, w], np.int64)),
            _const("uv_shape", np.array([1, h // 2, w // 2, 2], np.int64)),
            _const("offset", offset.astype(np.float32).reshape(1, 3, 1, 1)),
            _const("matrix", matrix.astype(np.float32).reshape(3, 3, 1, 1)),
            _const("zero", np.array(0.0, np.float32)),
            _const("full", np.array(255.0, np.float32)),
        ]
        nodes += [
            helper.make_node("Slice", [INPUT_NAME, p + "y_start", p + "y_end"], [p + "y"], name=p + "slice_y"),
            helper.make_node("Slice", [INPUT_NAME, p + "uv_start", p + "uv_end"], [p + "uv"], name=p + "slice_uv"),
            helper.make_node("Reshape", [p + "y", p + "y_shape"], [p + "y4"], name=p + "reshape_y"),
            # Chroma: each U,V pair covers a 2x2 block; repeat it there (nearest neighbour, as nv12_to_rgb)
            # with four copies and DepthToSpace: OpenVINO runs an Expand as a slow reference Broadcast
            # (front end alone, 224x224, 1 thread: 0.41 -> 0.31 ms).
            helper.make_node("Reshape", [p + "uv", p + "uv_shape"], [p + "uv_hwc"], name=p + "reshape_uv"),
            helper.make_node("Transpose", [p + "uv_hwc"], [p + "uv_half"], perm=[0, 3, 1, 2], name=p + "uv_nchw"),
            helper.make_node("Concat", [p + "uv_half"] * 4, [p + "uv_copies"], axis=1, name=p + "repeat_uv"),
            helper.make_node(
                "DepthToSpace", [p + "uv_copies"], [p + "uv4"], blocksize=2, mode="DCR", name=p + "upsample_uv"
            ),
            helper.make_node("Concat", [p + "y4", p + "uv4"], [p + "yuv"], axis=1, name=p + "concat_yuv"),
            helper.make_node("Cast", [p + "yuv"], [p + "yuv_f"], to=TensorProto.FLOAT, name=p + "cast"),
            helper.make_node("Sub", [p + "yuv_f", p + "offset"], [p + "yuv_c"], name=p + "sub_offset"),
            helper.make_node("Conv", [p + "yuv_c", p + "matrix"], [p + "rgb_raw"], name=p + "yuv_to_rgb"),
            helper.make_node("Round", [p + "rgb_raw"], [p + "rgb_round"], name=p + "round"),
            helper.make_node("Clip", [p + "rgb_round", p + "zero", p + "full"], [p + "rgb"], name=p + "clip"),
        ]
        rgb = p + "rgb"
    else:
        nodes += [
            helper.make_node("Cast", [INPUT_NAME], [p + "hwc_f"], to=TensorProto.FLOAT, name=p + "cast"),
            helper.make_node("Transpose", [p + "hwc_f"], [p + "chw"], perm=[0, 3, 1, 2], name=p + "to_nchw"),
        ]
        rgb = p + "chw"
    # (pixel - mean) * scale as a 1x1 convolution: ONNX Runtime's transpose optimizer would push the
    # NHWC->NCHW Transpose below a plain Mul/Add in an int8 graph and broadcast them over the last
    # axis (0.85 ms instead of 0.06 ms on lite0, scratch study); a Conv stays put. BGR's channel swap
    # is folded into the same weights.
    scale = np.asarray(spec.scale, np.float64)
    weights = np.diag(scale)
    if spec.type == "bgr":
        weights = weights[:, ::-1]
    bias = -np.asarray(spec.mean, np.float64) * scale
    inits += [
        _const("norm_weight", weights.astype(np.float32).reshape(3, 3, 1, 1)),
        _const("norm_bias", bias.astype(np.float32)),
    ]
    nodes.append(helper.make_node("Conv", [rgb, p + "norm_weight", p + "norm_bias"], [out_name], name=p + "normalise"))
    return nodes, inits


def _input_value_info(spec: InputSpec) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(INPUT_NAME, TensorProto.UINT8, spec.shape)


def prepend(model: onnx.ModelProto, spec: InputSpec) -> onnx.ModelProto:
    """A copy of ``model`` whose single float input is now fed by the front end for ``spec``."""
    if spec.type == "float":
        return model
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    initializers = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise EdgezooError(f"the model has {len(inputs)} inputs; a camera-frame front end needs exactly one")
    float_input = inputs[0].name
    nodes, inits = _nodes(spec, float_input)
    graph.input.remove(inputs[0])
    graph.input.insert(0, _input_value_info(spec))
    old_nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + old_nodes)
    graph.initializer.extend(inits)
    return out


def standalone(spec: InputSpec, opset: int = 17) -> onnx.ModelProto:
    """The front end alone (frames -> float model input), to compute what the model will see."""
    out_name = PREFIX + "output"
    nodes, inits = _nodes(spec, out_name)
    graph = helper.make_graph(
        nodes,
        "edgezoo_frontend",
        [_input_value_info(spec)],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, [1, 3, spec.height, spec.width])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8  # what onnxruntime and OpenVINO read for opsets up to 17
    return model


class FrontEnd:
    """Runs the front end in ONNX Runtime: crops -> deployed frames -> the float tensors the model sees."""

    def __init__(self, spec: InputSpec, card: ModelCard) -> None:
        self.spec, self.card = spec, card
        self._session = None
        if spec.type != "float":
            import onnxruntime as ort

            self._session = ort.InferenceSession(
                standalone(spec).SerializeToString(), providers=["CPUExecutionProvider"]
            )

    def frames(self, crop: np.ndarray) -> np.ndarray:
        return encode(crop, self.spec, self.card)

    def model_input(self, crop: np.ndarray) -> np.ndarray:
        frame = self.frames(crop)
        if self._session is None:
            return frame
        return self._session.run(None, {INPUT_NAME: frame})[0]
