"""What one ``edgezoo bench`` run measures: edgezoo's artifacts on each engine and precision, and the
peers a user would otherwise pick, each as a :class:`Target` that a worker process can open.

Model names are resolved to artifacts here (found in the artifacts folder, else exported; int8 found,
else quantized when a calibration folder is given, else reported as unavailable). Everything that
cannot be measured becomes a ``skipped`` entry with its reason instead of an exception, so one run
always reports on everything that was asked.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

from edgezoo.artifact import Artifact, is_artifact_path, read_artifact
from edgezoo.errors import EdgezooError
from edgezoo.fsutil import atomic_path, ensure_dir
from edgezoo.host import current_host
from edgezoo.runtime.engines import ENGINE_DEFAULT, ENGINES, artifact_path_for, engine_version

PRECISIONS = ("fp32", "bf16", "f16", "int8")
PEERS = ("eager", "eager-reparam", "ort-plain", "nncf-default")
EDGEZOO = "edgezoo"
GPU_DEVICES = ("cuda", "tensorrt")
NNCF_RANDOM_INPUTS = 32  # calibration inputs for the NNCF peer when no --calib folder is given
NNCF_MAX_IMAGES = 300  # NNCF's default subset_size: more images would not be used
PLAIN_EXPORT_OPSET = 11  # the seeds' export: timm model as is, opset 11, simplified

# How edgezoo runs its own artifacts: (artifact precision, engine, device) -> (row precision, OpenVINO
# precision hint). "f32" stops OpenVINO from silently running a float model in bf16 (its default on
# CPUs with AVX-512 BF16 or AMX); the bf16 row asks for bf16 explicitly.
EDGEZOO_RUNS: tuple[tuple[str, str, str, str, str | None], ...] = (
    ("fp32", "onnxruntime", "cpu", "fp32", None),
    ("fp32", "openvino", "cpu", "fp32", "f32"),
    ("fp32", "openvino", "cpu", "bf16", "bf16"),
    # OpenVINO's default float precision on ARM cores with half-precision arithmetic (asimdhp; measured
    # on an emulated Cortex-A55, docs/tune.md "ARM hosts"): "the best float way" there includes it.
    ("fp32", "openvino", "cpu", "f16", "f16"),
    ("int8", "onnxruntime", "cpu", "int8", None),
    ("int8", "openvino", "cpu", "int8", None),
    # The same int8 artifact with the operators left in float run in f32: on FastViT the grouped and
    # depthwise convolutions that stay float are about twice as fast in OpenVINO's f32 kernels as
    # in its bf16 ones (benchmarks/profile_ops.py), so this row is often edgezoo's best.
    ("int8", "openvino", "cpu", "int8", "f32"),
    ("fp32", "onnxruntime", "cuda", "fp32", None),
    ("fp32", "onnxruntime", "tensorrt", "fp32", None),
)
# A bf16 row on a CPU without bf16 instructions would be an f32 run under a bf16 label: OpenVINO
# accepts the hint and runs f32 (seen on AVX2-only Zen 3), so such rows are not measured.
NO_BF16 = "this CPU has no bf16 instructions (avx512_bf16 or amx_bf16): OpenVINO would run it in f32"
NO_F16 = "OpenVINO computes in f16 only on ARM CPUs with half-precision arithmetic (asimdhp); here it would run f32"
# Requested (engine, precision) pairs that no engine path covers, and why.
NOT_SUPPORTED = {
    ("onnxruntime", "bf16"): "ONNX Runtime's CPU provider has no bf16 mode for a float model",
    ("onnxruntime", "f16"): "ONNX Runtime's CPU provider runs a float model in fp32 (f16 only on GPUs: tensorrt)",
    ("torch", "bf16"): "the eager peers run in fp32 only",
    ("torch", "f16"): "the eager peers run in fp32 only",
    ("torch", "int8"): "the eager peers run in fp32 only (PyTorch has no int8 path for these models here)",
}


@dataclass
class Target:
    """One thing to measure: a model file on an engine, device and precision."""

    model: str
    variant: str  # "edgezoo" or a peer name (PEERS)
    engine: str
    precision: str  # fp32 | bf16 | f16 | int8
    device: str
    path: str  # the file the engine opens (.onnx, or OpenVINO .xml for the NNCF peer)
    card_path: str  # the edgezoo card that describes the input (for peers: the fp32 export's)
    ov_precision: str | None = None  # OpenVINO INFERENCE_PRECISION_HINT, or "default" (the engine's own)
    reparameterize: bool = False  # torch peers: timm.utils.reparameterize_model first
    size_bytes: int = 0
    note: str = ""
    batches: list[int] = field(default_factory=lambda: [1])
    tag: str = ""  # tells apart two artifacts of the same model and precision (their file)
    deployed: bool = False  # edgezoo int8 run the way its card deploys it (engine and precision hint)

    @property
    def label(self) -> str:
        device = "" if self.device == "cpu" else f" {self.device}"
        # int8 rows name the precision OpenVINO was told to run the remaining float operators in.
        named = self.ov_precision not in (None, ENGINE_DEFAULT)
        rest = f"+{self.ov_precision}" if self.precision == "int8" and named else ""
        tag = f" [{self.tag}]" if self.tag else ""
        return f"{self.variant} {self.engine}{device} {self.precision}{rest}{tag}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Target:
        return cls(**data)

    def artifact(self) -> Artifact:
        """The artifact the runtime opens: this target's file described by its card."""
        card = json.loads(Path(self.card_path).read_text(encoding="utf-8"))
        if self.variant != EDGEZOO:
            card = {**card, "precision": "fp32" if self.engine == "torch" else self.precision}
        return Artifact(Path(self.path), card)


