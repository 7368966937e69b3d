"""``edgezoo rdk`` workspaces and RDK YAMLs read as quantization configs (docs/rdk.md).

The workspace checks restate the toolchain's documented rules (shared notes rdk_toolchain.md): opset
10/11, ir_version <= 7, one static 1x3xHxW input, four YAML groups with their required keys, the zoo's
value formats, node_info names that exist in the model, raw float32 CHW calibration files.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import yaml
from conftest import files_in

from edgezoo.errors import EdgezooError
from edgezoo.inputs.preprocess import find_images, load_image, normalize, resize_crop
from edgezoo.quantize.config import load_config
from edgezoo.quantize.graph import quantize_graph, resolve_overrides
from edgezoo.quantize.rdk_yaml import from_rdk, to_rdk
from edgezoo.zoo.registry import get_card

GROUPS = ("model_parameters", "input_parameters", "calibration_parameters", "compiler_parameters")
REQUIRED = {
    "model_parameters": ("onnx_model", "march", "output_model_file_prefix"),
    "input_parameters": ("input_type_train", "input_layout_train", "input_type_rt", "norm_type", "mean_value"),
    "calibration_parameters": ("calibration_type",),
    "compiler_parameters": ("compile_mode", "optimize_level"),
}
WORKSPACE = {"01_check.sh", "03_build.sh", "README.md", "calibration_data_rgb_f32"}


@pytest.fixture(scope="module")
def calib_dir(tmp_path_factory, photos) -> Path:
    """Five real photos, two of them in a subfolder under a clashing name."""
    folder = tmp_path_factory.mktemp("calib")
    (folder / "sub").mkdir()
    names = ["grace_hopper", "chelsea", "coffee", "astronaut"]
    for name in names:
        (folder / photos[name].name).write_bytes(photos[name].read_bytes())
    (folder / "sub" / "coffee.jpg").write_bytes(photos["rocket"].read_bytes())  # same stem as coffee.png
    return folder


# --------------------------------------------------------------------------------------------
# The workspace, checked against the toolchain's rules
# --------------------------------------------------------------------------------------------


def _channels(text: str) -> list[float]:
    assert isinstance(text, str) and len(text.split()) == 3, f"expected 3 space-separated numbers: {text!r}"
    return [float(v) for v in text.split()]


def check_workspace(folder: Path, model: str, march: str, calib: Path) -> dict:
    """Every documented rule the toolchain's checker and builder apply that can be checked here."""
    card = get_card(model)
    h, w = card.img_size
    assert set(files_in(folder)) == WORKSPACE | {f"{model}.onnx", f"{model}_config.yaml"}
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")], "temporary folder left"

    # ONNX: opset 11, ir_version <= 7, one static NCHW batch-1 input.
    m = onnx.load(folder / f"{model}.onnx")
    onnx.checker.check_model(m, full_check=True)
    assert [(o.domain, o.version) for o in m.opset_import] == [("", 11)]
    assert m.ir_version <= 7
    inits = {i.name for i in m.graph.initializer}
    inputs = [i for i in m.graph.input if i.name not in inits]
    assert len(inputs) == 1
    dims = inputs[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [1, 3, h, w] and not any(d.dim_param for d in dims)
    names = {n.name for n in m.graph.node}

    # YAML: the four groups, the required keys, the value formats.
    text = (folder / f"{model}_config.yaml").read_text()
    cfg = yaml.safe_load(text)
    assert list(cfg) == list(GROUPS)
    for group, keys in REQUIRED.items():
        assert all(k in cfg[group] for k in keys), (group, keys)
    mp, ip, cp, comp = (cfg[g] for g in GROUPS)
    assert (folder / mp["onnx_model"]).resolve() == (folder / f"{model}.onnx").resolve()
    assert mp["march"] == march
    assert ip["input_type_rt"] == "nv12" and ip["input_type_train"] == "rgb" and ip["input_layout_train"] == "NCHW"
    assert ip["norm_type"] == "data_mean_and_scale" and ip["input_shape"] == f"1x3x{h}x{w}"
    assert ip["input_space_and_range"] in ("regular", "bt601_video")
    np.testing.assert_allclose(_channels(ip["mean_value"]), [255 * m_ for m_ in card.mean], rtol=1e-6)
    np.testing.assert_allclose(_channels(ip["scale_value"]), [1 / (255 * s) for s in card.std], rtol=1e-6)
    assert cp["cal_data_dir"] == "./calibration_data_rgb_f32" and cp["cal_data_type"] == "float32"
    assert cp["calibration_type"] in ("default", "max", "kl")
    assert comp["compile_mode"] == "latency" and comp["optimize_level"] == "O3"
    assert not re.search(r"^\s*ON\s*:", text, re.M), "an unquoted ON key reads as a boolean"
    softmax = {n.name for n in m.graph.node if n.op_type == "Softmax"}
    if march == "bayes-e":
        info = mp.get("node_info", {})
        assert softmax <= set(info), "every Softmax must be pinned to int16 on the BPU"
        assert set(info) <= names, f"node_info names not in the ONNX: {set(info) - names}"
        assert all(v == {"ON": "BPU", "InputType": "int16", "OutputType": "int16"} for v in info.values())
        assert text.count("'ON': 'BPU'") == len(info)
    else:
        assert "node_info" not in mp and "optimization" not in cp
        assert re.search(r"#.*no node_info", text)

    # Calibration data: raw float32 CHW RGB 0..255 of the card's resize + centre crop.
    sources = {p.stem: p for p in reversed(find_images(calib))}  # first file of a stem wins
    files = sorted((folder / "calibration_data_rgb_f32").iterdir())
    assert len(files) == len(find_images(calib))
    session = ort.InferenceSession(str(folder / f"{model}.onnx"), providers=["CPUExecutionProvider"])
    for f in files:
        assert f.suffix == ".rgb" and f.stat().st_size == 3 * h * w * 4
        data = np.fromfile(f, dtype=np.float32).reshape(3, h, w)
        src = sources.get(f.stem) or calib / "sub" / "coffee.jpg"  # coffee_2: the clashing stem
        crop = resize_crop(load_image(src), (h, w), card.crop_pct, card.interpolation)
        np.testing.assert_array_equal(data, crop.transpose(2, 0, 1).astype(np.float32))
    # The YAML's mean/scale applied to a calibration file give the model's input, as the board does.
    data = np.fromfile(files[0], dtype=np.float32).reshape(1, 3, h, w)
    mean = np.array(_channels(ip["mean_value"]), np.float32).reshape(1, 3, 1, 1)
    scale = np.array(_channels(ip["scale_value"]), np.float32).reshape(1, 3, 1, 1)
    ours = normalize(data[0].transpose(1, 2, 0).astype(np.uint8), card.mean, card.std)
    np.testing.assert_allclose((data - mean) * scale, ours, atol=1e-4)
    assert np.argmax(session.run(None, {inputs[0].name: (data - mean) * scale})[0]) >= 0

    # Scripts: executable, valid bash, the documented commands.
    for script, command in (
        ("01_check.sh", f"hb_mapper checker --model-type onnx --model ./{model}.onnx --march {march}"),
        ("03_build.sh", f"hb_mapper makertbin --config ./{model}_config.yaml --model-type onnx"),
    ):
        path = folder / script
        assert os.access(path, os.X_OK) and command in path.read_text()
        assert subprocess.run(["bash", "-n", str(path)], check=False).returncode == 0
    readme = (folder / "README.md").read_text()
    assert "hrt_model_exec perf" in readme and "hobot_dnn" in readme and mp["output_model_file_prefix"] in readme
    return cfg


def test_workspace_for_x3(cli, calib_dir, tmp_path):
    """A small timm ViT (6 Softmax nodes) on bernoulli2: int8 only, no node_info, the YAML says why."""
    res = cli("rdk", "test_vit", "--calib", calib_dir, "--march", "bernoulli2", "-o", tmp_path)
    assert res.code == 0, res.err
    cfg = check_workspace(tmp_path / "test_vit", "test_vit", "bernoulli2", calib_dir)
    assert cfg["calibration_parameters"]["calibration_type"] == "max"  # default.yaml: minmax
    assert "coffee_2.rgb" in files_in(tmp_path / "test_vit" / "calibration_data_rgb_f32")
    # A second run refuses to overwrite; --force replaces the folder in one step.
    again = cli("rdk", "test_vit", "--calib", calib_dir, "--march", "bernoulli2", "-o", tmp_path)
    assert again.code == 2 and "already exists" in again.err
    forced = cli("rdk", "test_vit", "--calib", calib_dir, "--num-calib", "2", "--force", "-o", tmp_path)
    assert forced.code == 0, forced.err
    assert len(files_in(tmp_path / "test_vit" / "calibration_data_rgb_f32")) == 2
    assert files_in(tmp_path) == ["test_vit"]


@pytest.mark.slow
@pytest.mark.parametrize("model", ["fastvit_sa12", "efficientformer_l1"])
def test_workspace_for_x5(cli, calib_dir, tmp_path, model):
    res = cli("rdk", model, "--calib", calib_dir, "-o", tmp_path)
    assert res.code == 0, res.err
    cfg = check_workspace(tmp_path / model, model, "bayes-e", calib_dir)
    info = cfg["model_parameters"]["node_info"]
    assert len(info) == {"fastvit_sa12": 2, "efficientformer_l1": 1}[model]  # findings.md's Softmax counts
    if model == "efficientformer_l1":  # the name the zoo's EfficientFormer_l1_config.yaml pins
        assert "/stages/stages.3/blocks/blocks.4/token_mixer/Softmax" in info
    else:  # the zoo's FastViT_SA12_config.yaml names Apple's modules: they resolve to this export's nodes
        onnx_model = onnx.load(tmp_path / model / f"{model}.onnx")
        cfg = load_config(_write(tmp_path / "FastViT_SA12_config.yaml", _zoo_yaml(nodes=tuple(SA12_APPLE))))
        assert resolve_overrides(onnx_model, cfg) == {name: "int16" for name in SA12_APPLE.values()}
        written = to_rdk(cfg, get_card(model), onnx_model, onnx_file=f"{model}.onnx")
        assert set(written.node_info) == set(SA12_APPLE.values()) and not written.dropped


# The six nodes the zoo's FastViT_SA12_config.yaml pins (Apple ml-fastvit names) and timm's names for them.
SA12_APPLE = {
    "/network.7/network.7.0/token_mixer/Softmax": "/stages.3/blocks/blocks.0/token_mixer/Softmax",
    "/network.7/network.7.1/token_mixer/Softmax": "/stages.3/blocks/blocks.1/token_mixer/Softmax",
    "/network.2/network.2.0/token_mixer/reparam_conv/Conv": "/stages.1/blocks/blocks.0/token_mixer/reparam_conv/Conv",
    "/patch_embed/patch_embed.0/activation/Mul_1": "/stem/stem.0/act/Mul_1",
    "/patch_embed/patch_embed.1/reparam_conv/Conv": "/stem/stem.1/reparam_conv/Conv",
    "/patch_embed/patch_embed.1/activation/Mul_1": "/stem/stem.1/act/Mul_1",
}


def test_apple_fastvit_names_translate_by_the_exports_own_layout():
    """network.N counts each stage's downsample, pos_emb and blocks, as the export's stages show them."""
    from edgezoo.quantize.node_names import translate

    timm_names = {
        "/stem/stem.1/act/Mul_1",
        "/stages.0/blocks/blocks.1/mlp/conv/conv/Conv",
        "/stages.1/downsample/proj/proj.1/act/Mul_1",
        "/stages.1/blocks/blocks.0/Add",
        "/stages.2/downsample/proj/proj.0/reparam_conv/Conv",
        "/stages.2/pos_emb/reparam_conv/Conv",
        "/stages.2/blocks/blocks.3/token_mixer/Softmax",
    }
    assert translate("/patch_embed/patch_embed.1/activation/Mul_1", timm_names) == "/stem/stem.1/act/Mul_1"
    assert translate("/network.0/network.0.1/convffn/conv/conv/Conv", timm_names) == (
        "/stages.0/blocks/blocks.1/mlp/conv/conv/Conv"
    )
    assert translate("/network.1/proj/proj.1/activation/Mul_1", timm_names) == (
        "/stages.1/downsample/proj/proj.1/act/Mul_1"
    )
    assert translate("/network.2/network.2.0/Add", timm_names) == "/stages.1/blocks/blocks.0/Add"
    assert translate("/network.4/reparam_conv/Conv", timm_names) == "/stages.2/pos_emb/reparam_conv/Conv"
    assert translate("/network.5/network.5.3/token_mixer/Softmax", timm_names) == (
        "/stages.2/blocks/blocks.3/token_mixer/Softmax"
    )
    assert translate("/network.5/network.5.9/token_mixer/Softmax", timm_names) is None  # no such block
    assert translate("/network.9/x/Conv", timm_names) is None
    assert translate("/stem/stem.1/act/Mul_1", timm_names) is None  # already timm's: nothing to translate


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--calib", "{tmp}/no_such_dir"], "no such folder"),
        (["--calib", "{calib}", "--march", "bayes"], "unknown march 'bayes'"),
        (["--calib", "{calib}", "--config", "{tmp}/bad.yaml"], "not valid YAML"),
        (["--calib", "{calib}", "--config", "{tmp}/x3_int16.yaml"], "int16 (node_info, set_all_nodes_int16) is not"),
        (["--calib", "{calib}", "--num-calib", "0"], "--num-calib must be positive"),
    ],
)
def test_bad_input_is_one_line_exit_2_nothing_written(cli, calib_dir, tmp_path, args, message):
    (tmp_path / "bad.yaml").write_text("model_parameters: [1, 2\n")
    (tmp_path / "x3_int16.yaml").write_text(_zoo_yaml(march="bernoulli2", optimization="set_all_nodes_int16"))
    out = tmp_path / "out"
    args = [a.format(tmp=tmp_path, calib=calib_dir) for a in args]
    res = cli("rdk", "test_vit", *args, "-o", out)
    assert res.code == 2 and message in res.err, res.err
    assert res.err.startswith("edgezoo: error: ") and res.err.count("\n") == 1
    assert files_in(out) == []


