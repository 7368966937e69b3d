"""to_model_input against hand-made ONNX graphs that take each card input format.

Each graph is a "colour meter": it decodes its input the way the card says (normalized float,
RGB/BGR uint8 in NHWC or NCHW, NV12 in full or video range) and returns logits whose first three
entries are the mean R, G, B of the picture in 0..255. If to_model_input got the format, layout,
channel order, chroma order or range wrong, the measured colour is wrong.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from edgezoo.artifact import FORMAT_VERSION, Artifact
from edgezoo.errors import EdgezooError
from edgezoo.inputs.colour import rgb_to_nv12, yuv_coefficients
from edgezoo.inputs.frames import Frame, InputSpec, parse_colour, to_model_input
from edgezoo.inputs.preprocess import resize_crop
from edgezoo.runtime.engines import SessionOptions, open_session

H, W = 32, 48
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
PRE = {"crop_pct": 0.875, "interpolation": "bicubic", "mean": list(MEAN), "std": list(STD)}


def _const(name: str, value: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value), name)


def _meter_tail(nodes: list, inits: list, rgb_mean: str) -> None:
    """rgb_mean [1,3] -> logits [1,1000] = (R, G, B, 0, ...)."""
    pad = np.zeros((3, 1000), np.float32)
    pad[[0, 1, 2], [0, 1, 2]] = 1.0
    inits.append(_const("to_logits", pad))
    nodes.append(helper.make_node("MatMul", [rgb_mean, "to_logits"], ["logits"]))


def colour_meter(fmt: str, layout: str, full_range: bool = True) -> onnx.ModelProto:
    nodes: list = []
    inits: list = []
    if fmt in ("nv12",):
        shape, dtype = [1, H * 3 // 2, W], TensorProto.UINT8
        matrix, offset = yuv_coefficients(full_range)
        inits += [
            _const("y_start", np.array([0], np.int64)),
            _const("y_end", np.array([H], np.int64)),
            _const("uv_end", np.array([H * 3 // 2], np.int64)),
            _const("axis1", np.array([1], np.int64)),
            _const("uv_shape", np.array([1, H // 2 * W // 2, 2], np.int64)),
            _const("offset", offset.astype(np.float32)),
            _const("yuv2rgb_t", matrix.T.astype(np.float32)),
        ]
        nodes += [
            helper.make_node("Cast", ["input"], ["f"], to=TensorProto.FLOAT),
            helper.make_node("Slice", ["f", "y_start", "y_end", "axis1"], ["y"]),
            helper.make_node("Slice", ["f", "y_end", "uv_end", "axis1"], ["uv"]),
            helper.make_node("ReduceMean", ["y"], ["y_mean"], axes=[1, 2], keepdims=0),  # [1]
            helper.make_node("Reshape", ["uv", "uv_shape"], ["uv_pairs"]),
            helper.make_node("ReduceMean", ["uv_pairs"], ["uv_mean"], axes=[1], keepdims=0),  # [1,2] = U, V
            helper.make_node("Unsqueeze", ["y_mean", "axis1"], ["y_mean2"]),
            helper.make_node("Concat", ["y_mean2", "uv_mean"], ["yuv"], axis=1),
            helper.make_node("Sub", ["yuv", "offset"], ["yuv0"]),
            helper.make_node("MatMul", ["yuv0", "yuv2rgb_t"], ["rgb_mean"]),
        ]
    else:
        axes = [2, 3] if layout == "NCHW" else [1, 2]
        shape = [1, 3, H, W] if layout == "NCHW" else [1, H, W, 3]
        dtype = TensorProto.FLOAT if fmt == "rgb_normalized" else TensorProto.UINT8
        nodes += [
            helper.make_node("Cast", ["input"], ["f"], to=TensorProto.FLOAT),
            helper.make_node("ReduceMean", ["f"], ["ch_mean"], axes=axes, keepdims=0),  # [1,3]
        ]
        if fmt == "rgb_normalized":  # undo (x/255 - mean)/std
            inits += [
                _const("std255", np.array(STD, np.float32) * 255),
                _const("mean255", np.array(MEAN, np.float32) * 255),
            ]
            nodes += [
                helper.make_node("Mul", ["ch_mean", "std255"], ["scaled"]),
                helper.make_node("Add", ["scaled", "mean255"], ["ch_rgb"]),
            ]
        else:
            nodes.append(helper.make_node("Identity", ["ch_mean"], ["ch_rgb"]))
        order = [2, 1, 0] if fmt == "bgr" else [0, 1, 2]
        inits.append(_const("order", np.eye(3, dtype=np.float32)[order].T.copy()))
        nodes.append(helper.make_node("MatMul", ["ch_rgb", "order"], ["rgb_mean"]))
    _meter_tail(nodes, inits, "rgb_mean")
    graph = helper.make_graph(
        nodes,
        "colour_meter",
        [helper.make_tensor_value_info("input", dtype, shape)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1000])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def meter_artifact(tmp_path, fmt: str, layout: str, full_range: bool = True, engine: str = "onnxruntime") -> Artifact:
    model = colour_meter(fmt, layout, full_range)
    shape = [int(d.dim_value) for d in model.graph.input[0].type.tensor_type.shape.dim]
    dtype = "float32" if fmt == "rgb_normalized" else "uint8"
    inp = {"name": "input", "shape": shape, "layout": layout, "dtype": dtype, "format": fmt}
    if fmt == "nv12":
        inp["colour"] = "BT.601 full range" if full_range else "BT.601 video range"
    card = {
        "edgezoo_artifact": FORMAT_VERSION,
        "model": "colour_meter",
        "precision": "fp32" if fmt == "rgb_normalized" else "int8",
        "engine": engine,
        "input": inp,
        "preprocessing": PRE,
        "weights": {"kind": "random", "seed": 0},
    }
    path = tmp_path / f"meter_{fmt}_{layout}_{full_range}.onnx"
    onnx.save(model, path)
    path.with_suffix(".json").write_text(json.dumps(card))
    return Artifact(path, card)


def _picture() -> np.ndarray:
    """A picture whose colour varies, so that channel or chroma mix-ups change the mean."""
    yy, xx = np.mgrid[0:120, 0:160]
    return np.stack([(xx * 1.5) % 256, (yy * 2) % 256, np.full_like(xx, 40)], axis=-1).astype(np.uint8)


CASES = [
    ("rgb_normalized", "NCHW", True),
    ("rgb_normalized", "NHWC", True),
    ("rgb", "NHWC", True),
    ("rgb", "NCHW", True),
    ("bgr", "NHWC", True),
    ("nv12", "NV12", True),
    ("nv12", "NV12", False),
]


@pytest.mark.parametrize(("fmt", "layout", "full_range"), CASES)
@pytest.mark.parametrize("engine", ["onnxruntime", "openvino"])
def test_every_input_format_reaches_the_graph_with_the_right_colours(tmp_path, fmt, layout, full_range, engine):
    artifact = meter_artifact(tmp_path, fmt, layout, full_range)
    pic = _picture()
    x = to_model_input(Image.fromarray(pic), artifact.card)
    spec = InputSpec.from_card(artifact.card)
    assert x.dtype == spec.dtype and list(x.shape) == artifact.card["input"]["shape"]
    # f32: OpenVINO's default on CPUs with BF16 units is bf16, too coarse for this meter
    measured = open_session(artifact, engine, SessionOptions(precision="f32")).run(x)[0, :3]
    expected = resize_crop(pic, (H, W), PRE["crop_pct"], PRE["interpolation"]).reshape(-1, 3).mean(axis=0)
    # float: exact up to float32; uint8 RGB: exact; NV12: chroma rounding and video-range quantization
    tol = 0.05 if fmt != "nv12" else 1.0
    np.testing.assert_allclose(measured, expected, atol=tol)


def test_a_range_mix_up_would_be_caught(tmp_path):
    """The meter is sharp enough: a full-range frame read as video range measures visibly wrong."""
    video_graph = meter_artifact(tmp_path, "nv12", "NV12", full_range=False)
    full_card = meter_artifact(tmp_path, "nv12", "NV12", full_range=True).card
    pic = _picture()
    x = to_model_input(pic, full_card)  # encoded full range, decoded as video range
    measured = open_session(video_graph).run(x)[0, :3]
    expected = resize_crop(pic, (H, W), 0.875, "bicubic").reshape(-1, 3).mean(axis=0)
    assert np.abs(measured - expected).max() > 5


def test_frame_of_model_size_is_fed_byte_for_byte(tmp_path):
    card = meter_artifact(tmp_path, "nv12", "NV12").card
    frame = rgb_to_nv12(np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8))
    x = to_model_input(Frame(frame, "nv12", True), card)
    assert x.shape == (1, H * 3 // 2, W) and np.array_equal(x[0], frame)
    # another range than the card's: decoded and re-encoded, not passed through
    y = to_model_input(Frame(frame, "nv12", False), card)
    assert not np.array_equal(y[0], frame)


def test_frame_of_another_size_is_converted_and_preprocessed(tmp_path):
    card = meter_artifact(tmp_path, "rgb", "NHWC").card
    pic = _picture()
    frame = Frame(rgb_to_nv12(pic), "nv12", True)
    x = to_model_input(frame, card)
    expected = resize_crop(frame.to_rgb(), (H, W), 0.875, "bicubic")
    assert np.array_equal(x[0], expected)


def test_frame_of_model_size_skips_the_crop_for_rgb_models(tmp_path):
    card = meter_artifact(tmp_path, "rgb", "NHWC").card
    pic = _picture()[:H, :W]
    frame = Frame(rgb_to_nv12(pic), "nv12", True)
    assert np.array_equal(to_model_input(frame, card)[0], frame.to_rgb())


def test_letterbox_keeps_the_whole_picture(tmp_path):
    card = meter_artifact(tmp_path, "rgb", "NHWC").card
    wide = np.full((20, 200, 3), 200, np.uint8)
    x = to_model_input(wide, card, letterbox=True)[0]
    assert (x[0] == 114).all() and (x[H // 2] == 200).all()  # padded rows above, picture in the middle


def test_parse_colour():
    assert parse_colour(None) is True
    assert parse_colour("BT.601 full range") is True
    assert parse_colour("BT.601 video range") is False
    assert parse_colour("bt601 limited") is False
    with pytest.raises(EdgezooError, match="BT.709"):
        parse_colour("BT.709 video range")


@pytest.mark.parametrize(("fmt", "full_range"), [("rgb", True), ("bgr", True), ("nv12", True), ("nv12", False)])
def test_input_blocks_written_by_the_quantizer_read_back(fmt, full_range):
    """The int8 cards' input block (frontend.InputSpec.card) must be readable by predict/eval:
    RGB/BGR cards say colour "sRGB", which only YUV frames would need to be BT.601."""
    from edgezoo.quantize import frontend

    block = frontend.InputSpec(fmt, H, W, (127.5,) * 3, (1 / 127.5,) * 3, full_range).card("input")
    spec = InputSpec.from_card({"model": "m", "input": block, "preprocessing": PRE})
    assert (spec.format, spec.height, spec.width, spec.dtype) == (fmt, H, W, np.uint8)
    assert spec.full_range is full_range
    with pytest.raises(EdgezooError, match="BT.601"):
        InputSpec.from_card({"model": "m", "input": {**block, "format": "nv12", "colour": "sRGB",
                                                     "layout": "NV12", "shape": [1, H * 3 // 2, W]}})  # fmt: skip


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"format": "yuyv"}, "format 'yuyv' is not supported"),
        ({"dtype": "float32"}, "must be uint8"),
        ({"layout": "NCHW", "shape": [1, 48, 32]}, "cannot read the input geometry"),
        ({"shape": [1, 50, 48]}, "not H\\*3/2"),
    ],
)
def test_bad_input_blocks_are_one_line_errors(tmp_path, change, problem):
    card = meter_artifact(tmp_path, "nv12", "NV12").card
    card = {**card, "input": {**card["input"], **change}}
    with pytest.raises(EdgezooError, match=problem):
        InputSpec.from_card(card)


def test_wrong_dtype_reaches_the_session_as_a_clear_error(tmp_path):
    artifact = meter_artifact(tmp_path, "nv12", "NV12")
    for engine in ("onnxruntime", "openvino"):
        session = open_session(artifact, engine, SessionOptions())
        with pytest.raises(EdgezooError, match="input must be uint8"):
            session.run(np.zeros((1, H * 3 // 2, W), np.float32))