def _row_hint(engine: str, hint: str | None) -> str | None:
    """OpenVINO rows always say what to run float operators in: unset is the engine's own default
    (never the card's, which gets a row of its own); other engines take no hint."""
    return hint or (ENGINE_DEFAULT if engine == "openvino" else None)


def deployed_way(card: dict[str, Any]) -> tuple[str, str | None]:
    """The engine an artifact card deploys in, and the OpenVINO precision hint its bench row runs under."""
    engine = str(card.get("engine", "onnxruntime"))
    return engine, _row_hint(engine, card.get("precision_hint"))


def deployed_label(artifact: Artifact) -> str:
    """The bench row label of an artifact run as its card says: its engine, and its precision hint."""
    card = artifact.card
    engine, hint = deployed_way(card)
    return Target(artifact.model_name, EDGEZOO, engine, str(card.get("precision")), "cpu", "", "", hint).label


@dataclass
class Plan:
    """Targets to measure, what was asked but cannot be measured (with reasons), and notes."""

    targets: list[Target] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)

    def skip(self, model: str, what: str, reason: str) -> None:
        self.skipped.append({"model": model, "what": what, "reason": reason})


@dataclass(frozen=True)
class PlanRequest:
    """The user's choices that shape a plan."""

    items: tuple[str, ...]
    engines: tuple[str, ...] = ENGINES
    precisions: tuple[str, ...] = ()  # () : default_precisions()
    peers: tuple[str, ...] = PEERS
    devices: tuple[str, ...] = ("auto",)
    batch_sizes: tuple[int, ...] | None = None  # None: 1 on CPU, 1/8/32 on GPUs
    artifacts_dir: Path = Path("artifacts")
    calib: Path | None = None


def files_size(path: Path) -> int:
    """Bytes on disk of a model file, counting OpenVINO's .bin beside an .xml."""
    size = path.stat().st_size
    if path.suffix == ".xml" and path.with_suffix(".bin").is_file():
        size += path.with_suffix(".bin").stat().st_size
    return size


# --------------------------------------------------------------------------- artifacts


def find_int8(model: str, folder: Path) -> list[Artifact]:
    found = []
    for onnx_path in sorted(folder.glob(f"{model}.int8*.onnx")):
        try:
            art = read_artifact(onnx_path)
        except EdgezooError:
            continue
        if art.card.get("precision") == "int8":
            found.append(art)
    return found


def find_or_export_fp32(model: str, folder: Path) -> Artifact:
    existing = artifact_path_for(model, folder)
    if existing.is_file():
        art = read_artifact(existing)
        if art.card.get("precision") == "fp32":
            return art
    from edgezoo.export.to_onnx import export
    from edgezoo.zoo.registry import get_card

    card = get_card(model)
    art, _ = export(card, pretrained=card.packaged_weights is not None, out_dir=folder)
    return art


