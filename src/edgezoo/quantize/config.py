"""Quantization configs: one YAML file per model, families share a base, every key validated.

A config says how a float export becomes an int8 artifact: what input the deployed model takes
(camera frames or float tensors), how it is calibrated, which ops or nodes stay in higher precision
and which quantizer/engine pair produces the fastest faithful model on the CPU. It mirrors what the
seeds' toolchain config (input_type_rt, norm_type, mean/scale, cal_data_type, node int16 pinning)
expresses, in edgezoo's own words.

Inheritance: ``base: NAME`` names another config (a packaged one by name, or a file path relative to
the config that names it). Mappings merge key by key, the child winning; lists and scalars are
replaced. Errors name the file that set the offending key.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from edgezoo.errors import EdgezooError
from edgezoo.host import DEFAULT_MEASURED_ON, ISA_CLASSES, Host, current_host
from edgezoo.runtime.engines import PRECISIONS as PRECISION_HINTS

_PACKAGE = "edgezoo.quantize.configs"
INPUT_TYPES = ("float", "rgb", "bgr", "nv12")
COLOUR_RANGES = ("full", "video")
METHODS = ("minmax", "mse", "entropy", "percentile")
PRECISIONS = ("int8", "int16", "float")
QUANTIZERS = ("onnxruntime", "nncf")
RUNTIMES = ("onnxruntime", "openvino")
ACTIVATIONS = ("uint8", "int8")
MODEL_TYPES = ("cnn", "transformer")
# Where the onnxruntime quantizer's Q->DQ pairs stay: on every quantized node's inputs and outputs
# (what ONNX Runtime's QLinear kernels need), or only on tensors an integer op reads (OpenVINO).
QDQ_PLACEMENTS = ("inputs_and_outputs", "int8_inputs")
WEIGHT_TYPES = ("int8", "uint8")

# The schema: for each section, its keys and a default (None: "not set").
_SCHEMA: dict[str, dict[str, Any]] = {
    "input": {"type": "float", "mean": None, "scale": None, "range": "full"},
    "calibration": {
        "count": 200,
        "method": "minmax",
        "percentile": 99.999,
        "per_channel": True,
        "bias_correction": False,
    },
    # input_layers: the precision of the Conv/Gemm/MatMul nodes that read the model's input (the
    # stem), whatever their names: a generic config cannot name them (graph.resolve_overrides).
    "precision": {"default": "int8", "input_layers": "int8", "op_types": {}, "nodes": {}},
    "engine": {
        "runtime": "onnxruntime",
        "quantizer": "onnxruntime",
        "activations": "uint8",
        "quantize_op_types": None,
        "model_type": "cnn",
        "smooth_quant": True,
        "rewrite_grouped_conv": False,
        "qdq_placement": "inputs_and_outputs",
        "precision_hint": None,
        # Weights in 7 bits (ONNX Runtime's reduce_range; NNCF's overflow fix on every layer):
        # "auto" = where the host lacks int8 dot-product instructions (x86 without VNNI/AMX), whose
        # u8 x s8 multiply sums pairs in 16 bits that saturate (docs/tune.md).
        "reduce_range": "auto",
        # Weight type: int8 (symmetric, what every engine's fast kernels take) or uint8 (asymmetric,
        # with zero points; ONNX Runtime's quantizer and runtime only). ONNX Runtime multiplies
        # u8 x u8 in 16-bit lanes summed into 32 bits, which cannot saturate: on x86 without VNNI
        # that keeps all 8 bits where int8 weights need 7 (docs/tune.md, "uint8 weights").
        "weights": "int8",
    },
}
# ``measured_on: {isa: ..., cpu: ...}``: the host the config's choices were timed on (host.py's ISA
# classes). Optional; unset means DEFAULT_MEASURED_ON (the Zen 4 hosts every shipped choice was
# measured on before 2026-12-02). Inherited from the base like any section.
# ``confirmed_on: [{isa: ..., cpu: ...}, ...]``: hosts of other ISA classes where `edgezoo tune`, given
# this config as its shipped candidate, kept it (nothing faster beyond timing noise held the bar).
# `edgezoo run` uses the config as shipped on those classes too instead of tuning. Optional; a
# list, so a child's replaces its base's.
_TOP_KEYS = {"base", "description", "measured_on", "confirmed_on", *_SCHEMA}


@dataclass(frozen=True)
class QuantConfig:
    """A resolved, validated config; ``data`` is the merged mapping written into the artifact card."""

    data: dict[str, Any]
    source: str  # the file it was read from ("configs/NAME.yaml" for packaged ones)
    chain: tuple[str, ...]  # that file and its bases, child first

    @property
    def input(self) -> dict[str, Any]:
        return self.data["input"]

    @property
    def calibration(self) -> dict[str, Any]:
        return self.data["calibration"]

    @property
    def precision(self) -> dict[str, Any]:
        return self.data["precision"]

    @property
    def engine(self) -> dict[str, Any]:
        return self.data["engine"]

    def overrides(self) -> dict[str, dict[str, str]]:
        """Higher-precision overrides: ``{"op_types": {...}, "nodes": {...}}`` (int8 entries dropped)."""
        return {kind: {k: v for k, v in self.precision[kind].items() if v != "int8"} for kind in ("op_types", "nodes")}

    @property
    def measured_on(self) -> dict[str, Any]:
        """The host the config's choices were measured on: ``{"isa": ..., "cpu": ...}``."""
        return dict(self.data.get("measured_on") or DEFAULT_MEASURED_ON)

    @property
    def confirmed_on(self) -> list[dict[str, Any]]:
        """Hosts of other ISA classes where tune kept this config: ``[{"isa": ..., "cpu": ...}]``."""
        return [dict(entry) for entry in self.data.get("confirmed_on") or []]

    @property
    def isa_classes(self) -> tuple[str, ...]:
        """The ISA classes this config's choices hold on as shipped: where they were timed, then
        where tune confirmed them (``edgezoo run`` tunes on any other)."""
        isas = [self.measured_on["isa"], *(entry["isa"] for entry in self.confirmed_on)]
        return tuple(dict.fromkeys(isas))

    def reduce_range(self, host: Host | None = None) -> bool:
        """Whether weights are quantized to 7 bits on ``host`` (``engine.reduce_range``, "auto": int8
        weights where the host has no int8 dot-product instructions; uint8 weights never saturate)."""
        value = self.engine["reduce_range"]
        if value == "auto":
            return self.engine["weights"] == "int8" and not (host or current_host()).int8_dot_product
        return bool(value)

    def with_node_overrides(self, nodes: Mapping[str, str]) -> QuantConfig:
        """A copy with more node overrides (what ``--auto`` adds)."""
        data = copy.deepcopy(self.data)
        data["precision"]["nodes"].update(nodes)
        return QuantConfig(data, self.source, self.chain)