def test_failure_while_writing_leaves_nothing(cli, calib_dir, tmp_path, monkeypatch):
    import edgezoo.rdk.workspace as ws

    def broken(crop: np.ndarray) -> bytes:
        raise EdgezooError("disk full (simulated)")

    monkeypatch.setattr(ws, "calibration_bytes", broken)
    res = cli("rdk", "test_vit", "--calib", calib_dir, "-o", tmp_path)
    assert res.code == 2 and "disk full" in res.err
    assert files_in(tmp_path) == []


# --------------------------------------------------------------------------------------------
# RDK YAML -> edgezoo config
# --------------------------------------------------------------------------------------------


def _zoo_yaml(
    march: str = "bayes-e",
    nodes: tuple[str, ...] = (),
    calibration: str = "default",
    percentile: float | None = None,
    optimization: str | None = None,
    rt: str = "nv12",
    extra_cal: str = "",
) -> str:
    """A board config written the way the model zoo writes them (flow-style node_info, quoted 'ON')."""
    info = ",\n".join(
        f"    \"{n}\": {{\n      'ON': 'BPU',\n      'InputType': 'int16',\n      'OutputType': 'int16'\n    }}"
        for n in nodes
    )
    node_info = f"  node_info: {{\n{info}\n  }}\n" if nodes else ""
    cal = f"  calibration_type: '{calibration}'\n"
    if percentile is not None:
        cal += f"  max_percentile: {percentile}\n"
    if optimization:
        cal += f'  optimization: "{optimization}"\n'
    return (
        "# Copyright notice and comments as in the zoo\n\n"
        "model_parameters:\n"
        "  onnx_model: './model.onnx'\n"
        f'  march: "{march}"\n'
        "  layer_out_dump: False\n"
        "  working_dir: 'Model_160x160_nv12_int16'\n"
        "  output_model_file_prefix: 'Model_160x160_nv12'\n"
        f"{node_info}\n"
        "  debug_mode: 'dump_calibration_data'\n\n"
        "input_parameters:\n"
        '  input_name: ""\n'
        f"  input_type_rt: '{rt}'\n"
        "  input_type_train: 'rgb'\n"
        "  input_layout_train: 'NCHW'\n"
        "  input_shape: ''\n"
        "  norm_type: 'data_mean_and_scale'\n"
        "  mean_value: 127.5 127.5 127.5\n"
        "  scale_value: 0.00784314 0.00784314 0.00784314\n\n"
        "calibration_parameters:\n"
        "  cal_data_dir: './calibration_data_rgb_f32'\n"
        "  cal_data_type: 'float32'\n"
        f"{cal}{extra_cal}\n"
        "compiler_parameters:\n"
        "  compile_mode: 'latency'\n"
        "  debug: False\n"
        "  optimize_level: 'O3'\n"
    )