def _quantize(fp32: Artifact, calib: Path, folder: Path) -> Artifact:
    """edgezoo's own int8 artifact, made by the quantize stage with the model's own config."""
    from edgezoo.quantize.api import config_for, quantize_artifact  # ImportError: reported by caller

    outcome = quantize_artifact(fp32, calib, config=config_for(None, fp32), out_dir=folder)
    return outcome.artifact


def _fp32_for(plan: Plan, model: str, req: PlanRequest) -> Artifact | None:
    """The model's fp32 export (found in the artifacts folder, else made), or None with a reason.

    Nothing is exported when nothing asks for it (no fp32 rows, no peers, no int8 to make from it with
    ``--calib``), and an install that cannot export (no PyTorch: a device that only runs artifacts,
    where PyPI's aarch64 PyTorch is a CUDA build of several GB) measures the artifacts it was given,
    with the rest skipped and said why.
    """
    needed = (
        "fp32" in req.precisions
        or bool(req.peers)  # the folder is scanned for int8 cards only when neither asks for fp32
        or (req.calib is not None and "int8" in req.precisions and not find_int8(model, req.artifacts_dir))
    )
    if not needed and not artifact_path_for(model, req.artifacts_dir).is_file():
        return None
    try:
        return find_or_export_fp32(model, req.artifacts_dir)
    except ModuleNotFoundError as exc:  # the export stage's PyTorch/timm
        plan.skip(
            model,
            "fp32 export (fp32 rows, peers, quantizing)",
            f"exporting needs {exc.name}, which is not installed here; pass {model}.onnx made on another machine",
        )
        return None


def _resolve_int8(plan: Plan, model: str, fp32: Artifact | None, req: PlanRequest) -> list[Artifact]:
    found = find_int8(model, req.artifacts_dir)
    if found:
        return found
    where = f"no {model}.int8.onnx in {req.artifacts_dir}"
    if fp32 is None:
        plan.skip(model, "edgezoo int8", f"{where}, and no fp32 export to quantize")
        return []
    if req.calib is None:
        plan.skip(model, "edgezoo int8", f"{where}; pass --calib DIR (or the int8 artifact) to measure it")
        return []
    try:
        return [_quantize(fp32, req.calib, req.artifacts_dir)]
    except ImportError:
        plan.skip(model, "edgezoo int8", f"{where}, and edgezoo.quantize.api (the quantize stage) is not in this build")
    except (EdgezooError, TypeError, AttributeError) as exc:
        plan.skip(model, "edgezoo int8", f"{where}; quantizing failed: {exc}")
    return []


def resolve_artifacts(plan: Plan, req: PlanRequest) -> dict[str, list[Artifact]]:
    """Each model's artifacts, the fp32 export first where there is one (the peers are built from it).

    A model named on the command line gets all of its own artifacts (found or made) even when an
    artifact file of the same model is given too: ``bench fastvit_t8 other/fastvit_t8.int8.onnx``
    measures both int8 models, told apart by their tags, instead of letting the file take the slot.
    """
    by_model: dict[str, list[Artifact]] = {}
    named: set[str] = set()
    for item in req.items:
        if is_artifact_path(item):
            art = read_artifact(item)
            by_model.setdefault(art.model_name, []).append(art)
        else:
            by_model.setdefault(item, [])
            named.add(item)
    want_int8 = "int8" in req.precisions
    for model, given in by_model.items():
        fp32 = next((a for a in given if a.card.get("precision") == "fp32"), None)
        if fp32 is None:
            fp32 = _fp32_for(plan, model, req)
        else:
            given.remove(fp32)
        if fp32 is not None:
            given.insert(0, fp32)
        if model in named and want_int8:
            have = {a.onnx_path.resolve() for a in given}
            given.extend(a for a in _resolve_int8(plan, model, fp32, req) if a.onnx_path.resolve() not in have)
    return by_model


# --------------------------------------------------------------------------- devices


