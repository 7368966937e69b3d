"""Write the family notebooks (fastvit.ipynb, efficientformer.ipynb) from one template.

The notebooks mirror the RDK model zoo's test notebooks: export -> quantize -> predict on a photo ->
a quick latency figure. They differ only in the data in NOTEBOOKS, so they are generated rather than
edited by hand: ``python notebooks/build.py`` (the test suite checks that they are up to date). The
cell code below is kept ruff-formatted, so ``ruff format`` leaves the notebooks unchanged.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

# One entry per notebook: the family, the small model it runs, and the bigger ones it mentions.
NOTEBOOKS = {
    "fastvit": {"title": "FastViT", "model": "fastvit_t8", "others": "fastvit_t12, fastvit_s12, fastvit_sa12"},
    "efficientformer": {"title": "EfficientFormer", "model": "efficientformer_l1", "others": "efficientformer_l3"},
}

INTRO = (
    "# {title} on any machine: export -> quantize -> predict -> latency\n\n"
    "The deployment test of the RDK model zoo, with `{model}` (swap in {others}). Everything runs offline on a "
    "CPU. timm's hub weights need a network; without them the model has random weights and its classes mean "
    "nothing, so the prediction step also runs `tf_efficientnet_lite0`, whose real ImageNet weights ship in a "
    "PyPI package. Set `PRETRAINED = True` where the hub is reachable."
)
QUANTIZE_NOTE = (
    "## 2. Quantize to INT8 (calibrated on real photos)\n\n"
    "Uses `edgezoo.quantize.api` when this edgezoo has it; otherwise the step is skipped, says so, and the float "
    "artifact stands in for the INT8 one below."
)

# Cell code. __MODEL__ is replaced by the notebook's model name.
SETUP = """\
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt

import edgezoo
from edgezoo.export.to_onnx import export
from edgezoo.inputs.preprocess import load_image
from edgezoo.inputs.samples import sample_photos
from edgezoo.runtime.engines import SessionOptions, available_engines, open_session
from edgezoo.runtime.predict import Predictor
from edgezoo.zoo.registry import get_card

MODEL = "__MODEL__"
PRETRAINED = False  # True: timm's ImageNet weights (needs the hub or its cache)
work = Path(tempfile.mkdtemp(prefix="edgezoo-notebook-"))
print("edgezoo", edgezoo.__version__, "from", Path(edgezoo.__file__).parent)
print("engines:", available_engines())
"""

EXPORT = """\
artifact, checks = export(get_card(MODEL), pretrained=PRETRAINED, out_dir=work)
print(artifact.onnx_path.name, "weights:", artifact.card["weights"]["kind"])
for c in checks:
    print(f"  vs PyTorch on {c.input}: cosine {c.cosine:.6f}, max abs diff {c.max_abs_diff:.1e}")
"""

QUANTIZE = """\
from edgezoo.inputs.samples import write_photo_variants
from edgezoo.quantize.api import config_for, quantize_artifact

# Offline calibration: a few views of each real photo bundled with the installed wheels.
# For real accuracy, point calib at 100-300 images of your own domain.
calib = work / "calib"
write_photo_variants(sample_photos(), calib, per_photo=4)
config = config_for(None, artifact)
result = quantize_artifact(artifact, calib, config=config, out_dir=work)
int8 = result.artifact
print(int8.onnx_path.name, int8.card["precision"], "engine", int8.card.get("engine"))
print("input", int8.card["input"])
"""

PREDICT = """\
photo = next((p for p in sample_photos() if p.stem == "coffee"), sample_photos()[0])
plt.imshow(load_image(photo))
plt.axis("off")
plt.title(photo.name)
plt.show()


def top5(art, engine="auto"):
    session = open_session(art, engine, SessionOptions(threads=1))
    predictor = Predictor(session, topk=5)
    predictor.warm_up()
    (pred,) = predictor([photo])
    kind = art.card["weights"]["kind"]
    print(f"{art.onnx_path.name} in {session.engine} ({kind} weights): {pred.ms:.1f} ms")
    for t in pred.topk:
        print(f"  {t.index:4d}  {t.label[:40]:40s} {t.prob:.3f}")


for engine in ("onnxruntime", "openvino", "torch"):
    top5(artifact, engine)
top5(int8)
"""

REAL_WEIGHTS = """\
# The same with real ImageNet weights, so that the classes mean something offline.
lite0, _ = export(get_card("tf_efficientnet_lite0"), pretrained=True, out_dir=work)
top5(lite0)
"""

LATENCY = """\
import time

import numpy as np

from edgezoo.inputs.frames import to_model_input


def median_ms(art, engine, runs=20):
    session = open_session(art, engine, SessionOptions(threads=1))
    x = to_model_input(load_image(photo), art.card)
    session.run(x)  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(x)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times))


rows = {f"{e} fp32": median_ms(artifact, e) for e in ("torch", "onnxruntime", "openvino")}
if int8 is not artifact:
    rows[f"{int8.card.get('engine', 'onnxruntime')} int8"] = median_ms(int8, "auto")
for name, ms in rows.items():
    print(f"{name:20s} {ms:7.2f} ms")
plt.barh(list(rows), list(rows.values()))
plt.xlabel("ms per image (lower is better)")
plt.title(f"{MODEL}, 1 thread, this machine")
plt.show()
"""


def cells(title: str, model: str, others: str) -> list[nbformat.NotebookNode]:
    code = [c.replace("__MODEL__", model).rstrip("\n") for c in (SETUP, EXPORT, QUANTIZE)]
    more = [c.rstrip("\n") for c in (PREDICT, REAL_WEIGHTS, LATENCY)]
    return [
        new_markdown_cell(INTRO.format(title=title, model=model, others=others)),
        new_code_cell(code[0]),
        new_markdown_cell("## 1. Export: reparameterize, ONNX, simplify, check against PyTorch"),
        new_code_cell(code[1]),
        new_markdown_cell(QUANTIZE_NOTE),
        new_code_cell(code[2]),
        new_markdown_cell("## 3. Predict on a photo: top-5 in every engine"),
        new_code_cell(more[0]),
        new_code_cell(more[1]),
        new_markdown_cell("## 4. A quick latency figure (batch 1, 1 thread, median of 20 runs)"),
        new_code_cell(more[2]),
    ]


def build(name: str) -> nbformat.NotebookNode:
    nb = new_notebook(cells=cells(**NOTEBOOKS[name]))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{name}-{i}"  # stable ids: rebuilding gives the same file
    return nb


def main() -> int:
    for name in NOTEBOOKS:
        nbformat.write(build(name), HERE / f"{name}.ipynb")
    return 0


if __name__ == "__main__":
    sys.exit(main())