SOFTMAX = "/blocks/blocks.5/attn/Softmax"
FC1 = "/blocks/blocks.0/attn/MatMul"  # q @ k
# What docs/rdk.md's table says each zoo YAML means, written as an edgezoo config by hand.
_ENGINE = "engine: {runtime: onnxruntime, quantizer: onnxruntime, activations: int8, quantize_op_types: null}\n"
_INPUT = "input: {type: nv12, range: full, mean: [127.5, 127.5, 127.5], scale: [0.00784314, 0.00784314, 0.00784314]}\n"
CASES = {
    "zoo_l1_style": (
        {"nodes": (SOFTMAX,), "optimization": "set_all_nodes_int16"},
        "calibration: {count: 100, method: mse}\n" + f"precision: {{default: int16, nodes: {{'{SOFTMAX}': int16}}}}\n",
    ),
    "max_percentile_int16_softmax": (
        {"nodes": (SOFTMAX,), "calibration": "max", "percentile": 0.99995},
        "calibration: {count: 100, method: percentile, percentile: 99.995}\n"
        + f"precision: {{nodes: {{'{SOFTMAX}': int16}}}}\n",
    ),
    "kl_run_on_cpu": (
        {"calibration": "kl", "extra_cal": f"  run_on_cpu: '{FC1}'\n"},
        "calibration: {count: 100, method: entropy}\n" + f"precision: {{nodes: {{'{FC1}': float}}}}\n",
    ),
    "plain_max_x3": (
        {"march": "bernoulli2", "calibration": "max"},
        "calibration: {count: 100, method: minmax}\n",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_zoo_yaml_translates_to_the_equivalent_edgezoo_config(tmp_path, case):
    kwargs, edgezoo_text = CASES[case]
    rdk = load_config(_write(tmp_path / "Model_config.yaml", _zoo_yaml(**kwargs)))
    ours = load_config(_write(tmp_path / "ours.yaml", _INPUT + edgezoo_text + _ENGINE))
    for section in ("input", "calibration", "precision", "engine"):
        assert rdk.data[section] == ours.data[section], section
    assert "estimate" in rdk.data["rdk"]["note"] and rdk.source.endswith("Model_config.yaml")


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def vit(tmp_path_factory, calib_dir):
    """test_vit exported as ``edgezoo export`` does (opset 17), and calibration/held-out tensors."""
    from edgezoo.export.to_onnx import export

    card = get_card("test_vit")
    art, _ = export(card, out_dir=tmp_path_factory.mktemp("vit"))
    tensors = [
        normalize(resize_crop(load_image(p), card.img_size, card.crop_pct, card.interpolation), card.mean, card.std)
        for p in find_images(calib_dir)
    ]
    return onnx.load(art.onnx_path), tensors[:3], tensors[3:]


@pytest.mark.parametrize("case", ["zoo_l1_style", "max_percentile_int16_softmax", "kl_run_on_cpu"])
def test_zoo_yaml_quantizes_like_the_equivalent_config(vit, tmp_path, case):
    """Same QDQ graph, same outputs; and the RDK settings really took effect (16-bit tensors, float nodes)."""
    from edgezoo.quantize.fidelity import quantized_activations

    model, calib, held = vit
    kwargs, edgezoo_text = CASES[case]
    graphs = []
    for name, text in (("Model_config.yaml", _zoo_yaml(**kwargs)), ("ours.yaml", _INPUT + edgezoo_text + _ENGINE)):
        cfg = load_config(_write(tmp_path / name, text))
        graphs.append(quantize_graph(model, calib, cfg, resolve_overrides(model, cfg)))
    a, b = graphs
    assert [(n.op_type, list(n.input), list(n.output)) for n in a.graph.node] == [
        (n.op_type, list(n.input), list(n.output)) for n in b.graph.node
    ]
    assert {i.name: i.SerializeToString() for i in a.graph.initializer} == {
        i.name: i.SerializeToString() for i in b.graph.initializer
    }
    runs = [ort.InferenceSession(g.SerializeToString(), providers=["CPUExecutionProvider"]) for g in graphs]
    for x in held:
        np.testing.assert_array_equal(runs[0].run(None, {"input": x})[0], runs[1].run(None, {"input": x})[0])
    bits = {p.tensor: p.bits for p in quantized_activations(a)}
    softmax_out = next(n.output[0] for n in model.graph.node if n.name == SOFTMAX)
    if case == "zoo_l1_style":
        assert set(bits.values()) == {16}
    elif case == "max_percentile_int16_softmax":
        assert bits[softmax_out] == 16 and 8 in bits.values()
    else:  # run_on_cpu: the node reads and writes float tensors, no Q/DQ pair next to it
        producer = {o: n.op_type for n in a.graph.node for o in n.output}
        readers = [n.op_type for n in a.graph.node for o in next(n for n in a.graph.node if n.name == FC1).output
                   if o in n.input]  # fmt: skip
        fc1 = next(n for n in a.graph.node if n.name == FC1)
        assert all(producer.get(i) != "DequantizeLinear" for i in fc1.input) and "QuantizeLinear" not in readers
        assert 8 in bits.values()


def test_unknown_node_is_one_line_with_the_closest_names(cli, vit, tmp_path):
    model, _, _ = vit
    cfg = load_config(_write(tmp_path / "c.yaml", _zoo_yaml(nodes=("/network.7/network.7.0/attn/Softmax",))))
    with pytest.raises(EdgezooError) as err:
        resolve_overrides(model, cfg)
    msg = str(err.value)
    assert "c.yaml" in msg and "'/network.7/network.7.0/attn/Softmax' is not in the model's graph" in msg
    assert "closest names: /blocks/blocks." in msg and "\n" not in msg


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('march: "bayes-e"', 'march: "bayes-x"'), "model_parameters.march: 'bayes-x' is not one of"),
        (("input_type_rt: 'nv12'", "input_type_rt: 'gray'"), "input_type_rt: 'gray' is not one of"),
        (("input_type_train: 'rgb'", "input_type_train: 'bgr'"), "edgezoo's exports take rgb"),
        (("calibration_type: 'default'", "calibration_type: 'skip'"), "no PTQ recipe"),
        (("mean_value: 127.5 127.5 127.5", "mean_value: a b c"), "mean_value: expected numbers"),
        (("compiler_parameters:", "compiler_params:"), "missing group 'compiler_parameters'"),
    ],
)
def test_bad_rdk_yaml_names_file_and_key(tmp_path, change, message):
    path = _write(tmp_path / "bad.yaml", _zoo_yaml().replace(*change))
    with pytest.raises(EdgezooError) as err:
        load_config(path)
    assert message in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


