"""edgezoo on an install without PyTorch (a device that only runs artifacts: PyPI's aarch64 PyTorch is a
CUDA build of several GB): export says in one line what it needs; predict and bench run the artifacts.

Each case runs in a child process where importing torch, torchvision or timm fails, as it does in the
ARM tree of tests/emulate/qemu_arm.py (where the same commands were run on an emulated Cortex-A55).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from edgezoo.quantize.api import quantize_artifact
from edgezoo.quantize.config import load_config

# The child: torch, torchvision and timm unimportable, then the CLI with the given arguments.
_CHILD = (
    "import sys; sys.modules.update(torch=None, torchvision=None, timm=None);"
    " from edgezoo.cli import main; sys.argv = ['edgezoo', *sys.argv[1:]]; main()"
)


def edgezoo_without_pytorch(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", _CHILD, *map(str, args)], capture_output=True, text=True, check=False, timeout=600
    )


@pytest.fixture(scope="module")
def tiny_int8(tiny, photos, tmp_path_factory):
    """The tiny CNN's int8 artifact alone in a folder (no fp32 export beside it)."""
    calib = tmp_path_factory.mktemp("calib")
    for stem in ("chelsea", "coffee", "astronaut"):
        shutil.copy(photos[stem], calib / photos[stem].name)
    out = tmp_path_factory.mktemp("int8")
    return quantize_artifact(tiny, calib, config=load_config("default"), out_dir=out).artifact


def test_export_without_pytorch_is_one_line(tmp_path):
    r = edgezoo_without_pytorch("export", "fastvit_t8", "-o", tmp_path / "out")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and "exporting a model needs PyTorch and timm" in r.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_predict_and_bench_run_an_int8_artifact_without_pytorch(tiny_int8, photos, tmp_path):
    r = edgezoo_without_pytorch("predict", tiny_int8.onnx_path, photos["coffee"], "--engine", "onnxruntime")
    assert r.returncode == 0, r.stderr[-400:]
    out = tmp_path / "bench"
    args = ["--engines", "onnxruntime", "--threads", "1", "--streams", "1", "--duration", "0.2", "--warmup", "0.1"]
    r = edgezoo_without_pytorch("bench", tiny_int8.card_path, *args, "--artifacts-dir", tiny_int8.onnx_path.parent,
                                "-o", out)  # fmt: skip
    assert r.returncode == 0, r.stderr[-400:]
    doc = json.loads((out / "bench.json").read_text())
    assert {row["precision"] for row in doc["results"]} == {"int8"}  # the artifact given; no fp32 export made
    assert all(not row.get("error") and row["latency_ms"]["median"] > 0 for row in doc["results"])
    skipped = [s for s in doc["skipped"] if s["what"].startswith("fp32 export")]
    assert skipped and "not installed here" in skipped[0]["reason"]


def test_eval_runs_an_int8_artifact_without_pytorch(tiny_int8, photos, tmp_path):
    data = tmp_path / "data"  # the "list" format: the tiny CNN's 10 classes are not ImageNet's
    data.mkdir()
    for stem in ("coffee", "chelsea"):
        shutil.copy(photos[stem], data / photos[stem].name)
    (data / "val.txt").write_text(f"{photos['coffee'].name} 0\n{photos['chelsea'].name} 1\n", encoding="utf-8")
    r = edgezoo_without_pytorch("eval", tiny_int8.onnx_path, "--data", data, "--save", tmp_path / "eval.json")
    assert r.returncode == 0, r.stderr[-400:]
    doc = json.loads((tmp_path / "eval.json").read_text())
    (result,) = doc["models"][0]["results"]  # the int8 artifact alone: no float export made for it
    assert result["precision"] == "int8" and result["images"] == 2 and 0 <= result["top1"] <= 100


def test_bench_exports_only_what_its_rows_need(monkeypatch, tmp_path):
    """fp32 rows, peers, or an int8 to make with --calib need the fp32 export; an int8 artifact alone does not."""
    from edgezoo.bench import targets

    calls = []

    def export(model, folder):
        calls.append(model)
        raise ModuleNotFoundError("No module named 'torch'", name="torch")

    monkeypatch.setattr(targets, "find_or_export_fp32", export)
    cases = [  # (precisions, peers, calib) -> exported?
        (("int8",), (), None, False),
        (("int8",), (), tmp_path, True),  # no int8 artifact in the folder: made from the fp32 export
        (("fp32", "int8"), (), None, True),
        (("int8",), ("eager",), None, True),
    ]
    for precisions, peers, calib, exported in cases:
        calls.clear()
        plan = targets.Plan()
        req = targets.PlanRequest(("m",), precisions=precisions, peers=peers, artifacts_dir=tmp_path, calib=calib)
        assert targets._fp32_for(plan, "m", req) is None
        assert bool(calls) is exported
        assert [s["what"] for s in plan.skipped] == (["fp32 export (fp32 rows, peers, quantizing)"] if exported else [])
