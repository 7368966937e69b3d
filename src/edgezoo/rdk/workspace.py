"""``edgezoo rdk``: one folder that the RDK toolchain turns into a board model with two commands.

What goes in, and why each part looks the way it does (rules and sources: docs/rdk.md):

* ``MODEL.onnx``: export's own code at opset 11 (the toolchain's maximum), ``ir_version`` <= 7, one
  static 1x3xHxW input, reparameterized, simplified and checked against PyTorch. Without export's
  grouped-convolution rewrite: it helps x86 engines, and the BPU runs grouped convolutions itself.
* ``MODEL_config.yaml``: :func:`edgezoo.quantize.rdk_yaml.to_rdk` from the card and the config.
* ``calibration_data_rgb_f32/<stem>.rgb``: the pixels ``edgezoo quantize`` calibrates on (the card's
  resize and centre crop), as the toolchain reads them: float32, CHW, RGB, 0..255, no header.
* ``01_check.sh``, ``03_build.sh`` (the OE sample numbering; ``02_preprocess.sh`` is not needed,
  the data is ready) and ``README.md``.

Everything is written into a hidden folder beside the target and renamed into place at the end, so a
failure leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from edgezoo.artifact import is_artifact_path, read_artifact
from edgezoo.errors import EdgezooError
from edgezoo.export.to_onnx import CheckResult, export_model
from edgezoo.fsutil import ensure_dir
from edgezoo.inputs.preprocess import find_images
from edgezoo.progress import steps, track
from edgezoo.quantize.calibration import ImageSet, calibration_set
from edgezoo.quantize.config import QuantConfig, load_config
from edgezoo.quantize.rdk_yaml import (
    CALIBRATION_COUNT,
    CALIBRATION_DIR,
    DEFAULT_MARCH,
    MARCHES,
    WRITABLE_MARCHES,
    RdkYaml,
    to_rdk,
)
from edgezoo.zoo.registry import ModelCard, card_from_dict, get_card

OPSET = 11  # hb_mapper checker: "only model with opset_version 10/11 is supported"
MAX_IR_VERSION = 7  # the toolchain's docs: ir_version <= 7
DEFAULT_CONFIG = "default"
# timm's interpolation names -> OpenCV's, for the board-side sample in the README.
_CV2 = {"bicubic": "INTER_CUBIC", "bilinear": "INTER_LINEAR", "nearest": "INTER_NEAREST", "lanczos": "INTER_LANCZOS4"}


@dataclass
class Workspace:
    """What ``edgezoo rdk`` wrote, for the CLI to print."""

    folder: Path
    onnx_path: Path
    yaml: RdkYaml
    calibration: ImageSet
    checks: list[CheckResult]
    march: str
    weights: str


@dataclass
class _Model:
    card: ModelCard
    weights: Path | None
    pretrained: bool


def _model_from(arg: str, weights: Path | None, pretrained: bool) -> _Model:
    """A zoo/timm model name, or a float export artifact rebuilt from the weights its card names."""
    if not is_artifact_path(arg):
        return _Model(get_card(arg), weights, pretrained)
    if weights is not None or pretrained:
        raise EdgezooError(f"{arg}: --weights/--pretrained apply to a model name, not to an artifact")
    artifact = read_artifact(arg)
    card = artifact.card
    if card.get("kind") != "export" or card.get("precision") != "fp32":
        raise EdgezooError(f"{artifact.onnx_path}: not an edgezoo float export (kind {card.get('kind')!r})")
    model_card = card_from_dict(card["model_card"], f"{artifact.card_path} model_card")
    h, w = card["input"]["shape"][2:4]
    model_card = dataclasses.replace(model_card, input_size=(3, int(h), int(w)))
    source = card.get("weights", {})
    kind = source.get("kind")
    if kind == "file":
        path = Path(str(source.get("path")))
        if not path.is_file():
            hint = "pass the model name and --weights"
            raise EdgezooError(f"{artifact.card_path}: its weights file {path} is gone; {hint}")
        return _Model(model_card, path, False)
    return _Model(model_card, None, kind in ("timm-hub", "package"))


def _prepare_onnx(model: onnx.ModelProto) -> onnx.ModelProto:
    """Hold the exported model to the toolchain's rules, or say which one it breaks."""
    model.ir_version = min(model.ir_version, MAX_IR_VERSION)  # opset 11 needs IR 6; newer IR adds nothing used
    onnx.checker.check_model(model)
    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    if opsets != {"ai.onnx": OPSET}:
        raise EdgezooError(f"internal error: the RDK export has opsets {opsets}, not ai.onnx {OPSET} only")
    inputs = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    dims = [d.dim_value for d in inputs[0].type.tensor_type.shape.dim] if len(inputs) == 1 else []
    if len(dims) != 4 or dims[0] != 1 or dims[1] != 3 or 0 in dims:
        raise EdgezooError(f"internal error: the RDK export's input is not one static 1x3xHxW tensor ({dims})")
    return model