# --------------------------------------------------------------------------------------------
# edgezoo config -> RDK YAML -> edgezoo config
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["fastvit_sa12", "efficientformer_l1", "tf_efficientnet_lite0", "default"])
def test_written_yaml_reads_back_to_the_same_recipe(vit, name):
    """What survives the trip: input, mean/scale, range, calibration method (and percentile); every
    higher-precision node comes back as int16, since int16 is the BPU's highest precision."""
    model, _, _ = vit
    card = get_card("test_vit")
    cfg = load_config(name)
    written = to_rdk(cfg, card, model, onnx_file="test_vit.onnx")
    back = from_rdk(yaml.safe_load(written.text), "written.yaml")
    want_type = "nv12" if cfg.input["type"] == "float" else cfg.input["type"]
    assert back.input["type"] == want_type and back.input["range"] == cfg.input["range"]
    mean = cfg.input["mean"] or [255 * m for m in card.mean]
    np.testing.assert_allclose(back.input["mean"], mean, rtol=1e-7)
    assert back.calibration["method"] == cfg.calibration["method"]
    assert back.precision["nodes"] == {n: "int16" for n in written.node_info}
    softmax = [n.name for n in model.graph.node if n.op_type == "Softmax"]
    assert softmax and set(softmax) <= set(written.node_info)