def gpu_reasons() -> dict[str, str | None]:
    """Per GPU device, None when usable, else why not."""
    from edgezoo.bench.machine import gpu_status

    status = gpu_status()
    providers = status["onnxruntime_providers"]
    reasons: dict[str, str | None] = {}
    for device, provider in (("cuda", "CUDAExecutionProvider"), ("tensorrt", "TensorrtExecutionProvider")):
        reasons[device] = (
            None
            if provider in providers
            else f"{provider} is not in this onnxruntime build (has {', '.join(providers) or 'none'})"
        )
    no_torch = engine_version("torch") is None
    reasons["torch-cuda"] = (
        None if status["torch_cuda"] else "PyTorch is not installed" if no_torch else "torch sees no CUDA GPU"
    )
    return reasons


def _devices(plan: Plan, req: PlanRequest) -> tuple[set[str], dict[str, str | None]]:
    reasons = gpu_reasons()
    asked = set(req.devices)
    unknown = asked - {"auto", "cpu", *GPU_DEVICES}
    if unknown:
        raise EdgezooError(f"unknown device(s) {sorted(unknown)}: choose from auto, cpu, cuda, tensorrt")
    if "auto" in asked:
        asked |= {"cpu", *GPU_DEVICES}
    usable = {"cpu"} & asked
    for device in GPU_DEVICES:
        if device in asked and reasons[device] is None:
            usable.add(device)
        elif device in asked:
            plan.skip("*", f"onnxruntime {device}", str(reasons[device]))
    if asked & set(GPU_DEVICES) and reasons["torch-cuda"] is not None:
        plan.skip("*", "torch cuda", str(reasons["torch-cuda"]))
    return usable, reasons


# --------------------------------------------------------------------------- peers


def _peer_dir(req: PlanRequest) -> Path:
    return ensure_dir(req.artifacts_dir / "peers")


def _cached(path: Path, key: str) -> bool:
    stamp = path.with_name(path.name + ".key")
    return path.is_file() and stamp.is_file() and stamp.read_text(encoding="utf-8") == key


def _stamp(path: Path, key: str) -> None:
    with atomic_path(path.with_name(path.name + ".key")) as tmp:
        tmp.write_text(key, encoding="utf-8")


def plain_export(fp32: Artifact, req: PlanRequest) -> Path:
    """The seeds' ONNX path: the timm model as built (not reparameterized), opset 11, simplified."""
    import torch

    from edgezoo.export.to_onnx import _simplify, _to_onnx
    from edgezoo.runtime.engines import SessionOptions, TorchSession

    out = _peer_dir(req) / f"{fp32.model_name}.plain.onnx"
    key = f"{fp32.card.get('sha256')} opset{PLAIN_EXPORT_OPSET}"
    if _cached(out, key):
        return out
    model = TorchSession(fp32, SessionOptions(), reparameterize=False).model  # same weights as the export
    shape = [1 if isinstance(d, str) else int(d) for d in fp32.card["input"]["shape"]]
    onnx_model = _simplify(_to_onnx(model, torch.zeros(*shape), PLAIN_EXPORT_OPSET, dynamic_batch=False))
    with atomic_path(out) as tmp:
        tmp.write_bytes(onnx_model.SerializeToString())
    _stamp(out, key)
    return out


def calibration_inputs(fp32: Artifact, calib: Path | None) -> tuple[list[np.ndarray], str]:
    """Inputs for the NNCF peer: the calibration images as edgezoo preprocesses them, else seeded noise."""
    from edgezoo.bench.measure import dummy_input

    if calib is None:
        xs = [dummy_input(fp32, seed=i) for i in range(NNCF_RANDOM_INPUTS)]
        return xs, f"{NNCF_RANDOM_INPUTS} seeded random-normal inputs (no --calib folder given)"
    from edgezoo.inputs.preprocess import find_images, prepare
    from edgezoo.zoo.registry import get_card

    images = find_images(calib)[:NNCF_MAX_IMAGES]
    if not images:
        raise EdgezooError(f"{calib}: no images found for calibration")
    card = get_card(fp32.model_name)
    size = tuple(int(d) for d in fp32.card["input"]["shape"][2:])
    xs = [
        prepare(p, size=size, crop_pct=card.crop_pct, interpolation=card.interpolation, mean=card.mean, std=card.std)
        for p in images
    ]
    return xs, f"{len(xs)} images from {calib}"