def _stems(files: list[Path]) -> list[str]:
    """File names for the calibration data: the image's stem, numbered where two images share one."""
    seen: dict[str, int] = {}
    out = []
    for path in files:
        stem = path.stem
        seen[stem] = seen.get(stem, 0) + 1
        out.append(stem if seen[stem] == 1 else f"{stem}_{seen[stem]}")
    return out


def calibration_bytes(crop: np.ndarray) -> bytes:
    """An HxWx3 uint8 RGB crop as the toolchain reads a ``.rgb`` file: float32, CHW, 0..255, no header."""
    return np.ascontiguousarray(crop.transpose(2, 0, 1), dtype=np.float32).tobytes()


def _script(command: str, why: str) -> str:
    return f'#!/usr/bin/env bash\n# {why}\nset -euo pipefail\ncd "$(dirname "$0")"\n{command}\n'


def _readme(card: ModelCard, rdk: RdkYaml, march: str, onnx_name: str, n_calib: int, weights: str) -> str:
    h, w = card.img_size
    prefix = rdk.data["model_parameters"]["output_model_file_prefix"]
    yaml_name = f"{card.name}_config.yaml"
    short = int(h / card.crop_pct)
    cv2_interpolation = _CV2.get(card.interpolation, "INTER_LINEAR")
    rt = rdk.data["input_parameters"]["input_type_rt"]
    if rt == "nv12":
        frame = "NV12 frame"
        convert = (
            "i420 = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420).reshape(-1)\n"
            f"uv = i420[{h * w}:].reshape(2, -1).T.reshape(-1)  # planar U, V -> interleaved UV (NV12)\n"
            f"frame = np.concatenate([i420[:{h * w}], uv])"
        )
    else:  # rgb / bgr: uint8 NHWC
        frame = f"uint8 {rt.upper()} NHWC image"
        convert = "frame = " + ("bgr[None]" if rt == "bgr" else "cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)[None]")
    int16 = (
        f"{len(rdk.node_info)} node(s) pinned to int16 on the BPU (node_info)"
        if rdk.node_info
        else "no node_info (every BPU node int8)"
    )
    return f"""# {card.name} for {MARCHES[march]} (`{march}`)

Written by `edgezoo rdk` from the model card and quantization config. Weights: {weights}.

| file | what |
|---|---|
| `{onnx_name}` | float model, opset 11, input `1x3x{h}x{w}` NCHW, normalized RGB (checked against PyTorch) |
| `{yaml_name}` | `hb_mapper` config: NV12/RGB input, mean/scale, calibration, {int16} |
| `{CALIBRATION_DIR}/` | {n_calib} calibration images: float32 CHW RGB 0..255, resized and centre-cropped |
| `01_check.sh` | `hb_mapper checker`: can the toolchain convert this model for `{march}`? |
| `03_build.sh` | `hb_mapper makertbin`: quantize and compile to a board model |

## On the PC, inside the RDK toolchain (OpenExplorer) container

    bash 01_check.sh      # log: hb_mapper_checker.log
    bash 03_build.sh      # log: hb_mapper_makertbin.log

The build ends with "Convert to runtime bin file successfully" and writes `model_output/`:
`{prefix}.bin` (the board model) and `{prefix}_original_float_model.onnx`, `..._optimized_float_model.onnx`,
`..._calibrated_model.onnx`, `..._quantized_model.onnx` (to compare float and quantized on the PC).
Output cosine similarity around 0.99 or above is normal.

## On the board

Copy `model_output/{prefix}.bin` to the board, then measure it:

    hrt_model_exec perf --model_file {prefix}.bin --core_id 0 --frame_count 200 --thread_num 1

Run it from Python (`hobot_dnn`, installed on the board image). The model takes one {frame} of
{w}x{h}: resize the photo's short side to {short} ({card.interpolation}), centre-crop {w}x{h}, convert to {rt.upper()};
mean/scale are inside the model. It returns {card.num_classes} logits.

```python
import cv2, numpy as np
from hobot_dnn import pyeasy_dnn as dnn

model = dnn.load("{prefix}.bin")[0]
bgr = cv2.imread("photo.jpg")
s = {short} / min(bgr.shape[:2])
size = (round(bgr.shape[1] * s), round(bgr.shape[0] * s))
bgr = cv2.resize(bgr, size, interpolation=cv2.{cv2_interpolation})
y, x = (bgr.shape[0] - {h}) // 2, (bgr.shape[1] - {w}) // 2
bgr = bgr[y : y + {h}, x : x + {w}]
{convert}
logits = model.forward(frame)[0].buffer.reshape(-1)
print(int(np.argmax(logits)))
```

## Before the toolchain: what this recipe costs, estimated on any PC

    edgezoo quantize {card.name} --config {yaml_name} --calib IMAGES   (same --weights/--pretrained)
    edgezoo eval {card.name} --data VAL_IMAGES

runs this YAML's recipe (input, mean/scale, calibration type, int16/CPU nodes) with ONNX Runtime's
quantizer. It estimates the board's float-vs-int8 accuracy; the board's own quantizer decides the final numbers.
"""


