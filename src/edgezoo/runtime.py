"""One small interface over the engines that run an artifact: ONNX Runtime, OpenVINO, PyTorch.

Every engine takes the artifact's own input (whatever its card says: normalized float NCHW, or
uint8 camera frames for artifacts with preprocessing inside) and returns logits. Sessions are safe
to call from several threads at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edgezoo.artifact import Artifact
from edgezoo.errors import EdgezooError

ENGINES = ("onnxruntime", "openvino", "torch")
_DISTRIBUTIONS = {"onnxruntime": ("onnxruntime", "onnxruntime-gpu"), "openvino": ("openvino",), "torch": ("torch",)}


@dataclass(frozen=True)
class SessionOptions:
    """How to run: intra-op threads (None: the engine's default), device and engine hints."""

    threads: int | None = None
    device: str = "cpu"  # cpu | cuda | tensorrt (onnxruntime), cpu | gpu (openvino), cpu | cuda (torch)
    hint: str = "latency"  # openvino performance hint: latency | throughput
    precision: str | None = None  # openvino inference precision hint: f32 | bf16 | f16 (None: its default)
    extra: dict[str, Any] = field(default_factory=dict)


class Session(Protocol):
    engine: str
    artifact: Artifact

    def run(self, x: np.ndarray) -> np.ndarray:
        """Logits for one input batch in the artifact's input format."""
        ...


def engine_version(engine: str) -> str | None:
    """The installed version of an engine, or None when it is missing."""
    for dist in _DISTRIBUTIONS[engine]:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def available_engines() -> dict[str, str | None]:
    return {name: engine_version(name) for name in ENGINES}


class OrtSession:
    """ONNX Runtime; InferenceSession.run is thread-safe by design."""

    engine = "onnxruntime"

    def __init__(self, artifact: Artifact, options: SessionOptions) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if options.threads:
            so.intra_op_num_threads = options.threads
            so.inter_op_num_threads = 1
        providers = {
            "cpu": ["CPUExecutionProvider"],
            "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
            "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
        }.get(options.device)
        if providers is None:
            raise EdgezooError(f"onnxruntime: unknown device '{options.device}' (cpu, cuda, tensorrt)")
        missing = [p for p in providers if p not in ort.get_available_providers()]
        if missing:
            raise EdgezooError(f"onnxruntime: {missing[0]} is not available in this onnxruntime build")
        self.artifact = artifact
        self._session = ort.InferenceSession(str(artifact.onnx_path), so, providers=providers)
        self._input = self._session.get_inputs()[0].name

    def run(self, x: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._input: x})[0]


class OvSession:
    """OpenVINO; one infer request per calling thread, since a request is not reentrant."""

    engine = "openvino"

    def __init__(self, artifact: Artifact, options: SessionOptions) -> None:
        import openvino as ov

        config: dict[str, Any] = {"PERFORMANCE_HINT": options.hint.upper()}
        if options.threads:
            config["INFERENCE_NUM_THREADS"] = options.threads
        if options.precision:
            config["INFERENCE_PRECISION_HINT"] = options.precision
        config.update(options.extra)
        device = options.device.upper()
        core = ov.Core()
        if device not in core.available_devices:
            raise EdgezooError(f"openvino: device {device} is not available ({', '.join(core.available_devices)})")
        self.artifact = artifact
        self.compiled = core.compile_model(str(artifact.onnx_path), device, config)
        self._local = threading.local()

    def run(self, x: np.ndarray) -> np.ndarray:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        result = request.infer({0: x})
        return np.array(result[self.compiled.output(0)])


class TorchSession:
    """The eager PyTorch reference, rebuilt from the artifact's card (fp32 exports only)."""

    engine = "torch"

    def __init__(self, artifact: Artifact, options: SessionOptions, reparameterize: bool = True) -> None:
        import torch

        from edgezoo.models import build_model, reparameterized
        from edgezoo.zoo import get_card

        card = artifact.card
        if card.get("precision") != "fp32" or card["input"].get("format") != "rgb_normalized":
            raise EdgezooError(f"{artifact.onnx_path}: the torch engine runs float exports only")
        weights = card["weights"]
        path = weights.get("path") if weights["kind"] == "file" else None
        model, _ = build_model(
            get_card(card["model"]),
            weights=path,
            pretrained=weights["kind"] in {"timm-hub", "package"},
            seed=weights.get("seed", 0),
        )
        self.model = reparameterized(model) if reparameterize else model
        if options.threads:
            torch.set_num_threads(options.threads)  # process-wide: torch has no per-model setting
        self.device = "cuda" if options.device == "cuda" else "cpu"
        self.model.to(self.device)
        self.artifact = artifact

    def run(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self.model(torch.from_numpy(x).to(self.device)).float().cpu().numpy()


_SESSIONS = {"onnxruntime": OrtSession, "openvino": OvSession, "torch": TorchSession}


def default_engine(artifact: Artifact) -> str:
    """The engine the artifact's card names, else ONNX Runtime (runs everywhere)."""
    return str(artifact.card.get("engine", "onnxruntime"))


def open_session(artifact: Artifact, engine: str = "auto", options: SessionOptions | None = None) -> Session:
    """A ready-to-run session for ``artifact`` in ``engine`` ("auto": what the card names)."""
    name = default_engine(artifact) if engine == "auto" else engine
    if name not in _SESSIONS:
        raise EdgezooError(f"unknown engine '{name}': choose from {', '.join(ENGINES)}")
    if engine_version(name) is None:
        raise EdgezooError(f"engine '{name}' is not installed (pip install {_DISTRIBUTIONS[name][0]})")
    return _SESSIONS[name](artifact, options or SessionOptions())


def input_spec(artifact: Artifact) -> tuple[tuple[int, ...], np.dtype]:
    """Concrete input shape (batch 1) and dtype that the artifact's card declares."""
    spec = artifact.card["input"]
    shape = tuple(1 if isinstance(d, str) else int(d) for d in spec["shape"])
    return shape, np.dtype(spec["dtype"])


def artifact_path_for(model: str, out_dir: Path, precision: str = "fp32") -> Path:
    """Where the pipeline writes a model's artifact of a given precision."""
    return out_dir / (f"{model}.onnx" if precision == "fp32" else f"{model}.{precision}.onnx")