def packaged_configs() -> list[str]:
    """Names of the configs shipped with edgezoo."""
    folder = resources.files(_PACKAGE)
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _read(ref: str, relative_to: Path | None) -> tuple[str, dict[str, Any], Path | None]:
    """Read one config file: a path (relative to the naming file) or a packaged config's name."""
    candidate = Path(ref) if relative_to is None else relative_to.parent / ref
    if ref.endswith((".yaml", ".yml")) or candidate.is_file():
        label, path = str(candidate), candidate
        if not candidate.is_file():
            raise EdgezooError(f"{candidate}: config file not found")
        try:
            text = candidate.read_text(encoding="utf-8")
        except OSError as exc:
            raise EdgezooError(f"{candidate}: cannot read config ({exc.strerror or exc})") from exc
    else:
        label, path = f"configs/{ref}.yaml", None
        resource = resources.files(_PACKAGE).joinpath(f"{ref}.yaml")
        if not resource.is_file():
            raise EdgezooError(f"no config named '{ref}' (packaged: {', '.join(packaged_configs())})")
        text = resource.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise EdgezooError(f"{label}: not valid YAML ({' '.join(str(exc).split())})") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise EdgezooError(f"{label}: a config must be a mapping of sections, got {type(data).__name__}")
    return label, data, path


