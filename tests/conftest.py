"""Shared fixtures: run the CLI in-process, make checkpoints, find real photos."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import edgezoo  # noqa: F401 - installs the torchvision shim before timm is imported
from edgezoo.inputs.samples import sample_photos


def pytest_configure(config: pytest.Config) -> None:
    """Import NNCF once per worker, while pytest's session-long output capture is in place.

    NNCF binds its log handler to whatever sys.stdout is when it is first imported. Imported first
    inside a test that captures output (capsys: tune's nncf candidate, the NNCF bench peer), the
    handler keeps that test's capture file, which pytest then closes, and NNCF's next log line in the
    same worker fails with "I/O operation on closed file" (seen: the nncf-default bench peer after the
    tune tests, in one grouping of test files under -n 2).
    """
    import nncf  # noqa: F401


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run ``edgezoo ARGS...`` through the real entry point and capture what it prints."""
    from edgezoo.cli import main, out

    def run(*args: str | Path, width: int = 200) -> CliResult:
        monkeypatch.setattr(sys, "argv", ["edgezoo", *map(str, args)])
        monkeypatch.setenv("COLUMNS", str(width))
        # The console was made when edgezoo.cli was first imported, perhaps before COLUMNS was set.
        monkeypatch.setattr(out, "width", width)
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def photos() -> dict[str, Path]:
    """Real photos shipped inside installed wheels, by file stem."""
    found = {p.stem: p for p in sample_photos()}
    assert "grace_hopper" in found, "matplotlib's sample photo is missing"
    return found


@pytest.fixture
def tune_images(photos: dict[str, Path], tmp_path: Path) -> tuple[Path, Path]:
    """Calibration (three bundled photos) and held-out (two others) folders for tune's tests."""
    import shutil

    calib, held = tmp_path / "calib", tmp_path / "held"
    for folder, stems in ((calib, ("chelsea", "coffee", "astronaut")), (held, ("grace_hopper", "rocket"))):
        folder.mkdir()
        for stem in stems:
            if stem in photos:
                shutil.copy(photos[stem], folder / photos[stem].name)
    return calib, held


def files_in(folder: Path) -> list[str]:
    """Everything in a folder, hidden temporaries included."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def write_tiny_cnn(folder: Path, quantize_config: str = "default"):
    """A float export of a tiny random CNN (conv -> relu -> pool -> gemm, 10 classes) with a zoo-like card
    that names ``quantize_config`` (a packaged config or a YAML path)."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    from edgezoo.artifact import write_artifact

    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.normal(0, 0.3, (8, 3, 4, 4)).astype(np.float32), "w1"),
        numpy_helper.from_array(np.zeros(8, np.float32), "b1"),
        numpy_helper.from_array(rng.normal(0, 0.3, (16, 8, 1, 1)).astype(np.float32), "w2"),
        numpy_helper.from_array(np.zeros(16, np.float32), "b2"),
        numpy_helper.from_array(rng.normal(0, 0.5, (10, 16)).astype(np.float32), "w3"),
        numpy_helper.from_array(np.zeros(10, np.float32), "b3"),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], name="conv1", strides=[4, 4]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2"),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["r2"], ["p"], name="pool"),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "w3", "b3"], ["logits"], name="head", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, [1, 3, 224, 224])],
        [helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, [1, 10])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    model_card = {
        "name": "tiny_cnn", "timm_name": "tiny_cnn", "family": "test", "input_size": [3, 224, 224],
        "mean": mean, "std": std, "crop_pct": 0.875, "interpolation": "bilinear", "num_classes": 10,
        "labels": "imagenet-1k", "params": 1000, "gmacs": 0.001, "quantize_config": quantize_config, "zoo": False,
    }  # fmt: skip
    card = {
        "kind": "export", "model": "tiny_cnn", "precision": "fp32", "weights": {"kind": "random", "seed": 0},
        "opset": 17,
        "input": {"name": "input", "shape": [1, 3, 224, 224], "layout": "NCHW", "dtype": "float32",
                  "format": "rgb_normalized"},
        "output": {"name": "logits", "shape": [1, 10], "dtype": "float32", "meaning": "logits"},
        "preprocessing": {"crop_pct": 0.875, "interpolation": "bilinear", "mean": mean, "std": std},
        "rewrites": {"grouped_conv_to_depthwise": []}, "model_card": model_card,
    }  # fmt: skip
    return write_artifact(model, card, folder, "tiny_cnn")


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """The tiny random CNN (:func:`write_tiny_cnn`) with the generic ``default`` config."""
    return write_tiny_cnn(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def lite0_artifact(tmp_path_factory):
    """tf_efficientnet_lite0 with its real ImageNet weights, exported once per test session."""
    from edgezoo.export.to_onnx import export
    from edgezoo.zoo.registry import get_card

    artifact, _ = export(get_card("tf_efficientnet_lite0"), pretrained=True, out_dir=tmp_path_factory.mktemp("lite0"))
    assert artifact.card["weights"]["kind"] == "package"
    return artifact


def float_model(name: str, nodes: list, inits: list, inputs: dict, outputs: dict):
    """An opset-17 ONNX model of float tensors ``inputs``/``outputs`` (name -> shape), IR version 8:
    what onnxruntime and OpenVINO read for opsets up to 17."""
    import onnx
    from onnx import helper

    def infos(shapes: dict) -> list:
        return [helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, shape) for n, shape in shapes.items()]

    graph = helper.make_graph(nodes, name, infos(inputs), infos(outputs), inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def conv_relu_conv(w1, b1, w2, b2, height: int, **first_conv: object):
    """A float ONNX model ``input -> Conv(w1, b1, **first_conv) -> Relu -> Conv(w2, b2)`` on square
    ``height`` inputs (shape-preserving convs), for quantizer tests that need a known graph."""
    import numpy as np
    from onnx import helper, numpy_helper

    inits = [
        numpy_helper.from_array(np.asarray(v, np.float32), n)
        for v, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))
    ]
    nodes = [
        helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], name="conv1", **first_conv),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["out"], name="conv2"),
    ]
    channels_in = np.shape(w1)[0] if first_conv.get("group", 1) > 1 else np.shape(w1)[1]
    shape_in, shape_out = [1, channels_in, height, height], [1, np.shape(w2)[0], height, height]
    return float_model("conv_relu_conv", nodes, inits, {"input": shape_in}, {"out": shape_out})