@contextlib.contextmanager
def _quiet_stdout(logger_name: str) -> Iterator[None]:
    """Send a tool's prints and log lines to stderr, so that ``--json`` output on stdout stays JSON."""
    import logging

    handlers = [h for h in logging.getLogger(logger_name).handlers if isinstance(h, logging.StreamHandler)]
    streams = [h.setStream(sys.stderr) for h in handlers]
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        for h, stream in zip(handlers, streams, strict=True):
            if stream is not None:
                h.setStream(stream)


def nncf_default(fp32: Artifact, req: PlanRequest) -> tuple[Path, str]:
    """OpenVINO + NNCF post-training int8 with every parameter at its default."""
    import nncf
    import openvino as ov

    xs, described = calibration_inputs(fp32, req.calib)
    out = _peer_dir(req) / f"{fp32.model_name}.nncf_int8.xml"
    key = f"{fp32.card.get('sha256')} nncf {nncf.__version__} openvino {ov.__version__} {described}"
    if not _cached(out, key):
        with _quiet_stdout("nncf"):
            quantized = nncf.quantize(ov.Core().read_model(str(fp32.onnx_path)), nncf.Dataset(xs))
        ov.save_model(quantized, str(out))  # two files (.xml/.bin): written, then stamped as complete
        _stamp(out, key)
    return out, f"nncf.quantize defaults, calibrated on {described}"


# --------------------------------------------------------------------------- the plan


def _batches(req: PlanRequest, device: str) -> list[int]:
    if req.batch_sizes is not None:
        return list(req.batch_sizes)
    return [1] if device == "cpu" else [1, 8, 32]


def _tags(artifacts: list[Artifact]) -> list[str]:
    """A tag per artifact where one model has several of the same precision: file name, else path."""
    tags = []
    for art in artifacts:
        same = [a for a in artifacts if a.card.get("precision") == art.card.get("precision")]
        names = [a.onnx_path.name for a in same]
        if len(same) == 1:
            tags.append("")
        else:
            tags.append(art.onnx_path.name if names.count(art.onnx_path.name) == 1 else str(art.onnx_path))
    return tags


def _edgezoo_targets(plan: Plan, art: Artifact, req: PlanRequest, devices: set[str], tag: str = "") -> None:
    model = art.model_name
    precision = str(art.card.get("precision"))
    runs = list(EDGEZOO_RUNS)
    # An int8 card that names a precision for its engine (``precision_hint``) gets that way measured
    # too, beside the engine's default and f32 (each measured once).
    own = art.card.get("precision_hint")
    deployed = ("int8", str(art.card.get("engine")), "cpu", "int8", own)
    if precision == "int8" and own and deployed not in runs:
        runs.append(deployed)
    deployed_row = deployed_way(art.card) if precision == "int8" else None
    for art_precision, engine, device, row_precision, hint in runs:
        if art_precision != precision or engine not in req.engines or row_precision not in req.precisions:
            continue
        if device not in devices:
            continue
        hint = _row_hint(engine, hint)
        lacks = {"bf16": not current_host().bf16, "f16": not current_host().float16}
        if device == "cpu" and lacks.get(hint or ""):
            what = Target(model, EDGEZOO, engine, row_precision, device, "", "", ov_precision=hint, tag=tag).label
            plan.skip(model, what, NO_BF16 if hint == "bf16" else NO_F16)
            continue
        plan.targets.append(
            Target(
                model,
                EDGEZOO,
                engine,
                row_precision,
                device,
                str(art.onnx_path),
                str(art.card_path),
                ov_precision=hint,
                size_bytes=files_size(art.onnx_path),
                note=art.onnx_path.name,
                batches=_batches(req, device),
                tag=tag,
                deployed=device == "cpu" and (engine, hint) == deployed_row,
            )
        )