def _check_keys(label: str, data: dict[str, Any]) -> None:
    """Unknown sections and keys are errors: a typo must not silently fall back to a default."""
    for key, value in data.items():
        if key not in _TOP_KEYS:
            raise EdgezooError(f"{label}: unknown key '{key}' (expected {', '.join(sorted(_TOP_KEYS))})")
        if key in _SCHEMA:
            if not isinstance(value, dict):
                raise EdgezooError(f"{label}: '{key}' must be a mapping")
            for sub in value:
                if sub not in _SCHEMA[key]:
                    allowed = ", ".join(_SCHEMA[key])
                    raise EdgezooError(f"{label}: unknown key '{key}.{sub}' (expected one of {allowed})")


def _merge(base: dict[str, Any], child: dict[str, Any], origin: dict[str, str], label: str) -> None:
    for section, values in child.items():
        if section == "base":
            continue
        if section not in _SCHEMA:
            base[section] = values
            origin[section] = label
            continue
        for key, value in values.items():
            if key in ("op_types", "nodes") and isinstance(value, dict) and isinstance(base[section][key], dict):
                base[section][key] = {**base[section][key], **value}
            else:
                base[section][key] = copy.deepcopy(value)
            origin[f"{section}.{key}"] = label


def load_config(ref: str | Path) -> QuantConfig:
    """Load a config by packaged name or path, resolve its ``base:`` chain and validate it.

    An RDK toolchain YAML (``hb_mapper makertbin --config``: it has ``model_parameters`` or
    ``input_parameters``) is translated by :mod:`edgezoo.quantize.rdk_yaml`.
    """
    chain: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()
    label, data, path = _read(str(ref), None)
    from edgezoo.quantize import rdk_yaml  # imports this module: loaded on use, not at import

    if rdk_yaml.is_rdk_yaml(data):
        return rdk_yaml.from_rdk(data, label)
    while True:
        if label in seen:
            raise EdgezooError(f"{label}: 'base' chain loops back to this file")
        seen.add(label)
        _check_keys(label, data)
        chain.append((label, data))
        parent = data.get("base")
        if parent is None:
            break
        if not isinstance(parent, str) or not parent:
            raise EdgezooError(f"{label}: 'base' must name a config")
        label, data, path = _read(parent, path)
    merged = default_data()
    origin: dict[str, str] = {}
    for label, data in reversed(chain):
        _merge(merged, data, origin, label)
    _validate(merged, origin, chain[0][0])
    return QuantConfig(merged, chain[0][0], tuple(lbl for lbl, _ in chain))


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------


def _fail(origin: dict[str, str], key: str, default_label: str, problem: str) -> EdgezooError:
    return EdgezooError(f"{origin.get(key, default_label)}: {key}: {problem}")


def _choice(cfg: dict[str, Any], origin: dict[str, str], label: str, key: str, choices: tuple[str, ...]) -> None:
    section, name = key.split(".")
    value = cfg[section][name]
    if value not in choices:
        raise _fail(origin, key, label, f"{value!r} is not one of {', '.join(choices)}")


def _triple(cfg: dict[str, Any], origin: dict[str, str], label: str, key: str, positive: bool) -> None:
    section, name = key.split(".")
    value = cfg[section][name]
    if value is None:
        return
    ok = isinstance(value, list) and len(value) == 3
    ok = ok and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    if not ok:
        raise _fail(origin, key, label, f"expected three numbers (one per channel), got {value!r}")
    if positive and any(v <= 0 for v in value):
        raise _fail(origin, key, label, f"every value must be positive, got {value!r}")
    cfg[section][name] = [float(v) for v in value]