def _check_target(folder: Path, force: bool) -> None:
    if folder.exists() and not force:
        raise EdgezooError(f"{folder}: already exists (use --force to replace it)")
    if folder.exists() and not folder.is_dir():
        raise EdgezooError(f"{folder}: exists and is not a folder")


def write_workspace(
    model_arg: str,
    calib_dir: Path,
    *,
    weights: Path | None = None,
    pretrained: bool = False,
    march: str = DEFAULT_MARCH,
    num_calib: int = CALIBRATION_COUNT,
    config: str | Path | None = None,
    out_dir: Path = Path("artifacts/rdk"),
    force: bool = False,
) -> Workspace:
    """Write ``out_dir/MODEL/`` (see the module doc); nothing is left behind if any step fails."""
    if march not in WRITABLE_MARCHES:
        raise EdgezooError(f"unknown march {march!r}: use {' or '.join(WRITABLE_MARCHES)}")
    if num_calib < 1:
        raise EdgezooError(f"--num-calib must be positive, got {num_calib}")
    if weights is not None and pretrained:
        raise EdgezooError("--weights and --pretrained exclude each other")
    if not find_images(calib_dir):  # raises for a missing folder or a file given as one
        raise EdgezooError(f"{calib_dir}: no images found (jpg, png, bmp, webp, tif)")
    chosen = _model_from(model_arg, weights, pretrained)
    card = chosen.card
    quant: QuantConfig = load_config(config or card.quantize_config or DEFAULT_CONFIG)
    folder = out_dir / card.name
    _check_target(folder, force)
    onnx_name, yaml_name = f"{card.name}.onnx", f"{card.name}_config.yaml"

    with steps(f"rdk {card.name} ({march})", total=7) as progress:
        done = export_model(  # at the card's input size (an artifact's, for an artifact)
            card,
            weights=chosen.weights,
            pretrained=chosen.pretrained,
            opset=OPSET,
            rewrite=False,
            progress=progress,
        )
        model = _prepare_onnx(done.model)
        progress.next("board config")
        rdk = to_rdk(quant, card, model, onnx_file=onnx_name, march=march)
        progress.next("calibration images")
        images = calibration_set(calib_dir, card, num_calib)
        progress.next("write workspace")
        ensure_dir(out_dir)
        tmp = Path(tempfile.mkdtemp(prefix=f".{card.name}.", suffix=".tmp", dir=out_dir))
        try:
            tmp.chmod(0o777 & ~_umask())
            onnx.save(model, tmp / onnx_name)
            (tmp / yaml_name).write_text(rdk.text, encoding="utf-8")
            cal = tmp / CALIBRATION_DIR
            cal.mkdir()
            for stem, crop in track(list(zip(_stems(images.files), images.crops, strict=True)), "calibration data"):
                (cal / f"{stem}.rgb").write_bytes(calibration_bytes(crop))
            scripts = {
                "01_check.sh": _script(
                    f"hb_mapper checker --model-type onnx --model ./{onnx_name} --march {march}",
                    "Can the RDK toolchain convert this model? Run inside the OpenExplorer container.",
                ),
                "03_build.sh": _script(
                    f"hb_mapper makertbin --config ./{yaml_name} --model-type onnx",
                    "Quantize and compile to a board model (model_output/*.bin), inside the OpenExplorer container.",
                ),
            }
            for name, text in scripts.items():
                (tmp / name).write_text(text, encoding="utf-8")
                (tmp / name).chmod(0o755)
            (tmp / "README.md").write_text(
                _readme(card, rdk, march, onnx_name, len(images.crops), done.source.describe()), encoding="utf-8"
            )
            _swap_in(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return Workspace(folder, folder / onnx_name, rdk, images, done.checks, march, done.source.describe())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _swap_in(tmp: Path, folder: Path) -> None:
    """Rename the finished folder into place; an old one (``--force``) goes only once the new one is in."""
    old = None
    if folder.exists():
        old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
        os.replace(folder, old)
    try:
        os.replace(tmp, folder)
    except OSError as exc:
        if old is not None:
            os.replace(old, folder)
        raise EdgezooError(f"{folder}: cannot move the workspace into place ({exc.strerror or exc})") from exc
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
