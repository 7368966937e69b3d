"""One small interface over the engines that run an artifact: ONNX Runtime, OpenVINO, PyTorch.

Every engine takes the artifact's own input (whatever its card says: normalized float NCHW, or
uint8 camera frames for artifacts with preprocessing inside; :mod:`edgezoo.inputs.frames` makes it) and
returns logits. Sessions are safe to call from several threads at once, because deployments feed one
accelerator from several threads (the RDK figures use 4):

* ONNX Runtime: ``InferenceSession.run`` is documented as thread-safe; one session serves all.
* OpenVINO: an infer request is not reentrant, so each calling thread gets its own request on the
  shared compiled model (with the throughput hint those requests run in parallel streams).
* PyTorch: an eval-mode module under ``inference_mode`` keeps no state between calls.

Asking for hardware that is not there (``device="cuda"`` on a CPU-only build, an OpenVINO GPU that
is absent) is an :class:`EdgezooError` naming what is available, never a silent fall-back to CPU.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edgezoo.artifact import Artifact
from edgezoo.errors import EdgezooError, EngineRefused
from edgezoo.host import current_host

ENGINES = ("onnxruntime", "openvino", "torch")
_DISTRIBUTIONS = {
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino"),
    "openvino": ("openvino",),
    "torch": ("torch",),
}
HINTS = ("latency", "throughput", "cumulative_throughput")
PRECISIONS = ("f32", "bf16", "f16")
ENGINE_DEFAULT = "default"  # a precision option: the engine's own choice, whatever the card asks
# Devices each engine accepts; "gpu" is an alias that each engine maps to its own GPU name.
DEVICES = {
    "onnxruntime": ("cpu", "cuda", "tensorrt", "gpu"),
    "openvino": ("cpu", "gpu", "npu"),
    "torch": ("cpu", "cuda", "gpu"),
}
_ORT_PROVIDERS = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "gpu": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}


@dataclass(frozen=True)
class SessionOptions:
    """How to run: intra-op threads (None: the engine's default), device and engine hints."""

    threads: int | None = None
    device: str = "cpu"  # cpu | cuda | tensorrt | gpu (onnxruntime); cpu | gpu | npu (openvino); cpu | cuda (torch)
    hint: str = "latency"  # openvino performance hint: latency | throughput | cumulative_throughput
    # Inference precision hint: f32 | bf16 | f16, or "default" for the engine's own. None: what the
    # artifact's card asks its own engine for (``precision_hint``), else the engine's default.
    precision: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # raw OpenVINO properties, passed through unchanged

    def __post_init__(self) -> None:
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise EdgezooError(f"threads must be a positive integer, got {self.threads!r}")
        if self.hint not in HINTS:
            raise EdgezooError(f"unknown performance hint '{self.hint}': choose from {', '.join(HINTS)}")
        if self.precision is not None and self.precision not in (*PRECISIONS, ENGINE_DEFAULT):
            choices = ", ".join((*PRECISIONS, ENGINE_DEFAULT))
            raise EdgezooError(f"unknown precision hint '{self.precision}': choose from {choices}")


class Session(Protocol):
    engine: str
    artifact: Artifact
    device: str  # what actually runs it, e.g. "CPUExecutionProvider" or "CPU"

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


def _check_device(engine: str, device: str) -> str:
    device = device.lower()
    if device not in DEVICES[engine]:
        raise EdgezooError(f"{engine}: unknown device '{device}': choose from {', '.join(DEVICES[engine])}")
    return device


def _check_input(artifact: Artifact, x: np.ndarray, dtype: np.dtype) -> None:
    """Catch a wrong input dtype here, with the card's words, instead of deep inside an engine."""
    if not isinstance(x, np.ndarray) or x.dtype != dtype:
        got = getattr(x, "dtype", type(x).__name__)
        fmt = artifact.card.get("input", {}).get("format", "?")
        raise EdgezooError(f"{artifact.onnx_path.name}: input must be {dtype} ({fmt}), got {got}")


class OrtSession:
    """ONNX Runtime on CPU, CUDA or TensorRT; one InferenceSession serves every thread."""

    engine = "onnxruntime"

    def __init__(self, artifact: Artifact, options: SessionOptions) -> None:
        import onnxruntime as ort

        device = _check_device(self.engine, options.device)
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if options.threads:
            so.intra_op_num_threads = options.threads
            so.inter_op_num_threads = 1
        wanted = _ORT_PROVIDERS[device]
        available = ort.get_available_providers()
        missing = [p for p in wanted if p not in available]
        if missing:
            raise EdgezooError(
                f"onnxruntime: device '{device}' needs {missing[0]}, which this onnxruntime build lacks"
                f" (available: {', '.join(available)}); install onnxruntime-gpu with a matching CUDA"
            )
        providers: list[Any] = list(wanted)
        if device == "tensorrt":
            trt = {"trt_fp16_enable": options.precision == "f16", "trt_engine_cache_enable": True}
            trt["trt_engine_cache_path"] = str(artifact.onnx_path.parent / ".trt_cache")
            providers[0] = ("TensorrtExecutionProvider", trt)
        self.artifact = artifact
        try:
            self._session = ort.InferenceSession(str(artifact.onnx_path), so, providers=providers)
        except Exception as exc:  # ORT raises its own exception types for unloadable models
            reason = engine_reason(exc)
            if type(exc).__name__ in _ORT_ENGINE_LIMITS:
                raise EngineRefused(
                    f"{artifact.onnx_path}: onnxruntime cannot run it on this host ({current_host().label}): {reason}",
                    self.engine,
                    reason,
                ) from exc
            raise EdgezooError(f"{artifact.onnx_path}: onnxruntime cannot load it ({reason})") from exc
        # A GPU provider whose libraries fail to load is dropped silently by ORT: refuse instead.
        used = self._session.get_providers()
        if wanted[0] not in used:
            raise EdgezooError(f"onnxruntime: {wanted[0]} failed to initialise (running on {', '.join(used)})")
        self.device = used[0]
        inp = self._session.get_inputs()[0]
        self.input_name = inp.name
        self._dtype = np.dtype(_ORT_DTYPES.get(inp.type, np.float32))

    def run(self, x: np.ndarray) -> np.ndarray:
        _check_input(self.artifact, x, self._dtype)
        return self._session.run(None, {self.input_name: x})[0]


_ORT_DTYPES = {"tensor(float)": np.float32, "tensor(uint8)": np.uint8, "tensor(int8)": np.int8}


class OvSession:
    """OpenVINO on CPU (or GPU/NPU where present); one infer request per calling thread."""

    engine = "openvino"

    def __init__(self, artifact: Artifact, options: SessionOptions) -> None:
        import openvino as ov

        device = _check_device(self.engine, options.device).upper()
        config: dict[str, Any] = {"PERFORMANCE_HINT": options.hint.upper()}
        if options.threads:
            config["INFERENCE_NUM_THREADS"] = options.threads
        if options.precision and options.precision != ENGINE_DEFAULT:
            config["INFERENCE_PRECISION_HINT"] = options.precision
        config.update(options.extra)
        core = ov.Core()
        if device not in core.available_devices:
            raise EdgezooError(
                f"openvino: device {device} is not available (available: {', '.join(core.available_devices)})"
            )
        self.artifact = artifact
        self.compiled = compile_openvino(artifact.onnx_path, device, config, core)
        self.device = device
        self.config = config
        self._dtype = np.dtype(self.compiled.input(0).element_type.to_dtype())
        self._output = self.compiled.output(0)
        self._local = threading.local()

    def run(self, x: np.ndarray) -> np.ndarray:
        _check_input(self.artifact, x, self._dtype)
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        result = request.infer({0: x})
        return np.array(result[self._output])  # a copy: the request reuses its output buffer


class TorchSession:
    """The eager PyTorch reference, rebuilt from the artifact's card (fp32 exports only)."""

    engine = "torch"

    def __init__(self, artifact: Artifact, options: SessionOptions, reparameterize: bool = True) -> None:
        import torch

        from edgezoo.zoo.models import build_model, reparameterized
        from edgezoo.zoo.registry import get_card

        device = _check_device(self.engine, options.device)
        device = "cuda" if device == "gpu" else device
        if device == "cuda" and not torch.cuda.is_available():
            raise EdgezooError(f"torch: device 'cuda' is not available (torch {torch.__version__} sees no CUDA GPU)")
        card = artifact.card
        if card.get("precision") != "fp32" or card["input"].get("format") != "rgb_normalized":
            raise EdgezooError(
                f"{artifact.onnx_path}: the torch engine runs float exports only"
                f" (this one is {card.get('precision')}, input {card['input'].get('format')})"
            )
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
        self.device = device
        self.model.to(self.device)
        self.artifact = artifact

    def run(self, x: np.ndarray) -> np.ndarray:
        import torch

        _check_input(self.artifact, x, np.dtype(np.float32))
        with torch.inference_mode():
            return self.model(torch.from_numpy(x).to(self.device)).float().cpu().numpy()


_SESSIONS = {"onnxruntime": OrtSession, "openvino": OvSession, "torch": TorchSession}


_OV_LOCATION = re.compile(r"^Exception from \S+:\d+:?$")  # OpenVINO's per-frame prefix lines
_OV_PASS = re.compile(r"^\[(\w+)\]")  # "[PassName] END: node: ..." names the graph pass that threw


def engine_reason(exc: BaseException) -> str:
    """The line of an engine's exception that says what went wrong, at most 200 characters.

    OpenVINO nests its message under one "Exception from FILE:LINE:" line per frame and puts the
    reason last (e.g. "Convolution input precision should be single"); the pass that threw, when
    one did, is named in brackets further up and is kept after the reason. ONNX Runtime's messages
    are one line."""
    lines = [line.strip() for line in str(exc).strip().splitlines()]
    lines = [line for line in lines if line and not _OV_LOCATION.match(line)]
    if not lines:
        return type(exc).__name__
    passes = [m.group(1) for m in map(_OV_PASS.match, lines) if m]
    reason = lines[-1]
    if passes and passes[0] not in reason:
        reason = f"{reason} (OpenVINO pass {passes[0]})"
    return reason[:200]


def compile_openvino(path: Path, device: str, config: dict[str, Any], core: Any = None) -> Any:
    """OpenVINO's compiled model of ``path``: a file it cannot read is an :class:`EdgezooError`, a
    graph its plugin refuses on this host an :class:`EngineRefused`, both naming the file."""
    import openvino as ov

    core = core or ov.Core()
    try:
        model = core.read_model(str(path))
    except Exception as exc:
        raise EdgezooError(f"{path}: openvino cannot read it ({engine_reason(exc)})") from exc
    try:
        return core.compile_model(model, device, config)
    except Exception as exc:
        reason = engine_reason(exc)
        raise EngineRefused(
            f"{path}: openvino cannot compile it on this host ({current_host().label}): {reason};"
            " another engine may run it (--engine onnxruntime)",
            "openvino",
            reason,
        ) from exc


# ONNX Runtime's exception types for a valid model it has no kernel or provider for here (the others,
# InvalidProtobuf, NoSuchFile, InvalidGraph..., mean the file itself is bad).
_ORT_ENGINE_LIMITS = ("NotImplemented", "EPFail", "EngineError")


def default_engine(artifact: Artifact) -> str:
    """The engine the artifact's card names, else ONNX Runtime (runs everywhere)."""
    return str(artifact.card.get("engine", "onnxruntime"))


def open_session(artifact: Artifact, engine: str = "auto", options: SessionOptions | None = None) -> Session:
    """A ready-to-run session for ``artifact`` in ``engine`` ("auto": what the card names)."""
    name = default_engine(artifact) if engine == "auto" else engine
    if name not in _SESSIONS:
        raise EdgezooError(f"unknown engine '{name}': choose from auto, {', '.join(ENGINES)}")
    if engine_version(name) is None:
        raise EdgezooError(f"engine '{name}' is not installed (pip install {_DISTRIBUTIONS[name][0]})")
    options = options or SessionOptions()
    if options.precision is None:
        options = replace(options, precision=card_precision(artifact, name))
    return _SESSIONS[name](artifact, options)


def ov_type_name(value: Any) -> str:
    """OpenVINO element types print as "<Type: 'bfloat16'>"; their short name is "bf16"."""
    name = getattr(value, "get_type_name", None)
    return str(name()) if callable(name) else str(value)


def engine_precision(session: Session) -> str | None:
    """The precision the engine says it runs float operations in (OpenVINO reports it)."""
    compiled = getattr(session, "compiled", None)
    if compiled is None:
        return "f32" if session.engine == "torch" else None
    try:
        return ov_type_name(compiled.get_property("INFERENCE_PRECISION_HINT"))
    except Exception:  # a device without the property
        return None


def card_precision(artifact: Artifact, engine: str) -> str | None:
    """The precision hint an int8 card asks of the engine it names (OpenVINO runs an int8 artifact's
    float operators in bf16 by default on some CPUs, which can cost more fidelity than int8 does);
    None for any other engine, or when the card sets none."""
    if engine != default_engine(artifact):
        return None
    return artifact.card.get("precision_hint")


def input_spec(artifact: Artifact) -> tuple[tuple[int, ...], np.dtype]:
    """Concrete input shape (batch 1) and dtype that the artifact's card declares."""
    spec = artifact.card["input"]
    shape = tuple(1 if isinstance(d, str) else int(d) for d in spec["shape"])
    return shape, np.dtype(spec["dtype"])


def has_dynamic_batch(artifact: Artifact) -> bool:
    """Whether the artifact takes any batch size (its card's first input dimension is a name)."""
    return isinstance(artifact.card["input"]["shape"][0], str)


def artifact_path_for(model: str, out_dir: Path, precision: str = "fp32") -> Path:
    """Where the pipeline writes a model's artifact of a given precision."""
    return out_dir / (f"{model}.onnx" if precision == "fp32" else f"{model}.{precision}.onnx")
