"""Stage one of the pipeline: timm model -> reparameterize -> ONNX -> simplify -> check -> artifact.

The check compares ONNX Runtime's output with the PyTorch model *before* reparameterization, so it
covers both the branch folding and the export.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict, Unpack

import numpy as np
import onnx
import torch

from edgezoo.agreement import cosine
from edgezoo.artifact import Artifact, command_line, now_iso, versions, write_artifact
from edgezoo.errors import EdgezooError
from edgezoo.export.rewrite import rewrite_grouped_conv
from edgezoo.export.static_pad import freeze_same_padding
from edgezoo.inputs.preprocess import prepare
from edgezoo.inputs.samples import default_photo
from edgezoo.progress import Steps, steps
from edgezoo.zoo.models import build_model, count_params, reparameterized
from edgezoo.zoo.registry import ModelCard
from edgezoo.zoo.weights import WeightsSource

SUPPORTED_OPSETS = range(11, 21)
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
# Float export must reproduce PyTorch; the error allowed grows with the logits' magnitude.
COSINE_MIN = 0.9999
REL_ABS_DIFF_MAX = 1e-3


@dataclass(frozen=True)
class CheckResult:
    """How closely ONNX Runtime reproduces PyTorch on one input."""

    input: str
    max_abs_diff: float
    cosine: float
    top1_torch: int
    top1_onnx: int
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def onnx_param_count(model: onnx.ModelProto) -> int:
    """Parameters as the seeds count them: elements of all graph initializers."""
    return int(sum(int(np.prod(t.dims)) for t in model.graph.initializer))


def _to_onnx(model: torch.nn.Module, example: torch.Tensor, opset: int, dynamic_batch: bool) -> onnx.ModelProto:
    buffer = io.BytesIO()
    axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None
    with warnings.catch_warnings(), torch.no_grad():
        # The legacy exporter honours the requested opset exactly (dynamo=True always writes 18);
        # it warns that it is deprecated, which users need not see on every export.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            buffer,
            dynamo=False,
            opset_version=opset,
            do_constant_folding=True,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes=axes,
        )
    return onnx.load_from_string(buffer.getvalue())


def _simplify(model: onnx.ModelProto) -> onnx.ModelProto:
    import onnxslim

    return onnxslim.slim(model)


def _compare(name: str, reference: np.ndarray, got: np.ndarray) -> CheckResult:
    ref = reference.reshape(-1).astype(np.float64)
    out = got.reshape(-1).astype(np.float64)
    diff = float(np.max(np.abs(ref - out)))
    similarity = cosine(ref, out)
    allowed = REL_ABS_DIFF_MAX * max(1.0, float(np.max(np.abs(ref))))
    return CheckResult(
        name, diff, similarity, int(ref.argmax()), int(out.argmax()), similarity >= COSINE_MIN and diff <= allowed
    )


def check_against_torch(
    onnx_model: onnx.ModelProto, torch_model: torch.nn.Module, inputs: dict[str, np.ndarray]
) -> list[CheckResult]:
    """Run each input through ONNX Runtime and PyTorch and compare the logits."""
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
    results = []
    for name, x in inputs.items():
        with torch.no_grad():
            ref = torch_model(torch.from_numpy(x)).numpy()
        got = session.run(None, {session.get_inputs()[0].name: x})[0]
        results.append(_compare(name, ref, got))
    return results


def _check_inputs(card: ModelCard, size: tuple[int, int]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    photo = default_photo()
    return {
        "random normal": rng.standard_normal((1, 3, *size), dtype=np.float32),
        f"photo {photo.name}": prepare(
            photo, size=size, crop_pct=card.crop_pct, interpolation=card.interpolation, mean=card.mean, std=card.std
        ),
    }


@dataclass
class Exported:
    """A checked ONNX model in memory, before anything is written: what ``export`` and ``edgezoo rdk`` share."""

    model: onnx.ModelProto
    checks: list[CheckResult]
    torch_model: torch.nn.Module
    deployed: torch.nn.Module
    source: WeightsSource
    size: tuple[int, int]
    opset: int
    initializer_params: int
    rewritten: list[str]
    frozen: list[str]  # TF 'same' padding layers replaced by fixed padding (static_pad)
    dynamic_batch: bool = False


def export_model(
    card: ModelCard,
    *,
    weights: str | Path | None = None,
    pretrained: bool = False,
    img_size: int | None = None,
    opset: int = 17,
    dynamic_batch: bool = False,
    rewrite: bool = True,
    progress: Steps | None = None,
) -> Exported:
    """Build, reparameterize, export, simplify and check ``card``'s model; raise EdgezooError if it fails.

    ``progress`` gets four steps (build, reparameterize, export, check). ``rewrite`` applies the exact
    grouped-convolution rewrite (:mod:`edgezoo.export.rewrite`) before the check, so the check covers it.
    """
    if opset not in SUPPORTED_OPSETS:
        raise EdgezooError(f"unsupported opset {opset}: use {SUPPORTED_OPSETS.start}..{SUPPORTED_OPSETS.stop - 1}")
    size = (img_size, img_size) if img_size else card.img_size

    def step(name: str) -> None:
        if progress is not None:
            progress.next(name)

    step("build model")
    model, source = build_model(card, weights=weights, pretrained=pretrained)
    step("reparameterize")
    deployed = reparameterized(model)
    example = torch.zeros(1, 3, *size)
    try:
        with torch.no_grad():
            deployed(example)
    except Exception as exc:
        raise EdgezooError(f"{card.name}: cannot run at input size {size[0]}x{size[1]} ({exc})") from exc
    # The export's height and width are fixed, so TF-style "same" padding is a constant of it.
    frozen = freeze_same_padding(deployed, example)
    step(f"export to ONNX (opset {opset})")
    onnx_model = _simplify(_to_onnx(deployed, example, opset, dynamic_batch))
    initializer_params = onnx_param_count(onnx_model)  # before the rewrite adds its channel indices
    rewritten: list[str] = []
    if rewrite:
        onnx_model, rewritten = rewrite_grouped_conv(onnx_model)
    step("check against PyTorch")
    checks = check_against_torch(onnx_model, model, _check_inputs(card, size))
    failed = [c for c in checks if not c.passed]
    if failed:
        c = failed[0]
        raise EdgezooError(
            f"{card.name}: ONNX output differs from PyTorch on {c.input}"
            f" (max abs diff {c.max_abs_diff:.2e}, cosine {c.cosine:.6f}); nothing written"
        )
    return Exported(
        onnx_model, checks, model, deployed, source, size, opset, initializer_params, rewritten, frozen, dynamic_batch
    )


def check_record(checks: list[CheckResult]) -> dict[str, Any]:
    """The ``check`` block of a card: what was compared, within which tolerance, and the results."""
    return {
        "against": "PyTorch model before reparameterization, ONNX Runtime CPU",
        "tolerance": {"cosine_min": COSINE_MIN, "max_abs_diff_rel": REL_ABS_DIFF_MAX},
        "results": [c.to_dict() for c in checks],
    }


class ExportOptions(TypedDict, total=False):
    """The keyword options of :func:`export_model`, passed through unchanged by :func:`export`."""

    weights: str | Path | None
    pretrained: bool
    img_size: int | None
    opset: int
    dynamic_batch: bool
    rewrite: bool


def export(
    card: ModelCard, *, out_dir: Path = Path("artifacts"), **options: Unpack[ExportOptions]
) -> tuple[Artifact, list[CheckResult]]:
    """Export ``card``'s model to ``out_dir/<name>.onnx`` with its card, or raise EdgezooError.

    ``options`` are :func:`export_model`'s (weights, pretrained, img_size, opset, dynamic_batch,
    rewrite); the artifact card records what they resolved to.
    """
    with steps(f"export {card.name}", total=5) as progress:
        done = export_model(card, progress=progress, **options)
        progress.next("write artifact")
        artifact_card = {
            "kind": "export",
            "model": card.name,
            "timm_name": card.timm_name,
            "precision": "fp32",
            "created": now_iso(),
            "command": command_line(),
            "weights": done.source.to_dict(),
            "opset": done.opset,
            "input": {
                "name": INPUT_NAME,
                "shape": ["batch" if done.dynamic_batch else 1, 3, *done.size],
                "layout": "NCHW",
                "dtype": "float32",
                "format": "rgb_normalized",
            },
            "output": {
                "name": OUTPUT_NAME,
                "shape": ["batch" if done.dynamic_batch else 1, card.num_classes],
                "dtype": "float32",
                "meaning": f"{card.labels} logits (softmax gives probabilities)",
            },
            "preprocessing": card.preprocessing(),
            "params": {
                "pytorch": count_params(done.torch_model),
                "pytorch_reparameterized": count_params(done.deployed),
                "onnx_initializers": done.initializer_params,
            },
            "rewrites": {"grouped_conv_to_depthwise": done.rewritten, "same_padding_frozen": len(done.frozen)},
            "check": check_record(done.checks),
            "versions": versions(),
            "model_card": card.to_dict(),
        }
        artifact = write_artifact(done.model, artifact_card, out_dir, card.name)
    return artifact, done.checks