def _peer_targets(plan: Plan, fp32: Artifact, req: PlanRequest, torch_devices: list[str]) -> None:
    model = fp32.model_name
    card = str(fp32.card_path)
    for peer in req.peers:
        engine = {"eager": "torch", "eager-reparam": "torch", "ort-plain": "onnxruntime"}.get(peer, "openvino")
        if engine not in req.engines:
            plan.skip(model, f"peer {peer}", f"engine {engine} not selected (--engines)")
            continue
        if engine_version(engine) is None or (peer == "nncf-default" and find_spec("nncf") is None):
            plan.skip(model, f"peer {peer}", f"{'nncf' if peer == 'nncf-default' else engine} is not installed")
            continue
        try:
            if engine == "torch":
                size = int(
                    fp32.card.get("params", {}).get("pytorch" if peer == "eager" else "pytorch_reparameterized", 0)
                )
                for device in torch_devices:
                    plan.targets.append(
                        Target(
                            model,
                            peer,
                            "torch",
                            "fp32",
                            device,
                            str(fp32.onnx_path),
                            card,
                            reparameterize=peer == "eager-reparam",
                            size_bytes=4 * size,
                            note="timm eager, reparameterize_model"
                            if peer == "eager-reparam"
                            else "timm eager as built",
                            batches=_batches(req, device),
                        )
                    )
            elif peer == "ort-plain":
                path = plain_export(fp32, req)
                plan.targets.append(
                    Target(
                        model,
                        peer,
                        engine,
                        "fp32",
                        "cpu",
                        str(path),
                        card,
                        size_bytes=files_size(path),
                        note=f"torch.onnx.export of the timm model as built, opset {PLAIN_EXPORT_OPSET}, slimmed",
                    )
                )
            elif "int8" in req.precisions:
                path, note = nncf_default(fp32, req)
                plan.targets.append(
                    Target(model, peer, engine, "int8", "cpu", str(path), card, size_bytes=files_size(path), note=note)
                )
        except EdgezooError as exc:
            plan.skip(model, f"peer {peer}", str(exc))
        except Exception as exc:  # a peer tool failing must not stop edgezoo's own measurements
            plan.skip(model, f"peer {peer}", f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}")


def default_precisions() -> tuple[str, ...]:
    """fp32, bf16 and int8 on every host (where the CPU lacks bf16 its rows are listed as skipped,
    saying why), and f16 only where OpenVINO computes in it (ARM with asimdhp), since elsewhere an f16
    row would be one more skipped line on every run."""
    return tuple(p for p in PRECISIONS if p != "f16" or current_host().float16)


def make_plan(req: PlanRequest) -> Plan:
    """Resolve models and artifacts into targets; anything unmeasurable goes to ``skipped``."""
    if not req.precisions:
        req = PlanRequest(**{**req.__dict__, "precisions": default_precisions()})
    bad = [e for e in req.engines if e not in ENGINES]
    if bad:
        raise EdgezooError(f"unknown engine '{bad[0]}': choose from {', '.join(ENGINES)}")
    bad = [p for p in req.precisions if p not in PRECISIONS]
    if bad:
        raise EdgezooError(f"unknown precision '{bad[0]}': choose from {', '.join(PRECISIONS)}")
    bad = [p for p in req.peers if p not in PEERS]
    if bad:
        raise EdgezooError(f"unknown peer '{bad[0]}': choose from {', '.join(PEERS)}")
    plan = Plan()
    devices, reasons = _devices(plan, req)
    for engine in req.engines:
        if engine_version(engine) is None:
            plan.skip("*", f"engine {engine}", f"{engine} is not installed")
    engines = tuple(e for e in req.engines if engine_version(e) is not None)
    req = PlanRequest(**{**req.__dict__, "engines": engines})
    for engine in engines:
        for precision in req.precisions:
            if (engine, precision) in NOT_SUPPORTED:
                plan.skip("*", f"{engine} {precision}", NOT_SUPPORTED[(engine, precision)])
    for artifacts in resolve_artifacts(plan, req).values():
        for art, tag in zip(artifacts, _tags(artifacts), strict=True):
            _edgezoo_targets(plan, art, req, devices, tag)
        gpu_torch = reasons["torch-cuda"] is None and bool(devices & set(GPU_DEVICES))
        if artifacts and artifacts[0].card.get("precision") == "fp32":  # peers are built from the fp32 export
            _peer_targets(plan, artifacts[0], req, ["cpu", "cuda"] if gpu_torch else ["cpu"])
    return plan