def default_data() -> dict[str, Any]:
    """Every section with its defaults: the mapping a config's files are merged into."""
    return {section: copy.deepcopy(keys) for section, keys in _SCHEMA.items()}


def validate(data: dict[str, Any], label: str) -> None:
    """Check a complete config mapping (normalising mean/scale to floats); errors name ``label``."""
    _validate(data, {}, label)


def _is_host_entry(entry: Any) -> bool:
    """A ``measured_on`` / ``confirmed_on`` entry: ``{isa: <an ISA class>, cpu: <text>}`` (cpu optional)."""
    return isinstance(entry, dict) and not set(entry) - {"isa", "cpu"} and entry.get("isa") in ISA_CLASSES


def _validate(cfg: dict[str, Any], origin: dict[str, str], label: str) -> None:
    for key, choices in (
        ("input.type", INPUT_TYPES),
        ("input.range", COLOUR_RANGES),
        ("calibration.method", METHODS),
        ("precision.default", ("int8", "int16")),
        ("precision.input_layers", ("int8", "float")),
        ("engine.runtime", RUNTIMES),
        ("engine.quantizer", QUANTIZERS),
        ("engine.activations", ACTIVATIONS),
        ("engine.model_type", MODEL_TYPES),
        ("engine.qdq_placement", QDQ_PLACEMENTS),
    ):
        _choice(cfg, origin, label, key, choices)
    _triple(cfg, origin, label, "input.mean", positive=False)
    _triple(cfg, origin, label, "input.scale", positive=True)
    count = cfg["calibration"]["count"]
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise _fail(origin, "calibration.count", label, f"must be a positive integer, got {count!r}")
    pct = cfg["calibration"]["percentile"]
    if not isinstance(pct, int | float) or isinstance(pct, bool) or not 50.0 < pct <= 100.0:
        raise _fail(origin, "calibration.percentile", label, f"must be a number in (50, 100], got {pct!r}")
    bool_keys = ("calibration.per_channel", "calibration.bias_correction", "engine.rewrite_grouped_conv")
    for key in (*bool_keys, "engine.smooth_quant"):
        section, name = key.split(".")
        if not isinstance(cfg[section][name], bool):
            raise _fail(origin, key, label, f"must be true or false, got {cfg[section][name]!r}")
    ops = cfg["engine"]["quantize_op_types"]
    if ops is not None and not (isinstance(ops, list) and ops and all(isinstance(o, str) and o for o in ops)):
        raise _fail(origin, "engine.quantize_op_types", label, f"must be a list of ONNX op types, got {ops!r}")
    for kind in ("op_types", "nodes"):
        key = f"precision.{kind}"
        table = cfg["precision"][kind]
        if not isinstance(table, dict):
            raise _fail(origin, key, label, "must be a mapping of name: int8|int16|float")
        for name, value in table.items():
            if value not in PRECISIONS:
                raise _fail(origin, key, label, f"{name}: {value!r} is not one of {', '.join(PRECISIONS)}")
            if value == "int16" and cfg["engine"]["quantizer"] == "nncf":
                raise _fail(origin, key, label, f"{name}: int16 needs engine.quantizer onnxruntime (NNCF: float)")
    if cfg["precision"]["default"] == "int16":
        # Every activation in 16 bits, weights int8: the RDK toolchain's set_all_nodes_int16. Only
        # ONNX Runtime's quantizer has 16-bit activations, and lowering single nodes back to int8 is
        # not supported (TensorQuantOverrides would have to split shared tensors).
        if cfg["engine"]["quantizer"] != "onnxruntime":
            raise _fail(origin, "precision.default", label, "int16 needs engine.quantizer onnxruntime")
        low = [f"{k}.{n}" for k in ("op_types", "nodes") for n, v in cfg["precision"][k].items() if v == "int8"]
        if low:
            raise _fail(origin, "precision.default", label, f"int16 with int8 overrides is not supported ({low[0]})")
    if cfg["engine"]["qdq_placement"] != "inputs_and_outputs" and (
        cfg["engine"]["quantizer"] != "onnxruntime" or cfg["engine"]["runtime"] != "openvino"
    ):
        raise _fail(
            origin,
            "engine.qdq_placement",
            label,
            "int8_inputs is for the onnxruntime quantizer with the openvino runtime"
            " (ONNX Runtime's integer kernels need quantized outputs; NNCF places its own)",
        )
    # engine.precision_hint: OpenVINO's INFERENCE_PRECISION_HINT for the operators an int8 artifact
    # leaves in float. Unset, the engine picks (bf16 on CPUs with AVX-512 BF16 or AMX), which can cost
    # more fidelity than int8 does.
    hint = cfg["engine"]["precision_hint"]
    if hint is not None and hint not in PRECISION_HINTS:
        raise _fail(origin, "engine.precision_hint", label, f"{hint!r} is not one of {', '.join(PRECISION_HINTS)}")
    if hint is not None and cfg["engine"]["runtime"] != "openvino":
        raise _fail(origin, "engine.precision_hint", label, "is an OpenVINO setting: it needs engine.runtime openvino")
    weights = cfg["engine"]["weights"]
    if weights not in WEIGHT_TYPES:
        raise _fail(origin, "engine.weights", label, f"{weights!r} is not one of {', '.join(WEIGHT_TYPES)}")
    if weights != "int8" and (cfg["engine"]["quantizer"], cfg["engine"]["runtime"]) != ("onnxruntime",) * 2:
        # OpenVINO dequantizes uint8 weights and runs those convolutions in f32 (lite0: all 50 of
        # them, against 42 of 50 in u8 with int8 weights), and NNCF makes int8 weights only.
        raise _fail(origin, "engine.weights", label, f"{weights} needs engine.quantizer and engine.runtime onnxruntime")
    reduce = cfg["engine"]["reduce_range"]
    if reduce not in ("auto", True, False) or (isinstance(reduce, int) and not isinstance(reduce, bool)):
        raise _fail(origin, "engine.reduce_range", label, f"must be auto, true or false, got {reduce!r}")
    measured, confirmed = cfg.get("measured_on"), cfg.get("confirmed_on")
    shape = f"{{isa: one of {', '.join(ISA_CLASSES)}, cpu: text}}"
    if measured is not None and not _is_host_entry(measured):
        raise _fail(origin, "measured_on", label, f"expected {shape}, got {measured!r}")
    if confirmed is not None and not (isinstance(confirmed, list) and all(map(_is_host_entry, confirmed))):
        raise _fail(origin, "confirmed_on", label, f"expected a list of {shape}, got {confirmed!r}")
    if cfg["engine"]["quantizer"] == "nncf" and cfg["calibration"]["bias_correction"]:
        raise _fail(
            origin, "calibration.bias_correction", label, "the nncf quantizer corrects biases itself: set it false"
        )
    if cfg["engine"]["quantizer"] == "nncf" and cfg["calibration"]["method"] != "minmax":
        raise _fail(
            origin, "calibration.method", label, "the nncf quantizer chooses its own ranges: use minmax with it"
        )


def derive(config: QuantConfig, changes: Mapping[str, Any], label: str) -> QuantConfig:
    """``config`` with ``changes`` (``{"engine": {"runtime": "onnxruntime"}, ...}``) merged in and
    validated as a file would be: what ``edgezoo tune`` builds its candidate recipes from."""
    data = copy.deepcopy(config.data)
    origin: dict[str, str] = {}
    _check_keys(label, {k: v for k, v in changes.items()})
    _merge(data, dict(changes), origin, label)
    _validate(data, origin, label)
    return QuantConfig(data, label, (label, *config.chain))


def to_yaml(config: QuantConfig, header: str = "") -> str:
    """The resolved config as a self-contained file (no ``base:``) that :func:`load_config` reads back."""
    body = yaml.safe_dump(config.data, sort_keys=False, default_flow_style=None, width=110)
    comments = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return comments + body
