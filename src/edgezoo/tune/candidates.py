"""The int8 recipes ``edgezoo tune`` tries for one model on one host.

Every candidate is the shipped config with one choice changed, because each choice in the shipped
configs was measured on one ISA (their ``measured_on``) and each one's gain depends on the kernels a
host has: which quantizer places the Q/DQ pairs (ORT's QDQ or NNCF), where they stay (only before
integer ops, for OpenVINO's post-op fusion, or around every quantized op), which op types are int8,
the precision OpenVINO runs the float leftovers in (only where its default is bf16 or ARM's f16),
the engine, uint8 weights (x86 without VNNI), and the layers ``quantize --auto`` would keep in
float. The shipped config itself is always the first candidate, so the chosen recipe is never
slower than it on the host it was measured on.

Candidates are listed in the order they are tried when the time budget runs short: those most
likely to change the result on a new host first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgezoo.host import Host
from edgezoo.quantize.config import QuantConfig, derive
from edgezoo.quantize.graph import FOLDED_ACTIVATIONS

SHIPPED = "shipped"
AUTO = "auto-float-layers"
# ORT's quantizer limited to the ops that compute in integer (+ the activations it folds): the
# FastViT recipe (fastvit_base.yaml).
INTEGER_OPS = ["Conv", "MatMul", "Gemm", *FOLDED_ACTIVATIONS]


@dataclass(frozen=True)
class Recipe:
    """One candidate: a name for the table, what it changes, and the config (None: built by ``--auto``)."""

    name: str
    change: str
    config: QuantConfig | None
    # False: measured and shown for comparison, never chosen. For a variant that runs the same
    # kernels as the shipped config, any speed gain is timing noise, so only its fidelity means something.
    choosable: bool = True


def _variant(
    base: QuantConfig, name: str, change: str, changes: dict[str, Any], *, choosable: bool = True
) -> Recipe | None:
    try:
        return Recipe(name, change, derive(base, changes, f"tune:{name}"), choosable)
    except Exception:  # a combination the config rules refuse (e.g. int16 overrides with NNCF)
        return None


def candidates(shipped: QuantConfig, host: Host) -> list[Recipe]:
    """The shipped config first, then single-choice variants of it, without duplicates."""
    eng = shipped.engine
    ov = eng["runtime"] == "openvino"
    found: list[Recipe | None] = [Recipe(SHIPPED, f"as shipped ({shipped.source})", shipped)]
    if eng["quantizer"] == "onnxruntime":
        if ov:
            other = "inputs_and_outputs" if eng["qdq_placement"] == "int8_inputs" else "int8_inputs"
            found.append(
                _variant(
                    shipped,
                    f"placement-{other}",
                    f"engine.qdq_placement: {other}",
                    {"engine": {"qdq_placement": other}},
                )
            )
        found.append(
            _variant(
                shipped,
                "nncf",
                "engine.quantizer: nncf (OpenVINO)",
                {
                    "engine": {"quantizer": "nncf", "runtime": "openvino", "qdq_placement": "inputs_and_outputs"},
                    "calibration": {"method": "minmax", "bias_correction": False},
                },
            )
        )
        ops = None if eng["quantize_op_types"] else INTEGER_OPS
        found.append(
            _variant(
                shipped,
                "all-ops-int8" if ops is None else "conv-matmul-int8",
                f"engine.quantize_op_types: {ops or 'all'}",
                {"engine": {"quantize_op_types": ops}},
            )
        )
    else:
        found.append(
            _variant(
                shipped,
                "ort-qdq",
                "engine.quantizer: onnxruntime, Q/DQ only before integer ops",
                {
                    "engine": {
                        "quantizer": "onnxruntime",
                        "qdq_placement": "int8_inputs",
                        "quantize_op_types": INTEGER_OPS,
                    }
                },
            )
        )
        other_type = "cnn" if eng["model_type"] == "transformer" else "transformer"
        found.append(
            _variant(
                shipped,
                f"nncf-{other_type}",
                f"engine.model_type: {other_type}",
                {"engine": {"model_type": other_type}},
            )
        )
    low = "bf16" if host.bf16 else "f16" if host.float16 else None  # OpenVINO's default float precision here
    if ov and low:  # elsewhere both hints run f32: nothing to choose
        hint = None if eng["precision_hint"] == "f32" else "f32"
        found.append(
            _variant(
                shipped,
                f"float-leftovers-{hint or 'default'}",
                f"engine.precision_hint: {hint or f'unset ({low} here)'}",
                {"engine": {"precision_hint": hint}},
            )
        )
    if eng["quantizer"] == "onnxruntime":
        runtime = "onnxruntime" if ov else "openvino"
        found.append(
            _variant(
                shipped,
                f"engine-{runtime}",
                f"engine.runtime: {runtime}",
                {"engine": {"runtime": runtime, "qdq_placement": "inputs_and_outputs", "precision_hint": None}},
            )
        )
    floats = {n: "int8" for n, v in shipped.precision["nodes"].items() if v != "int8"}
    if floats:
        # The shipped config's float layers back to int8 (op-type overrides such as Softmax kept).
        # OpenVINO's ARM plugin refuses lite0's graph with them and compiles it without
        # (docs/tune.md, "ARM hosts"); where int8 kernels are fast it can also be the quicker recipe.
        found.append(
            _variant(
                shipped,
                "no-float-layers",
                f"precision.nodes: the {len(floats)} float layers back to int8",
                {"precision": {"nodes": floats}},
            )
        )
    if host.is_x86 and not host.int8_dot_product and eng["quantizer"] == "onnxruntime":
        # Without VNNI, int8 weights lose a bit to avoid 16-bit saturation; ONNX Runtime's u8 x u8
        # kernels widen to 16 bits before multiplying, so uint8 weights keep all 8 (docs/tune.md,
        # "uint8 weights"). On a real Zen 3 they were slower (lite0 4.3x-6.8x, fastvit_t8 up to 1.22x the
        # 7-bit ONNX Runtime candidate): kept as the faithful fallback where no faster recipe holds the bar.
        found.append(
            _variant(
                shipped,
                "uint8-weights",
                "engine.weights: uint8, in onnxruntime (8 bits that cannot saturate)",
                {
                    "engine": {
                        "weights": "uint8",
                        "runtime": "onnxruntime",
                        "qdq_placement": "inputs_and_outputs",
                        "precision_hint": None,
                    }
                },
            )
        )
    found.append(Recipe(AUTO, "shipped + the worst layers in float (what quantize --auto raises first)", None))
    if not host.int8_dot_product and shipped.reduce_range(host):
        # Shows what 8-bit weights cost where the int8 arithmetic saturates. Never chosen: the same
        # kernels as the 7-bit shipped file, so a gain is noise. On a Zen 3, tune once picked it for
        # mobilenetv2_100 at "1.14x" (cosine 0.9981 -> 0.9961); an A/B of 20 interleaved rounds then
        # gave 10.28/10.31 ms shipped against 10.63 ms (docs/tune.md, "Confirmed on avx2").
        found.append(
            _variant(
                shipped,
                "8-bit-weights",
                "engine.reduce_range: false (no VNNI here; same kernels as shipped: shown, never chosen)",
                {"engine": {"reduce_range": False}},
                choosable=False,
            )
        )
    unique: list[Recipe] = []
    seen: list[dict[str, Any]] = []
    for recipe in found:
        if recipe is None:
            continue
        data = None if recipe.config is None else {k: v for k, v in recipe.config.data.items() if k != "description"}
        if data is not None and data in seen:
            continue
        if data is not None:
            seen.append(data)
        unique.append(recipe)
    return unique
