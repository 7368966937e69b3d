"""ISA emulation: benchmarks/isa_emulation.py (its GELU what-ifs, the limit check) and tests/emulate/avx2."""

from __future__ import annotations

import importlib.util
import json
import platform
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from conftest import float_model
from onnx import TensorProto, helper, numpy_helper

from edgezoo.host import current_host

_SPEC = importlib.util.spec_from_file_location(
    "isa_emulation", Path(__file__).resolve().parents[1] / "benchmarks" / "isa_emulation.py"
)
isa_emulation = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(isa_emulation)


def _conv_gelu_model(path: Path) -> np.ndarray:
    """Conv -> GELU as PyTorch's exporter writes it (x * 0.5 * (1 + erf(x / sqrt 2))) -> Conv."""
    rng = np.random.default_rng(0)
    w1 = rng.normal(size=(8, 3, 3, 3)).astype(np.float32)
    w2 = rng.normal(size=(4, 8, 1, 1)).astype(np.float32)
    inits = [
        numpy_helper.from_array(w1, "w1"),
        numpy_helper.from_array(w2, "w2"),
        numpy_helper.from_array(np.array(np.sqrt(2.0), np.float32), "sqrt2"),
        numpy_helper.from_array(np.array(1.0, np.float32), "one"),
        numpy_helper.from_array(np.array(0.5, np.float32), "half"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Div", ["c", "sqrt2"], ["d"]),
        helper.make_node("Erf", ["d"], ["e"]),
        helper.make_node("Add", ["e", "one"], ["a"]),
        helper.make_node("Mul", ["c", "a"], ["m"]),
        helper.make_node("Mul", ["m", "half"], ["g"]),
        helper.make_node("Conv", ["g", "w2"], ["y"]),
    ]
    onnx.save(float_model("g", nodes, inits, {"x": [1, 3, 8, 8]}, {"y": [1, 4, 8, 8]}), str(path))
    return w2


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


@pytest.mark.parametrize(
    ("kind", "act"),
    [("relu", lambda c: np.maximum(c, 0.0)), ("sigmoid", lambda c: c / (1.0 + np.exp(-1.702 * c)))],
)
def test_gelu_what_ifs_replace_every_erf_gelu_by_their_activation(tmp_path, kind, act):
    src = tmp_path / "m.onnx"
    _conv_gelu_model(src)
    card = {"model": "m", "sha256": "old"}
    out = isa_emulation._swap_gelu(SimpleNamespace(onnx_path=src, card=card), kind, tmp_path / kind)
    swapped = onnx.load(str(out))
    assert not [n for n in swapped.graph.node if n.op_type == "Erf"]
    x = np.random.default_rng(1).normal(size=(1, 3, 8, 8)).astype(np.float32)
    # The first conv's output, taken from the original graph, through the what-if's activation and
    # the second conv, by hand:
    original = onnx.load(str(src))
    original.graph.output.append(helper.make_tensor_value_info("c", TensorProto.FLOAT, None))
    probe = tmp_path / "probe.onnx"
    onnx.save(original, str(probe))
    conv1 = ort.InferenceSession(str(probe), providers=["CPUExecutionProvider"]).run(["c"], {"x": x})[0]
    w2 = numpy_helper.to_array(next(i for i in swapped.graph.initializer if i.name == "w2"))
    expected = np.einsum("oc,bchw->bohw", w2[:, :, 0, 0], act(conv1))
    np.testing.assert_allclose(_run(out, x), expected, rtol=1e-4, atol=1e-4)
    assert not np.allclose(_run(out, x), _run(src, x), atol=1e-3)  # it did change the model
    written = json.loads(out.with_suffix(".json").read_text())
    assert written["sha256"] != "old" and kind in written["note"]


def test_limited_run_records_kernels_and_says_whether_the_limit_held(tmp_path):
    path = tmp_path / "m.onnx"
    _conv_gelu_model(path)
    ways = [
        {"label": "NNCF default int8", "path": str(path), "hint": "f32"},
        {"label": "OpenVINO float, f32", "path": str(path), "hint": "f32"},
    ]
    run = isa_emulation._summary(isa_emulation._run_child(ways, 1, "AVX2"), "AVX2")
    kernels = {k for ks in run["conv_kernels"].values() for k in ks}
    assert kernels and run["limit_effective"] is True, kernels
    if current_host().has("avx512f"):  # the limit is what moved the kernels off AVX-512 here
        native = isa_emulation._run_child(ways, 1, None)
        assert any("avx512" in k for ks in native["conv_kernels"].values() for k in ks)
    assert set(run["vs_nncf"]) == {"NNCF default int8", "OpenVINO float, f32"}


def test_a_kernel_above_the_limit_is_reported():
    ms = {"NNCF default int8": 2.0, "OpenVINO float, f32": 4.0}
    run = {"ms": ms, "conv_kernels": {"a": {"brgconv_avx512_f32": 1}}}
    summary = isa_emulation._summary(run, "AVX2")
    assert summary["limit_effective"] is False and summary["kernels_above_limit"] == ["brgconv_avx512_f32"]
    assert summary["vs_nncf"]["OpenVINO float, f32"] == pytest.approx(0.5)


@pytest.mark.parametrize(("limit", "isa"), [("AVX2", "avx2"), ("AVX2_VNNI", "avx2-vnni"), ("AVX512_CORE", "avx512")])
def test_candidates_are_the_ones_tune_lists_on_a_host_of_the_limit(limit, isa):
    from edgezoo.host import Host
    from edgezoo.quantize.config import load_config
    from edgezoo.tune.candidates import candidates

    host = Host("limited", "x86_64", isa_emulation.LIMIT_FLAGS[limit])
    assert host.isa_class == isa and not host.bf16  # no bf16 under these limits: no float-leftovers row
    names = [r.name for r in candidates(load_config("fastvit_t8"), host)]
    assert names[0] == "shipped" and not [n for n in names if n.startswith("float-leftovers")]
    assert ("8-bit-weights" in names) == (not host.int8_dot_product)


def test_the_avx2_harness_gives_openvino_an_avx2_hosts_default_precision(tmp_path):
    """tests/emulate/avx2: under the oneDNN limit OpenVINO still reads bf16 from CPUID and cannot
    compile at its default precision; the harness makes it run f32, as an AVX2 host does."""
    import os
    import subprocess
    import sys

    path = tmp_path / "m.onnx"
    _conv_gelu_model(path)
    hint = "INFERENCE_PRECISION_HINT"
    code = (
        f"import openvino as ov; c = ov.Core(); m = c.compile_model(r'{path}', 'CPU', {{'{hint}': 'bf16'}});"
        f" print(m.get_property('{hint}'), c.get_property('CPU', '{hint}'))"
    )
    harness = Path(__file__).parent / "emulate" / "avx2"
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "PYTHONPATH": str(harness)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr[-400:]
    assert out.stdout.split() == ["<Type:", "'float32'>", "<Type:", "'float32'>"]
    if current_host().bf16:  # what the harness is for: without it the limited compile fails here
        env.pop("PYTHONPATH")
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
        assert out.returncode != 0


_QEMU_SPEC = importlib.util.spec_from_file_location("qemu_host", Path(__file__).parent / "emulate" / "qemu_host.py")
qemu_host = importlib.util.module_from_spec(_QEMU_SPEC)
_QEMU_SPEC.loader.exec_module(qemu_host)

# What QEMU 7.2 prints starting as EPYC-Milan (two of its 22 lines, and one that is not a feature).
_QEMU_WARNINGS = """\
qemu-x86_64: warning: TCG doesn't support requested feature: CPUID.01H:ECX.pcid [bit 17]
qemu-x86_64: warning: TCG doesn't support requested feature: CPUID.80000008H:EBX.amd-ssbd [bit 24]
qemu-x86_64: warning: TCG doesn't support requested feature: CPUID.01H:ECX.pcid [bit 17]
qemu-x86_64: warning: something else
"""


def test_qemu_features_it_cannot_translate_are_read_from_its_warnings():
    assert qemu_host.unsupported_features(_QEMU_WARNINGS) == ["amd-ssbd", "pcid"]
    assert qemu_host.unsupported_features("") == []


def test_the_qemu_harness_runs_this_venv_and_its_children_on_an_avx2_only_cpu(tmp_path):
    """tests/emulate/qemu_host.py: the wrapper is sys.executable, so pytest-xdist workers and
    ``python -m edgezoo.cli`` children run emulated too; every library sees AVX2 and no AVX-512."""
    import shutil
    import subprocess

    if shutil.which(qemu_host.QEMU) is None:
        pytest.skip("QEMU user mode is not installed (apt-get install qemu-user)")
    if platform.machine().lower() not in ("x86_64", "amd64") or sys.prefix == sys.base_prefix:
        pytest.skip("the harness wraps this x86 venv's interpreter: run from an x86_64 virtual environment")
    python = qemu_host.make_python(tmp_path / "zen3")
    code = (
        "import json, subprocess, sys; from numpy._core._multiarray_umath import __cpu_features__ as f;"
        " import openvino as ov;"
        " print(json.dumps([sys.executable, f['AVX2'], f['AVX512F'],"
        " ov.Core().get_property('CPU', 'OPTIMIZATION_CAPABILITIES')]))"
    )
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and out.stderr == "", out.stderr[-400:]  # no QEMU warning in the output
    executable, avx2, avx512, caps = json.loads(out.stdout)
    assert executable == str(python) and avx2 and not avx512
    assert "INT8" in caps and "BF16" not in caps  # OpenVINO: an int8-capable host without bf16
    child = (
        "import subprocess, sys;"
        f" print(subprocess.run([sys.executable, '-c', {code!r}], capture_output=True, text=True).stdout)"
    )
    out = subprocess.run([str(python), "-c", child], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and json.loads(out.stdout)[1:3] == [True, False]


_ARM_SPEC = importlib.util.spec_from_file_location("qemu_arm", Path(__file__).parent / "emulate" / "qemu_arm.py")
qemu_arm = importlib.util.module_from_spec(_ARM_SPEC)
_ARM_SPEC.loader.exec_module(qemu_arm)
ARM_TREE = Path.home() / ".cache" / "edgezoo" / "qemu-arm"  # where benchmarks/qemu_fidelity.py --target arm builds it


def test_the_arm_tree_installs_the_deployment_side_without_pytorch():
    reqs = qemu_arm.arm_requirements("torch==2.13.0\ntimm==1.0.31\nonnxruntime==1.31.1  # kernels\n# c\nruff==1\n")
    assert reqs == ["onnxruntime==1.31.1"]
    root = Path(__file__).parents[1]
    shipped = qemu_arm.arm_requirements((root / "requirements.txt").read_text())
    assert {"onnxruntime", "openvino", "nncf", "numpy", "pytest"} <= {r.split("==")[0] for r in shipped}
    assert not [r for r in shipped if r.startswith(("torch", "timm"))]
    # requirements-device.txt (what a board installs) holds requirements.txt's pins for the device side.
    device = [x for x in (root / "requirements-device.txt").read_text().splitlines() if x and not x.startswith("#")]
    assert device == qemu_arm.device_requirements((root / "requirements.txt").read_text())
    assert not [r for r in device if r.startswith(("torch", "timm", "pytest"))]
    tags = qemu_arm.platform_options()[1::2]
    # The pinned wheels' own tags: onnx (2_28), onnxruntime (2_28), openvino (2_35), numpy (2_27).
    assert {f"manylinux_2_{m}_aarch64" for m in (27, 28, 35)} <= set(tags) and "manylinux_2_37_aarch64" not in tags
    text = qemu_arm.wrapper_text("/q/qemu-aarch64", "cortex-a55", Path("/t/root"), Path("/t/site"))
    assert "-cpu cortex-a55 -L /t/root" in text and "PYTHONPATH=/t/site:" in text and '-0 "$0"' in text


def test_the_arm_harness_runs_edgezoo_on_an_emulated_cortex_a55():
    """tests/emulate/qemu_arm.py, where its tree was built: edgezoo reads QEMU's own aarch64 cpuinfo
    (QEMU 8+) and OpenVINO's ARM plugin defaults to f16, as the host's ``float16`` says."""
    import subprocess

    python = ARM_TREE / "bin" / "python"
    if not python.exists():
        pytest.skip(f"no ARM tree in {ARM_TREE} (build: python tests/emulate/qemu_arm.py DIR; needs qemu-user 8+)")
    code = (
        "import json, platform, openvino as ov; from edgezoo.host import current_host as h;"
        " print(json.dumps([platform.machine(), h().model, h().isa_class, h().float16,"
        " ov.Core().get_property('CPU', 'INFERENCE_PRECISION_HINT').get_type_name()]))"
    )
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr[-400:]
    arch, model, isa, float16, ov_default = json.loads(out.stdout.strip().splitlines()[-1])
    assert arch == "aarch64" and isa.startswith("arm-neon")
    assert float16 is (ov_default == "f16")
    if "-cpu cortex-a55" in python.read_text():
        assert (model, isa, ov_default) == ("Cortex-A55", "arm-neon-dotprod", "f16")