@pytest.mark.slow
def test_board_recipe_is_recorded_and_eval_calls_it_an_estimate(cli, calib_dir, photos, tmp_path):
    """Real-weights lite0 (mean = std = 0.5, as the YAML's 127.5 / 0.00784314 say) quantized with a zoo-style
    YAML: the card keeps the translated recipe, and eval's int8 row says it estimates the board's."""
    import json
    import shutil

    from edgezoo.evaluate.datasets import imagenet_synsets

    board = _write(tmp_path / "Lite0_config.yaml", _zoo_yaml(calibration="max", percentile=0.9999))
    out = tmp_path / "artifacts"
    res = cli("quantize", "tf_efficientnet_lite0", "--pretrained", "--config", board, "--calib", calib_dir, "-o", out)
    assert res.code == 0, res.err
    card = json.loads((out / "tf_efficientnet_lite0.int8.json").read_text())
    recipe = card["quantization"]["config"]
    assert recipe["rdk"]["march"] == "bayes-e" and recipe["calibration"]["method"] == "percentile"
    assert card["input"]["format"] == "nv12" and card["quantization"]["config_file"] == str(board)
    data = tmp_path / "data"
    for stem, cls in (("coffee", 967), ("grace_hopper", 400)):
        (data / imagenet_synsets()[cls]).mkdir(parents=True)
        shutil.copy(photos[stem], data / imagenet_synsets()[cls] / photos[stem].name)
    r = cli("eval", "tf_efficientnet_lite0", "--pretrained", "--data", data, "-o", out, "--json")
    assert r.code == 0, r.err
    notes = {x["precision"]: x["note"] for m in json.loads(r.out)["models"] for x in m["results"]}
    assert notes["fp32"] is None and "estimate" in notes["int8"]
    printed = cli("eval", "tf_efficientnet_lite0", "--pretrained", "--data", data, "-o", out)
    assert "int8: estimate" in printed.out