# The photo split the quantization tests share: calibrate on views of four photos, judge on views of
# three others (never calibrated on).
CALIB_PHOTOS = ("chelsea", "astronaut", "rocket", "hubble_deep_field")
HELD_OUT_PHOTOS = ("grace_hopper", "coffee", "motorcycle_left")


def photo_view_sets(root: Path, calib_per_photo: int, held_per_photo: int) -> tuple[Path, Path]:
    """Folders ``root/calib`` and ``root/held_out`` of views of CALIB_PHOTOS and HELD_OUT_PHOTOS
    (skips the test where scikit-image's sample photos are not installed)."""
    from edgezoo.inputs.samples import write_photo_variants

    photos = {p.stem: p for p in sample_photos()}
    if not all(n in photos for n in CALIB_PHOTOS + HELD_OUT_PHOTOS):
        pytest.skip("scikit-image sample photos are not installed (pip install edgezoo[samples])")
    write_photo_variants([photos[n] for n in CALIB_PHOTOS], root / "calib", per_photo=calib_per_photo, seed=1)
    write_photo_variants([photos[n] for n in HELD_OUT_PHOTOS], root / "held_out", per_photo=held_per_photo, seed=2)
    return root / "calib", root / "held_out"


def dynamic_int8(art, out: Path):
    """An INT8 artifact beside ``art`` made with ONNX Runtime's dynamic quantization: a quick stand-in
    for tests of what reads int8 artifacts (evaluation, Ray), not of edgezoo's own quantizer."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from edgezoo.artifact import write_artifact

    q = out / "q.onnx"
    quantize_dynamic(str(art.onnx_path), str(q), weight_type=QuantType.QUInt8)
    card = {k: v for k, v in art.card.items() if k not in {"file", "size_bytes", "sha256", "edgezoo_artifact"}}
    int8 = write_artifact(onnx.load(str(q)), {**card, "precision": "int8"}, out, f"{art.onnx_path.stem}.int8")
    q.unlink()
    return int8
