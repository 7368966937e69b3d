"""The family notebooks: up to date with notebooks/build.py, and they run offline in a clean kernel."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def _builder():
    spec = importlib.util.spec_from_file_location("notebook_build", NOTEBOOKS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["fastvit", "efficientformer"])
def test_committed_notebook_matches_its_builder(name):
    built = _builder().build(name)
    committed = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    assert [c.source for c in committed.cells] == [c.source for c in built.cells], "run python notebooks/build.py"
    assert all(not c.get("outputs") for c in committed.cells if c.cell_type == "code")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fastvit", "efficientformer"])
def test_notebook_runs_offline_in_a_clean_kernel(name, tmp_path):
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    # A clean environment: only this checkout on the path, a fresh home and cache, no hub token.
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT / "src"),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "HF_HUB_OFFLINE": "1",
    }
    client = NotebookClient(nb, kernel_name="python3", timeout=240, resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env=env)  # raises CellExecutionError on any failing cell
    streams = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert f"edgezoo 0.1.0 from {ROOT / 'src' / 'edgezoo'}" in streams  # this checkout, not another install
    assert "967  espresso" in streams  # real weights, real photo
    assert ".int8.onnx int8 engine" in streams
    assert streams.count("weights): ") >= 5 and "openvino fp32" in streams
    assert len(images) == 2  # the photo and the latency figure
