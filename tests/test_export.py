"""Export: every transformer at opset 11 and 17 with a user checkpoint, matching our own timm model."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import timm
import torch
from conftest import files_in
from safetensors.torch import save_file

from edgezoo.export import to_onnx as export_module
from edgezoo.inputs.preprocess import prepare
from edgezoo.zoo.registry import get_card

TRANSFORMERS = ["fastvit_t8", "fastvit_t12", "fastvit_s12", "fastvit_sa12", "efficientformer_l1", "efficientformer_l3"]


def _reference_model(name: str, seed: int) -> torch.nn.Module:
    """Our own timm model with weights that edgezoo has never seen (a different seed)."""
    torch.manual_seed(seed)
    return timm.create_model(get_card(name).timm_name, pretrained=False).eval()


def _run_onnx(path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def _photo_input(path, model_card: dict) -> np.ndarray:
    """A real photo preprocessed as the artifact's model card says, at the deployed 224 px."""
    mc = model_card
    return prepare(
        path,
        size=(224, 224),
        crop_pct=mc["crop_pct"],
        interpolation=mc["interpolation"],
        mean=mc["mean"],
        std=mc["std"],
    )


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    made = {}
    for i, name in enumerate(TRANSFORMERS):
        model = _reference_model(name, seed=1000 + i)
        path = folder / f"{name}.safetensors"
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
        made[name] = (path, model)
    return made


@pytest.mark.parametrize("opset", [11, 17])
@pytest.mark.parametrize("name", TRANSFORMERS)
def test_export_matches_our_timm_model(cli, tmp_path, checkpoints, photos, name, opset):
    ckpt, reference = checkpoints[name]
    res = cli("export", name, "--weights", ckpt, "--opset", opset, "-o", tmp_path)
    assert res.code == 0, res.err
    onnx_path, card_path = tmp_path / f"{name}.onnx", tmp_path / f"{name}.json"
    assert files_in(tmp_path) == sorted([onnx_path.name, card_path.name])

    model = onnx.load(str(onnx_path))
    assert model.opset_import[0].version == opset
    onnx.checker.check_model(model)
    card = json.loads(card_path.read_text())
    assert card["model"] == name and card["opset"] == opset and card["precision"] == "fp32"
    assert card["weights"]["kind"] == "file" and card["weights"]["path"] == str(ckpt)
    assert card["input"] == {
        "name": "input",
        "shape": [1, 3, 224, 224],
        "layout": "NCHW",
        "dtype": "float32",
        "format": "rgb_normalized",
    }
    assert card["output"]["shape"] == [1, 1000]
    assert card["params"]["pytorch"] == sum(p.numel() for p in reference.parameters())
    # Parameters exclude the channel indices the grouped-conv rewrite adds (FastViT: 4 Gathers).
    rewritten = card["rewrites"]["grouped_conv_to_depthwise"]
    assert len(rewritten) == (4 if name.startswith("fastvit") else 0)
    indices = [t for t in model.graph.initializer if t.name.endswith("/repeat_index")]
    assert len(indices) == len(rewritten)
    params = sum(int(np.prod(t.dims)) for t in model.graph.initializer if t not in indices)
    assert card["params"]["onnx_initializers"] == params
    assert card["params"]["pytorch_reparameterized"] <= card["params"]["pytorch"]
    assert all(r["passed"] for r in card["check"]["results"])
    assert {"torch", "timm", "onnx", "onnxruntime"} <= set(card["versions"])

    mc = card["model_card"]
    for x in (
        np.random.default_rng(7).standard_normal((1, 3, 224, 224), dtype=np.float32),
        _photo_input(photos["chelsea"], mc),
    ):
        with torch.no_grad():
            expected = reference(torch.from_numpy(x)).numpy()
        got = _run_onnx(onnx_path, x)
        assert _cosine(expected, got) > 0.9999
        assert np.abs(expected - got).max() < 1e-3 * max(1.0, np.abs(expected).max())
        assert expected.argmax() == got.argmax()


def test_lite0_real_weights_export_classifies_like_pytorch(cli, tmp_path, photos):
    res = cli("export", "tf_efficientnet_lite0", "--pretrained", "-o", tmp_path)
    assert res.code == 0, res.err
    card = json.loads((tmp_path / "tf_efficientnet_lite0.json").read_text())
    assert card["weights"]["kind"] == "package"
    from edgezoo.zoo.models import build_model

    model, _ = build_model(get_card("tf_efficientnet_lite0"), pretrained=True)
    mc = card["model_card"]
    expected_classes = {"coffee": {967}, "chelsea": {281, 282, 285}}  # espresso; tabby/tiger/Egyptian cat
    for stem, classes in expected_classes.items():
        x = _photo_input(photos[stem], mc)
        with torch.no_grad():
            torch_top = int(model(torch.from_numpy(x)).argmax())
        onnx_top = int(_run_onnx(tmp_path / "tf_efficientnet_lite0.onnx", x).argmax())
        assert torch_top == onnx_top and torch_top in classes, stem


def test_dynamic_batch(cli, tmp_path):
    res = cli("export", "fastvit_t8", "--dynamic-batch", "-o", tmp_path)
    assert res.code == 0, res.err
    out = _run_onnx(tmp_path / "fastvit_t8.onnx", np.zeros((3, 3, 224, 224), np.float32))
    assert out.shape == (3, 1000)
    assert json.loads((tmp_path / "fastvit_t8.json").read_text())["input"]["shape"][0] == "batch"