def test_workspace_from_an_artifact_rebuilds_the_same_weights(cli, vit, calib_dir, tmp_path):
    """An opset-17 float export is rebuilt from the weights its card names (here: seeded random) at opset 11."""
    from edgezoo.export.to_onnx import export

    art, _ = export(get_card("test_vit"), out_dir=tmp_path / "art")
    refused = cli("rdk", art.onnx_path, "--pretrained", "--calib", calib_dir, "-o", tmp_path / "ws")
    assert refused.code == 2 and "apply to a model name" in refused.err and files_in(tmp_path / "ws") == []
    res = cli("rdk", art.card_path, "--calib", calib_dir, "--num-calib", "1", "-o", tmp_path / "ws")
    assert res.code == 0, res.err
    rebuilt = tmp_path / "ws" / "test_vit" / "test_vit.onnx"
    assert onnx.load(rebuilt).opset_import[0].version == 11
    x = np.random.default_rng(0).standard_normal((1, 3, 160, 160), dtype=np.float32)
    got = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0] for p in
           (art.onnx_path, rebuilt)]  # fmt: skip
    np.testing.assert_allclose(got[0], got[1], rtol=1e-4, atol=1e-4)


def test_quantize_with_a_board_yaml_refuses_bad_files_and_unknown_nodes(cli, calib_dir, tmp_path):
    """One line, exit 2, nothing written: a bad board YAML before any export, an unknown node name after it."""
    bad = _write(tmp_path / "bad.yaml", _zoo_yaml(calibration="skip"))
    res = cli("quantize", "test_vit", "--config", bad, "--calib", calib_dir, "-o", tmp_path / "out")
    assert res.code == 2 and "no PTQ recipe" in res.err and res.err.count("\n") == 1
    unknown = _write(tmp_path / "unknown.yaml", _zoo_yaml(nodes=("/blocks/blocks.5/attn/Softmaxx",)))
    res = cli("quantize", "test_vit", "--config", unknown, "--calib", calib_dir, "-o", tmp_path / "out")
    assert res.code == 2 and res.err.strip().count("\n") == 0, res.err  # the export's bar leaves a blank line
    assert "'/blocks/blocks.5/attn/Softmaxx' is not in the model's graph" in res.err
    assert "closest names: /blocks/blocks.5/attn/Softmax" in res.err
    assert files_in(tmp_path / "out") == []


