"""Shared fixtures: run the CLI in-process, make checkpoints, find real photos."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import edgezoo  # noqa: F401 - installs the torchvision shim before timm is imported
from edgezoo.inputs.samples import sample_photos


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


def files_in(folder: Path) -> list[str]:
    """Everything in a folder, hidden temporaries included."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture(scope="session")
def lite0_artifact(tmp_path_factory):
    """tf_efficientnet_lite0 with its real ImageNet weights, exported once per test session."""
    from edgezoo.export.to_onnx import export
    from edgezoo.zoo.registry import get_card

    artifact, _ = export(get_card("tf_efficientnet_lite0"), pretrained=True, out_dir=tmp_path_factory.mktemp("lite0"))
    assert artifact.card["weights"]["kind"] == "package"
    return artifact


def conv_relu_conv(w1, b1, w2, b2, height: int, **first_conv: object):
    """A float ONNX model ``input -> Conv(w1, b1, **first_conv) -> Relu -> Conv(w2, b2)`` on square
    ``height`` inputs (shape-preserving convs), for quantizer tests that need a known graph."""
    import numpy as np
    import onnx
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
    graph = helper.make_graph(
        nodes,
        "conv_relu_conv",
        [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, [1, channels_in, height, height])],
        [helper.make_tensor_value_info("out", onnx.TensorProto.FLOAT, [1, np.shape(w2)[0], height, height])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model