def _one_in_channel_grouped_convs(model: onnx.ModelProto) -> list[str]:
    """Convs with one input channel and several outputs per group (what the rewrite replaces)."""
    inits = {t.name: t for t in model.graph.initializer}
    found = []
    for node in model.graph.node:
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        w = inits.get(node.input[1]) if node.op_type == "Conv" else None
        if w is not None and group > 1 and w.dims[1] == 1 and w.dims[0] > group:
            found.append(node.name)
    return found


def test_grouped_conv_rewrite_is_exact_and_optional(cli, tmp_path):
    """Default export rewrites FastViT's C -> 2C grouped convs; --no-rewrite keeps them; same logits."""
    assert cli("export", "fastvit_t8", "-o", tmp_path / "rw").code == 0
    res = cli("export", "fastvit_t8", "--no-rewrite", "-o", tmp_path / "plain")
    assert res.code == 0, res.err
    rewritten, plain = (onnx.load(str(tmp_path / d / "fastvit_t8.onnx")) for d in ("rw", "plain"))
    card = json.loads((tmp_path / "rw" / "fastvit_t8.json").read_text())
    assert sorted(card["rewrites"]["grouped_conv_to_depthwise"]) == sorted(_one_in_channel_grouped_convs(plain))
    assert len(_one_in_channel_grouped_convs(plain)) == 4 and _one_in_channel_grouped_convs(rewritten) == []
    plain_card = json.loads((tmp_path / "plain" / "fastvit_t8.json").read_text())
    assert plain_card["rewrites"]["grouped_conv_to_depthwise"] == []
    x = np.random.default_rng(3).standard_normal((1, 3, 224, 224), dtype=np.float32)
    a, b = (_run_onnx(tmp_path / d / "fastvit_t8.onnx", x) for d in ("rw", "plain"))
    assert np.abs(a - b).max() < 1e-4 * max(1.0, float(np.abs(b).max()))


def test_random_weights_are_said(cli, tmp_path):
    res = cli("export", "fastvit_t8", "-o", tmp_path)
    assert res.code == 0 and "weights: random" in res.out
    assert json.loads((tmp_path / "fastvit_t8.json").read_text())["weights"] == {"kind": "random", "seed": 0}


# ---- bad input: one line naming the problem, exit 2, nothing written -------------------------


def _assert_clean_failure(res, tmp_path, *needles: str) -> None:
    assert res.code == 2
    lines = [ln for ln in res.err.splitlines() if ln.strip()]
    assert len(lines) == 1, res.err
    for needle in needles:
        assert needle in lines[0]
    assert files_in(tmp_path / "out") == []


def test_unknown_model(cli, tmp_path):
    res = cli("export", "fastvit_t9", "-o", tmp_path / "out")
    _assert_clean_failure(res, tmp_path, "unknown model 'fastvit_t9'", "fastvit_t8")


def test_corrupt_checkpoint(cli, tmp_path):
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"\x80\x02garbage")
    _assert_clean_failure(
        cli("export", "fastvit_t8", "--weights", bad, "-o", tmp_path / "out"),
        tmp_path,
        str(bad),
        "not a readable checkpoint",
    )


def test_wrong_architecture_checkpoint(cli, tmp_path, checkpoints):
    ckpt, _ = checkpoints["fastvit_t12"]
    res = cli("export", "fastvit_t8", "--weights", ckpt, "-o", tmp_path / "out")
    _assert_clean_failure(res, tmp_path, str(ckpt), "missing keys", "unexpected keys")


@pytest.mark.parametrize("opset", ["7", "99"])
def test_unsupported_opset(cli, tmp_path, opset):
    _assert_clean_failure(
        cli("export", "fastvit_t8", "--opset", opset, "-o", tmp_path / "out"), tmp_path, f"unsupported opset {opset}"
    )


def test_unwritable_output_folder(cli, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    res = cli("export", "fastvit_t8", "-o", blocker / "sub")
    _assert_clean_failure(res, tmp_path, str(blocker / "sub"), "cannot create output folder")


def test_failed_check_writes_nothing(cli, tmp_path, monkeypatch):
    def corrupt(model: onnx.ModelProto) -> onnx.ModelProto:
        first = model.graph.initializer[0]
        arr = onnx.numpy_helper.to_array(first) + 1.0
        first.CopyFrom(onnx.numpy_helper.from_array(arr.astype(np.float32), first.name))
        return model

    monkeypatch.setattr(export_module, "_simplify", corrupt)
    res = cli("export", "fastvit_t8", "-o", tmp_path / "out")
    _assert_clean_failure(res, tmp_path, "ONNX output differs from PyTorch", "nothing written")


def test_existing_artifact_survives_a_failed_export(cli, tmp_path):
    out = tmp_path / "out"
    assert cli("export", "fastvit_t8", "-o", out).code == 0
    before = (out / "fastvit_t8.onnx").read_bytes()
    assert cli("export", "fastvit_t8", "--opset", "5", "-o", out).code == 2
    assert (out / "fastvit_t8.onnx").read_bytes() == before
    assert files_in(out) == ["fastvit_t8.json", "fastvit_t8.onnx"]


def test_artifacts_get_ordinary_file_permissions(cli, tmp_path):
    import os

    mask = os.umask(0o022)
    try:
        assert cli("export", "fastvit_t8", "-o", tmp_path).code == 0
    finally:
        os.umask(mask)
    for name in ("fastvit_t8.onnx", "fastvit_t8.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644