@pytest.mark.parametrize(
    ("text", "calibration"),
    [
        (
            "calibration: {method: percentile, percentile: 99.995}\n",
            {"calibration_type": "max", "max_percentile": 0.99995},
        ),
        ("calibration: {method: entropy}\nprecision: {default: int16}\n", {"calibration_type": "kl"}),
    ],
)
def test_written_percentile_kl_int16_and_video_range_read_back(vit, tmp_path, text, calibration):
    model, _, _ = vit
    cfg = load_config(_write(tmp_path / "c.yaml", "input: {type: nv12, range: video}\n" + text))
    x5 = to_rdk(cfg, get_card("test_vit"), model, onnx_file="m.onnx")
    cal = x5.data["calibration_parameters"]
    assert {k: cal[k] for k in calibration} == calibration
    assert x5.data["input_parameters"]["input_space_and_range"] == "bt601_video"
    int16_all = cfg.precision["default"] == "int16"
    assert cal.get("optimization") == ("set_all_nodes_int16" if int16_all else None)
    back = from_rdk(x5.data, "x5.yaml")
    assert back.calibration["method"] == cfg.calibration["method"] and back.input["range"] == "video"
    assert (
        back.calibration["percentile"] == cfg.calibration["percentile"]
        and back.precision["default"] == (cfg.precision["default"])
    )
    x3 = to_rdk(cfg, get_card("test_vit"), model, onnx_file="m.onnx", march="bernoulli2")
    assert "optimization" not in x3.data["calibration_parameters"] and "node_info" not in x3.data["model_parameters"]
    assert ("not available on bernoulli2" in x3.text) == int16_all
